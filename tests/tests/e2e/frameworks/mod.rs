//! The two example services built by `Guard::builder` from two URLs,
//! `examples/axum-service` (axum) and `examples/reports-service`
//! (actix-web), behind the real stack: a person signs in to each in both
//! delivery modes, and a sign-out at the login service reaches it through
//! the revocation feed, which the builder turns on by default.

use handoff_guard::{login_service::parent_domain_name, HOST_ONLY_NAME};
use integration_tests::app::{SecondApp, TestDelivery, TestOptions, PARENT_DOMAIN};
use integration_tests::{Landing, TestApp};

const ALICE: &str = "alice@example.com";

async fn signed_into_and_hears_of_the_sign_out(
    kind: SecondApp,
    delivery: TestDelivery,
    greeting: &str,
) {
    let app = TestApp::spawn_with(TestOptions {
        delivery,
        second_app: true,
        second_app_kind: kind,
        ..TestOptions::default()
    })
    .await;
    let signed_in = app
        .signing_in(ALICE)
        .starting_at(app.other_app("/"))
        .landing(Landing::Ok)
        .run()
        .await;
    let last = signed_in.last();
    assert!(last.body.contains(greeting), "{}", last.body);
    let browser = &signed_in.browser;
    // Not signed in, an API client gets 401 with the login URL, not a redirect.
    let anonymous = app.browser().get_json(&app.other_app("/api/me")).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert!(anonymous.headers.contains_key("www-authenticate"));
    assert!(anonymous.body.contains("login_url"), "{}", anonymous.body);

    let me = browser.get_json(&app.other_app("/api/me")).await;
    assert_eq!(me.status, 200, "{}", me.body);
    let json: serde_json::Value = serde_json::from_str(&me.body).unwrap();
    assert_eq!(json["email"], ALICE);

    // A copy of the app's cookie, as a thief would hold it.
    let (name, domain, host_only) = match delivery {
        TestDelivery::Code => (
            HOST_ONLY_NAME.to_owned(),
            integration_tests::app::OTHER_APP_HOST,
            true,
        ),
        TestDelivery::SharedCookie => (
            parent_domain_name(&app.other_app_audience()),
            PARENT_DOMAIN,
            false,
        ),
    };
    let token = browser
        .cookie(&name)
        .expect("the app's handoff cookie")
        .value;
    let copy = app.browser();
    copy.put_cookie(&name, &token, domain, host_only);
    assert_eq!(copy.get_json(&app.other_app("/api/me")).await.status, 200);

    let out = browser
        .post_form(
            &app.auth("/logout"),
            &[("return_to", app.other_app("/").as_str())],
            &[("origin", &app.other_app_audience())],
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(
        app.refuses_within_polls(&copy, &app.other_app("/api/me"), 4)
            .await,
        "the axum app still took a signed-out session's token"
    );
}

const AXUM: &str = "Hello alice@example.com, from an axum service";
const ACTIX: &str = "Quarterly report for alice@example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_axum_service_is_signed_into_with_code_delivery() {
    signed_into_and_hears_of_the_sign_out(SecondApp::Axum, TestDelivery::Code, AXUM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_axum_service_is_signed_into_with_cookie_delivery() {
    signed_into_and_hears_of_the_sign_out(SecondApp::Axum, TestDelivery::SharedCookie, AXUM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actix_service_built_by_the_guard_is_signed_into_with_code_delivery() {
    signed_into_and_hears_of_the_sign_out(SecondApp::ReportsOnActix, TestDelivery::Code, ACTIX)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actix_service_built_by_the_guard_is_signed_into_with_cookie_delivery() {
    signed_into_and_hears_of_the_sign_out(
        SecondApp::ReportsOnActix,
        TestDelivery::SharedCookie,
        ACTIX,
    )
    .await;
}

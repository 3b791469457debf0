//! `handoff-gate` in front of an app that only echoes the headers it
//! received, behind the real stack (the mock provider, the public login
//! service): a person is signed in through the gate in both delivery
//! modes, the app receives the verified identity and a handoff token that
//! verifies with the login service's published keys, a client's own
//! identity headers never reach it, and a sign-out reaches the gate
//! through the revocation feed. A Chrome extension's ID token passes for
//! its OAuth client only, with CORS for its origin only.

use handoff_guard::{login_service::parent_domain_name, HOST_ONLY_NAME};
use handoff_guard::{Audience, HandoffVerifier, Issuer, RemoteJwksOptions};
use integration_tests::app::{
    SecondApp, TestDelivery, TestOptions, EXTENSION_CLIENT_ID, EXTENSION_ORIGIN, OTHER_APP_ACCOUNT,
    OTHER_APP_HOST, PARENT_DOMAIN, TASKS_ACCOUNT, UNLISTED_EXTENSION_CLIENT_ID,
};
use integration_tests::browser::Page;
use integration_tests::{Landing, TestApp};
use mock_provider::MockUser;
use url::Url;

const ALICE: &str = "alice@example.com";

async fn gate_app(delivery: TestDelivery) -> TestApp {
    TestApp::spawn_with(TestOptions {
        delivery,
        second_app: true,
        second_app_kind: SecondApp::Gate,
        ..TestOptions::default()
    })
    .await
}

/// The values of `name` the upstream received, from its echo.
fn received(page: &Page, name: &str) -> Vec<String> {
    let echo: serde_json::Value = serde_json::from_str(&page.body)
        .unwrap_or_else(|_| panic!("not the upstream's echo: {} {}", page.status, page.body));
    echo["headers"][name]
        .as_array()
        .map(|values| {
            values
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The app's handoff cookie: its name, and where a copy of it is put.
fn app_cookie(app: &TestApp, delivery: TestDelivery) -> (String, &'static str, bool) {
    match delivery {
        TestDelivery::Code => (HOST_ONLY_NAME.to_owned(), OTHER_APP_HOST, true),
        TestDelivery::SharedCookie => (
            parent_domain_name(&app.other_app_audience()),
            PARENT_DOMAIN,
            false,
        ),
    }
}

async fn signed_in_through_the_gate_and_out(delivery: TestDelivery) {
    let app = gate_app(delivery).await;

    // Anonymous: a page request is sent to sign in, and nothing reaches
    // the app.
    let anonymous = app.browser().get(&app.other_app("/reports?q=1")).await;
    assert!(
        anonymous.is_redirect(),
        "{} {}",
        anonymous.status,
        anonymous.body
    );
    // To the login service (its silent renewal first, which goes on to
    // the sign-in), back to the page asked for; with codes, bound to this
    // browser.
    let to = anonymous.location().unwrap();
    assert_eq!(to.origin(), app.auth_url.origin(), "{to}");
    assert_eq!(to.path(), "/renew", "{to}");
    let query: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
    assert_eq!(
        query.get("return_to").map(String::as_str),
        Some(app.other_app("/reports?q=1").as_str())
    );
    assert_eq!(
        query.contains_key("binding"),
        delivery == TestDelivery::Code,
        "{to}"
    );

    // Signed in through the provider and the login service, the browser
    // ends on the page it asked for, answered by the app behind the gate.
    let signed_in = app
        .signing_in(ALICE)
        .starting_at(app.other_app("/reports?q=1"))
        .landing(Landing::Ok)
        .run()
        .await;
    let (browser, page) = (&signed_in.browser, signed_in.last());
    let echo: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(echo["path"], "/reports?q=1");
    assert_eq!(received(page, "x-forwarded-email"), [ALICE]);
    let subject = MockUser::new(ALICE).sub;
    assert_eq!(received(page, "x-forwarded-user"), [subject.as_str()]);

    // The assertion is the browser's handoff token, and it verifies with
    // the keys the login service publishes, for this app's audience.
    let (cookie, domain, host_only) = app_cookie(&app, delivery);
    let token = browser
        .cookie(&cookie)
        .expect("the app's handoff cookie")
        .value;
    assert_eq!(received(page, "x-handoff-assertion"), [token.as_str()]);
    let jwks = Url::parse(&format!("http://{}/.well-known/jwks.json", app.auth_addr)).unwrap();
    let verifier = HandoffVerifier::remote(
        Issuer::new(app.issuer()),
        Audience::new(app.other_app_audience()),
        jwks,
        RemoteJwksOptions::default(),
    );
    let claims = verifier
        .verify(&token)
        .await
        .expect("the assertion verifies with the login service's keys");
    assert_eq!(claims.email, ALICE);
    assert_eq!(claims.sub.as_str(), subject);

    // Identity headers the client sends itself never reach the app: a
    // signed-in client's are replaced by the gate's, and an anonymous
    // client sending them is still anonymous.
    let forged = [
        ("accept", "application/json"),
        ("x-forwarded-email", "mallory@example.com"),
        ("X-Forwarded-User", "mallory"),
        ("x-handoff-assertion", "forged"),
        // Names the gate does not set but an app may read (oauth2-proxy's
        // other convention, IAP's): removed all the same.
        ("X-Auth-Request-Email", "mallory@example.com"),
        (
            "x-goog-authenticated-user-email",
            "accounts.google.com:mallory@example.com",
        ),
    ];
    let replaced = browser.request(&app.other_app("/api/me"), &forged).await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(received(&replaced, "x-forwarded-email"), [ALICE]);
    assert_eq!(received(&replaced, "x-forwarded-user"), [subject.as_str()]);
    assert_eq!(received(&replaced, "x-handoff-assertion"), [token.as_str()]);
    for name in ["x-auth-request-email", "x-goog-authenticated-user-email"] {
        assert!(
            received(&replaced, name).is_empty(),
            "{name} reached the app"
        );
    }
    let stranger = app
        .browser()
        .request(&app.other_app("/api/me"), &forged)
        .await;
    assert_eq!(stranger.status, 401, "{}", stranger.body);
    assert!(stranger.body.contains("login_url"), "{}", stranger.body);

    // A copy of the app's cookie, as a thief would hold it, works until
    // the sign-out.
    let copy = app.browser();
    copy.put_cookie(&cookie, &token, domain, host_only);
    assert_eq!(copy.get_json(&app.other_app("/api/me")).await.status, 200);

    let out = match delivery {
        // Separate sites: the app's own sign-out button, served by the
        // gate, ends the session server to server.
        TestDelivery::Code => {
            let out = browser
                .post_form(
                    &app.other_app("/auth/logout"),
                    &[],
                    &[("origin", &app.other_app_audience())],
                )
                .await;
            assert!(
                browser.cookie(&cookie).is_none(),
                "the gate kept its cookie"
            );
            out
        }
        TestDelivery::SharedCookie => {
            browser
                .post_form(
                    &app.auth("/logout"),
                    &[("return_to", app.other_app("/").as_str())],
                    &[("origin", &app.other_app_audience())],
                )
                .await
        }
    };
    assert!(
        out.status.is_success() || out.is_redirect(),
        "{} {}",
        out.status,
        out.body
    );
    assert!(
        app.refuses_within_polls(&copy, &app.other_app("/api/me"), 4)
            .await,
        "the gate still took a signed-out session's token"
    );
    // And a page request with it is sent to sign in again.
    let again = copy.get(&app.other_app("/reports")).await;
    assert!(again.is_redirect(), "{} {}", again.status, again.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_is_signed_in_through_the_gate_with_code_delivery() {
    signed_in_through_the_gate_and_out(TestDelivery::Code).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_is_signed_in_through_the_gate_with_cookie_delivery() {
    signed_in_through_the_gate_and_out(TestDelivery::SharedCookie).await;
}

/// A service account on the gate's list (Cloud Tasks, say) passes with
/// its ID token for the gate's URL: the app receives its e-mail and
/// subject, no assertion (its credential is not a handoff token), and the
/// `Authorization` header as sent. An account not on the list does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_service_account_passes_the_gate_with_its_id_token() {
    let app = gate_app(TestDelivery::SharedCookie).await;
    let (listed, bearer) = call_as(&app, TASKS_ACCOUNT).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(received(&listed, "x-forwarded-email"), [TASKS_ACCOUNT]);
    assert_eq!(
        received(&listed, "x-forwarded-user"),
        [MockUser::new(TASKS_ACCOUNT).sub]
    );
    assert!(received(&listed, "x-handoff-assertion").is_empty());
    assert_eq!(received(&listed, "authorization"), [bearer]);

    let (unlisted, _) = call_as(&app, OTHER_APP_ACCOUNT).await;
    assert!(
        [401, 403].contains(&unlisted.status.as_u16()),
        "{} {}",
        unlisted.status,
        unlisted.body
    );
}

/// A request to the gate as `account`, with its ID token for the gate's
/// URL and a forged e-mail header; the answer and the `Authorization`
/// header sent.
async fn call_as(app: &TestApp, account: &str) -> (Page, String) {
    let token = app
        .provider
        .mint_service_account_token(account, &app.other_app_audience());
    let bearer = format!("Bearer {token}");
    let page = app
        .browser()
        .request(
            &app.other_app("/tasks/run"),
            &[
                ("accept", "application/json"),
                ("authorization", bearer.as_str()),
                ("x-forwarded-email", "mallory@example.com"),
            ],
        )
        .await;
    (page, bearer)
}

/// A Chrome extension's person: a Google ID token for the extension's
/// OAuth client (`ID_TOKEN_AUDIENCES`) passes the gate, and the app
/// receives the person's verified e-mail and subject (no assertion: the
/// credential is Google's, not a handoff token). Refused: a token for
/// another client, one for the gate's URL (a service audience), a person
/// the access policy does not admit, an unverified address. The
/// extension's origin may read the answers (CORS); another may not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chrome_extension_s_id_token_passes_the_gate_for_its_client_only() {
    let app = gate_app(TestDelivery::Code).await;
    let alice = MockUser::new(ALICE);
    let call = |token: String, origin: &'static str| {
        let app = &app;
        async move {
            let bearer = format!("Bearer {token}");
            app.browser()
                .request(
                    &app.other_app("/api/me"),
                    &[
                        ("accept", "application/json"),
                        ("authorization", bearer.as_str()),
                        ("origin", origin),
                        ("x-forwarded-email", "mallory@example.com"),
                    ],
                )
                .await
        }
    };

    let token = app.provider.mint_id_token(&alice, EXTENSION_CLIENT_ID);
    let page = call(token.clone(), EXTENSION_ORIGIN).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(received(&page, "x-forwarded-email"), [ALICE]);
    assert_eq!(received(&page, "x-forwarded-user"), [alice.sub.as_str()]);
    assert!(received(&page, "x-handoff-assertion").is_empty());
    assert_eq!(
        page.header("access-control-allow-origin"),
        Some(EXTENSION_ORIGIN)
    );

    // The same token from a page of another origin: served (CORS is the
    // browser's rule), but with nothing that lets a browser hand it over.
    let stranger = call(token.clone(), "https://evil.example").await;
    assert_eq!(stranger.status, 200);
    assert!(stranger.header("access-control-allow-origin").is_none());

    let mut refused = vec![
        (
            "another client's token",
            app.provider
                .mint_id_token(&alice, UNLISTED_EXTENSION_CLIENT_ID),
        ),
        (
            "a person's token for the gate's URL",
            app.provider
                .mint_id_token(&alice, &app.other_app_audience()),
        ),
        (
            "a person the policy does not admit",
            app.provider.mint_id_token(
                &MockUser::new("mallory@elsewhere.example"),
                EXTENSION_CLIENT_ID,
            ),
        ),
        (
            "another issuer",
            app.provider.mint_id_token_from(
                "https://issuer.evil.example",
                &alice,
                EXTENSION_CLIENT_ID,
            ),
        ),
    ];
    let unverified = MockUser {
        email_verified: false,
        ..MockUser::new(ALICE)
    };
    refused.push((
        "an unverified address",
        app.provider.mint_id_token(&unverified, EXTENSION_CLIENT_ID),
    ));
    for (what, token) in refused {
        let page = call(token, EXTENSION_ORIGIN).await;
        assert_eq!(page.status, 401, "{what}: {}", page.body);
        // The extension reads the refusal (and drops its token).
        assert_eq!(
            page.header("access-control-allow-origin"),
            Some(EXTENSION_ORIGIN),
            "{what}"
        );
    }
    integration_tests::logs::assert_not_logged(&[&token]);
}

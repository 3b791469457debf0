//! One junk request must not exhaust everyone's redemptions: every `GET <app>/auth/handoff?code=<junk>` used to make the app
//! send an authenticated redemption, and the public service limited those
//! by the app's address, so a few hundred junk requests locked out real
//! sign-ins and the token broker with them.

use integration_tests::app::{TestDelivery, TestOptions, APP_ACCOUNT, BROKER_CALLER};
use integration_tests::TestApp;
use mock_provider::MockUser;
use serde_json::json;

const ALICE: &str = "alice@example.com";
/// More than the public service's back-channel burst (half of 600 a minute).
const FLOOD: usize = 320;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn broker_works(app: &TestApp) {
    let answer = app
        .broker(
            Some(&app.caller_token(BROKER_CALLER)),
            json!({ "subject": MockUser::new(ALICE).sub }),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_codes_from_one_client_are_throttled_at_the_app_and_lock_out_no_one() {
    let app = TestApp::spawn_with(TestOptions {
        delivery: TestDelivery::Code,
        trusted_proxy_hops: 1, // behind Cloud Run's front end
        ..TestOptions::default()
    })
    .await;
    let client = client();
    let mut statuses = Vec::new();
    for i in 0..FLOOD {
        let response = client
            .get(format!(
                "http://{}/auth/handoff?code=junk{i:0>39}",
                app.app_addr
            ))
            .header("x-forwarded-for", "198.51.100.7")
            // A binding cookie of its own making, so the app has
            // something to send.
            .header(
                "cookie",
                format!("__Host-handoff-verifier={}", "v".repeat(43)),
            )
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        limited >= FLOOD / 2,
        "the app throttles one client's junk: {statuses:?}"
    );

    // Another client signs in, and the broker still answers.
    let browser = app.browser();
    let hops = app.sign_in(&browser, ALICE).await;
    let last = hops.last().unwrap();
    assert_eq!(last.status, 200, "{}", last.body);
    broker_works(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_redemptions_by_one_app_leaves_the_broker_and_other_clients_alone() {
    let app = TestApp::spawn_with(TestOptions {
        delivery: TestDelivery::Code,
        ..TestOptions::default()
    })
    .await;
    let browser = app.browser();
    let hops = app.sign_in(&browser, ALICE).await;
    assert_eq!(hops.last().unwrap().status, 200);

    // The app's own service account floods the redemption route (a broken
    // or taken-over app): it is limited, by who it is.
    let client = client();
    let token = app.caller_token(APP_ACCOUNT);
    let mut limited = 0;
    for i in 0..FLOOD {
        let status = client
            .post(format!("http://{}/handoff/redeem", app.auth_addr))
            .bearer_auth(&token)
            .json(&json!({
                "code": format!("junk{i:0>39}"),
                "audience": app.app_audience(),
                "verifier": "v".repeat(43),
            }))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        limited += usize::from(status == 429);
    }
    assert!(limited > 0, "the flood was never limited");
    // The broker, called from the same address, has a limit of its own.
    broker_works(&app).await;
}

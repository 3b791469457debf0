//! The userinfo endpoint down, slow or answering garbage. The public
//! service takes identity from the validated id_token and calls userinfo
//! only for claims the id_token lacks (never with Google), so here
//! sign-in, renewal and the broker do not notice.

use std::time::Duration;

use integration_tests::{TestApp, TestOptions};
use mock_provider::Misbehaviour;

use super::{assert_nothing_leaked, within_bound, PROVIDER_TIMEOUT, SLOW};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_userinfo_endpoint_changes_nothing_because_it_is_never_called() {
    let app = TestApp::spawn_with(TestOptions {
        provider_timeout: PROVIDER_TIMEOUT,
        ..TestOptions::default()
    })
    .await;
    for fault in [
        Misbehaviour::UserinfoDelay(SLOW),
        Misbehaviour::UserinfoStatus(503),
        Misbehaviour::UserinfoGarbage,
    ] {
        app.provider.misbehave(fault);
    }
    let browser = app.browser();
    let hops = within_bound("a sign-in", app.sign_in(&browser, "alice@example.com")).await;
    let last = hops.last().unwrap();
    assert_eq!(last.status, 200);
    assert!(last.body.contains("alice@example.com"), "{}", last.body);

    app.advance_time(Duration::from_secs(3600));
    let hops = within_bound("a renewal", browser.navigate(&app.app("/"))).await;
    assert_eq!(hops.last().unwrap().status, 200);
    let answer = within_bound(
        "a broker refresh",
        app.broker_token_for("alice@example.com", &[]),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(app.provider.userinfo_calls(), 0);
    assert_nothing_leaked(&app, &[&browser]);
}

//! The public service down while the app keeps serving: signed-in users
//! carry on with the keys the app fetched before, until their token
//! expires; an app instance started during the outage, with no keys,
//! answers 503 instead of sending people round a sign-in loop.

use std::time::Duration;

use integration_tests::app::APP_HOST;
use integration_tests::{logs, Browser, TestApp, TestOptions};

use super::{assert_nothing_leaked, within_bound, BOUND};

/// Past the handoff token's lifetime (10 minutes) and the verifier's leeway.
const PAST_TOKEN_EXPIRY: Duration = Duration::from_secs(11 * 60);

/// Asks the app for its home page every few hundred milliseconds, each
/// answer a 200 for `email`, until the captured logs show every one of
/// `lines`.
async fn keep_using_the_app_until_logged(
    app: &TestApp,
    browser: &Browser,
    email: &str,
    lines: &[&str],
) {
    let deadline = std::time::Instant::now() + BOUND;
    loop {
        let page = within_bound("a page", browser.get(&app.app("/"))).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(email));
        let captured = logs::captured();
        if lines.iter().all(|line| captured.contains(line)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never logged: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_in_users_keep_using_the_app_while_the_public_service_is_down() {
    let app = TestApp::spawn_with(TestOptions {
        // Keys are stale at once: every second the app tries to fetch them
        // again, fails, and must keep the ones it has.
        jwks_max_age: Duration::ZERO,
        ..TestOptions::default()
    })
    .await;
    let browser = app.browser();
    let alice = "alice@example.com";
    let hops = app.sign_in(&browser, alice).await;
    assert_eq!(hops.last().unwrap().status, 200);

    app.stop_public_service().await;
    let jwks_failed = format!("jwks_url=http://{}/.well-known/jwks.json", app.auth_addr);
    keep_using_the_app_until_logged(
        &app,
        &browser,
        alice,
        &[&jwks_failed, "revocation polling failed"],
    )
    .await;
    let me = browser.get_json(&app.app("/api/me")).await;
    assert_eq!(me.status, 200, "{}", me.body);
    let ready = reqwest::get(format!("http://{}/readyz", app.app_addr))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "cached keys keep the app ready");

    // The token expires: the app sends the browser to renew (which cannot
    // be reached now: the browser's problem, not the app's) and API
    // calls get 401.
    app.advance_time(PAST_TOKEN_EXPIRY);
    let page = within_bound("a page", browser.get(&app.app("/"))).await;
    assert_eq!(page.status, 302);
    let renew = page.location().unwrap();
    assert_eq!(renew.path(), "/renew");
    assert_eq!(renew.port(), app.auth_url.port());
    let me = within_bound("an API call", browser.get_json(&app.app("/api/me"))).await;
    assert_eq!(me.status, 401);
    let body: serde_json::Value = serde_json::from_str(&me.body).unwrap();
    assert_eq!(body["error"], "unauthenticated");

    app.start_public_service().await;
    let hops = browser.navigate(&app.app("/")).await;
    assert!(hops.iter().any(|p| p.url.path() == "/renew"));
    let last = hops.last().unwrap();
    assert_eq!(last.status, 200, "renewed once it is back: {}", last.body);
    assert!(last.body.contains(alice));
    assert_nothing_leaked(&app, &[&browser]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_started_while_the_public_service_is_down_answers_503_until_it_has_keys() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let hops = app.sign_in(&browser, "alice@example.com").await;
    assert_eq!(hops.last().unwrap().status, 200);

    app.stop_public_service().await;
    let instance = app.spawn_app_instance().await;
    // The same host name on the new instance's port: the browser sends
    // the same cookie.
    let url = |path: &str| format!("http://{APP_HOST}:{}{path}", instance.port());

    let page = within_bound("a page", browser.get(&url("/"))).await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.location().is_none(), "no redirect to loop on");
    assert!(page.header("retry-after").is_some());
    assert!(page.body.contains("<html"), "{}", page.body);
    let api = within_bound("an API call", browser.get_json(&url("/api/me"))).await;
    assert_eq!(api.status, 503, "{}", api.body);
    let body: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let ready = reqwest::get(format!("http://{instance}/readyz"))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    // Someone without a cookie is still sent to sign in.
    let stranger = app.browser();
    let page = stranger.get(&url("/")).await;
    assert_eq!(page.status, 302);

    app.start_public_service().await;
    let mut ready = false;
    for _ in 0..40 {
        let probe = reqwest::get(format!("http://{instance}/readyz"))
            .await
            .unwrap();
        if probe.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(ready, "the new instance fetched the keys");
    let page = browser.get(&url("/")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_nothing_leaked(&app, &[&browser, &stranger]);
}

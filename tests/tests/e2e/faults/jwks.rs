//! The provider's JWKS down, slow or answering garbage when a sign-in
//! needs it: at start (it is part of discovery) and after the provider
//! rotated its keys (an id_token with a `kid` the service has not seen).

use std::time::Duration;

use integration_tests::{TestApp, TestOptions};
use mock_provider::Misbehaviour;

use super::{
    assert_clean_error_page, readiness, wait_for_readiness, within_bound, PROVIDER_TIMEOUT, SLOW,
};

/// `PROVIDER_JWKS_REFETCH_INTERVAL` of the test deployment: a wall-clock
/// interval by design (it shields the provider), so the tests wait it out.
const REFETCH_INTERVAL: Duration = Duration::from_millis(1100);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_failing_at_start_holds_discovery_back_until_it_answers() {
    let app = TestApp::spawn_with(TestOptions {
        provider_timeout: PROVIDER_TIMEOUT,
        provider_misbehaviours_at_start: vec![Misbehaviour::JwksStatus(500)],
        ..TestOptions::default()
    })
    .await;
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["provider"], "unavailable");
    let browser = app.browser();
    let login = app.auth(&format!("/login?return_to={}", app.app_url));
    assert_clean_error_page(&browser.get(&login).await, 503);

    app.provider.behave();
    wait_for_readiness(&app, 200).await;
    let hops = app.sign_in(&browser, "alice@example.com").await;
    assert_eq!(hops.last().unwrap().status, 200);
}

/// Signs in once (keys cached), rotates the provider's keys, breaks the
/// JWKS with `fault`: the next sign-in ends on a clean `status` page.
/// Once the JWKS answers (and the re-fetch interval has passed) it works.
async fn jwks_fault_after_rotation(fault: Misbehaviour, status: u16) {
    let app = TestApp::spawn_with(TestOptions {
        provider_timeout: PROVIDER_TIMEOUT,
        ..TestOptions::default()
    })
    .await;
    let first = app.sign_in(&app.browser(), "alice@example.com").await;
    assert_eq!(first.last().unwrap().status, 200);

    app.provider.rotate_keys();
    app.provider.misbehave(fault);
    let browser = app.browser();
    let hops = within_bound("a sign-in", app.sign_in(&browser, "bob@corp.example")).await;
    let last = hops.last().unwrap();
    assert_eq!(last.url.path(), "/callback");
    assert_clean_error_page(last, status);
    assert!(browser.cookies().is_empty(), "{:?}", browser.cookies());
    assert_eq!(readiness(&app).await.0, 200, "the outage is the provider's");

    app.provider.behave();
    tokio::time::sleep(REFETCH_INTERVAL).await;
    let hops = app.sign_in(&browser, "bob@corp.example").await;
    assert_eq!(hops.last().unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_failing_after_a_key_rotation_gives_a_503_page_and_recovers() {
    jwks_fault_after_rotation(Misbehaviour::JwksStatus(500), 503).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_jwks_after_a_key_rotation_gives_a_503_page_within_the_timeout() {
    jwks_fault_after_rotation(Misbehaviour::JwksDelay(SLOW), 503).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_jwks_after_a_key_rotation_gives_a_502_page_and_recovers() {
    jwks_fault_after_rotation(Misbehaviour::JwksGarbage, 502).await;
}

/// The provider takes a key out of its JWKS (it was
/// retired, maybe leaked); ID tokens signed with it are refused once the
/// copy the service holds is older than the JWKS answer's `Cache-Control:
/// max-age`, without a restart and without waiting for an unknown `kid`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_provider_retired_is_refused_once_its_max_age_has_passed() {
    let app = TestApp::spawn().await;
    app.provider.set_jwks_max_age(120);
    assert_eq!(
        app.signing_in("alice@example.com")
            .run()
            .await
            .into_last_page()
            .status,
        200
    );

    // Discovery's copy of the keys (its headers unseen) counts as fresh
    // for a minute; then the first sign-in fetches the set again.
    app.provider.rotate_keys();
    app.provider.retire_old_keys();
    app.provider.misbehave(Misbehaviour::RetiredKey);
    app.advance_time(Duration::from_secs(61));
    tokio::time::sleep(REFETCH_INTERVAL).await;
    let refused = app
        .signing_in("bob@corp.example")
        .run()
        .await
        .into_last_page();
    assert_eq!(refused.url.path(), "/callback");
    assert_clean_error_page(&refused, 502);
    app.provider.behave();
    assert_eq!(
        app.signing_in("bob@corp.example")
            .run()
            .await
            .into_last_page()
            .status,
        200
    );

    // The provider's max-age (120 s) is honoured: a key retired now still
    // counts a minute later, and no more once the two minutes are over.
    app.provider.rotate_keys();
    app.provider.retire_old_keys();
    app.provider.misbehave(Misbehaviour::RetiredKey);
    app.advance_time(Duration::from_secs(60));
    assert_eq!(
        app.signing_in("bob@corp.example")
            .run()
            .await
            .into_last_page()
            .status,
        200,
        "within the max-age the cached copy stands"
    );
    app.advance_time(Duration::from_secs(61));
    tokio::time::sleep(REFETCH_INTERVAL).await;
    let refused = app
        .signing_in("bob@corp.example")
        .run()
        .await
        .into_last_page();
    assert_eq!(refused.url.path(), "/callback");
    assert_clean_error_page(&refused, 502);
    app.provider.behave();
    assert_eq!(
        app.signing_in("bob@corp.example")
            .run()
            .await
            .into_last_page()
            .status,
        200
    );
}

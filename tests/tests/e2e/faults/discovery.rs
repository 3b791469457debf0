//! Discovery down, slow or answering garbage, at start and mid-run.

use std::time::Duration;

use integration_tests::{TestApp, TestOptions};
use mock_provider::Misbehaviour;

use super::{
    assert_clean_error_page, readiness, wait_for_readiness, within_bound, PROVIDER_TIMEOUT, SLOW,
};

/// Starts the deployment with discovery failing as `options` say, checks
/// the service is alive but not ready and refuses sign-ins cleanly, then
/// lets `recover` heal the provider and checks a sign-in works.
async fn discovery_fault_at_start(options: TestOptions, recover: impl AsyncFnOnce(&TestApp)) {
    let app = within_bound(
        "starting with discovery failing",
        TestApp::spawn_with(TestOptions {
            provider_timeout: PROVIDER_TIMEOUT,
            ..options
        }),
    )
    .await;
    let live = reqwest::get(format!("http://{}/healthz", app.auth_addr))
        .await
        .unwrap();
    assert_eq!(live.status(), 200, "the service is alive");
    let (status, body) = within_bound("readiness", readiness(&app)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["provider"], "unavailable");

    let browser = app.browser();
    let login = app.auth(&format!("/login?return_to={}", app.app_url));
    let page = within_bound("a sign-in", browser.get(&login)).await;
    assert_clean_error_page(&page, 503);
    assert!(
        page.raw_set_cookies.is_empty(),
        "{:?}",
        page.raw_set_cookies
    );

    recover(&app).await;
    let hops = app.sign_in(&browser, "alice@example.com").await;
    assert_eq!(hops.last().unwrap().status, 200);
    wait_for_readiness(&app, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_refusing_connections_at_start_is_waited_for_without_a_restart() {
    discovery_fault_at_start(
        TestOptions {
            provider_down_at_start: true,
            ..TestOptions::default()
        },
        async |app| app.provider_proxy().restore().await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_slow_to_answer_discovery_at_start_is_waited_for_within_the_timeout() {
    discovery_fault_at_start(
        TestOptions {
            provider_misbehaviours_at_start: vec![Misbehaviour::DiscoveryDelay(SLOW)],
            ..TestOptions::default()
        },
        async |app| app.provider.behave(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_answering_garbage_discovery_at_start_is_waited_for() {
    discovery_fault_at_start(
        TestOptions {
            provider_misbehaviours_at_start: vec![Misbehaviour::DiscoveryGarbage],
            ..TestOptions::default()
        },
        async |app| app.provider.behave(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_whose_discovery_fails_at_start_recovers_without_a_restart() {
    let app = TestApp::spawn_with(TestOptions {
        discovery_fails_at_start: true,
        ..TestOptions::default()
    })
    .await;
    let browser = app.browser();
    let hops = app.sign_in(&browser, "alice@example.com").await;
    let last = hops.last().unwrap();
    assert_eq!(last.url.path(), "/renew");
    assert_eq!(last.status, 503, "{}", last.body);
    assert!(last.raw_set_cookies.is_empty());

    app.provider.behave();
    let hops = app.sign_in(&browser, "alice@example.com").await;
    assert_eq!(hops.last().unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_failing_mid_run_changes_nothing_because_it_is_never_fetched_again() {
    let app = TestApp::spawn_with(TestOptions {
        provider_timeout: PROVIDER_TIMEOUT,
        ..TestOptions::default()
    })
    .await;
    let fetched_at_start = app.provider.discovery_fetches();
    assert_eq!(fetched_at_start, 1, "discovered once, at start");
    for fault in [
        Misbehaviour::DiscoveryStatus(500),
        Misbehaviour::DiscoveryGarbage,
        Misbehaviour::DiscoveryDelay(SLOW),
    ] {
        app.provider.misbehave(fault);
    }
    let browser = app.browser();
    let hops = within_bound("a sign-in", app.sign_in(&browser, "alice@example.com")).await;
    assert_eq!(hops.last().unwrap().status, 200);
    assert_eq!(readiness(&app).await.0, 200);
    assert_eq!(app.provider.discovery_fetches(), fetched_at_start);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_provider_down_mid_run_leaves_readiness_and_renewal_alone() {
    let app = TestApp::spawn_with(TestOptions {
        provider_behind_proxy: true,
        provider_timeout: PROVIDER_TIMEOUT,
        ..TestOptions::default()
    })
    .await;
    let browser = app.browser();
    let hops = app.sign_in(&browser, "alice@example.com").await;
    assert_eq!(hops.last().unwrap().status, 200);

    app.provider_proxy().cut().await;
    assert_eq!(
        readiness(&app).await.0,
        200,
        "Google down is not our outage"
    );
    // The handoff token expires; renewal needs only the session.
    app.advance_time(Duration::from_secs(15 * 60));
    let hops = within_bound("a renewal", browser.navigate(&app.app("/"))).await;
    assert!(hops.iter().any(|p| p.url.path() == "/renew"));
    assert_eq!(hops.last().unwrap().status, 200);
    assert_eq!(hops.last().unwrap().url.host_str(), app.app_url.host_str());

    // A new sign-in cannot reach the provider's page: the browser's
    // problem; the service's part (the redirect) still answers.
    let stranger = app.browser();
    let login = app.auth(&format!("/login?return_to={}", app.app_url));
    let page = within_bound("a sign-in", stranger.get(&login)).await;
    assert_eq!(page.status, 302);
}

//! A misbehaving or absent provider gives a clean error page in bounded
//! time; back-channel calls follow no redirects.

use std::time::{Duration, Instant};

use integration_tests::{TestApp, TestOptions};
use mock_provider::Misbehaviour;
use shared::cookie::PARENT_DOMAIN_NAME;

#[tokio::test]
async fn a_token_endpoint_that_redirects_is_not_followed() {
    let app = TestApp::spawn().await;
    app.provider.misbehave(Misbehaviour::TokenEndpointRedirect);
    let hops = app.sign_in(&app.browser(), "alice@example.com").await;
    let last = hops.last().unwrap();
    assert_eq!(last.status, 502, "{}", last.body);
    assert_eq!(app.provider.trap_hits(), 0, "the redirect was followed");
    assert!(last.set_cookie(PARENT_DOMAIN_NAME).is_none());
}

#[tokio::test]
async fn a_token_endpoint_answering_500_gives_a_clean_error_page() {
    let app = TestApp::spawn().await;
    app.provider
        .misbehave(Misbehaviour::TokenEndpointStatus(500));
    let hops = app.sign_in(&app.browser(), "alice@example.com").await;
    let last = hops.last().unwrap();
    assert!(last.status.is_server_error(), "{}", last.status);
    assert!(
        last.body.contains("<html") && last.body.contains("Reference"),
        "{}",
        last.body
    );
    assert!(!last.body.to_lowercase().contains("panic"));
}

#[tokio::test]
async fn a_token_endpoint_answering_garbage_gives_a_clean_error_page() {
    let app = TestApp::spawn().await;
    app.provider.misbehave(Misbehaviour::TokenEndpointGarbage);
    let hops = app.sign_in(&app.browser(), "alice@example.com").await;
    assert_eq!(hops.last().unwrap().status, 502);
}

#[tokio::test]
async fn a_slow_token_endpoint_gives_a_clean_error_page_within_the_timeout() {
    let app = TestApp::spawn_with(TestOptions {
        provider_timeout: Duration::from_secs(1),
        ..TestOptions::default()
    })
    .await;
    app.provider
        .misbehave(Misbehaviour::TokenEndpointDelay(Duration::from_secs(20)));
    let browser = app.browser();
    let callback = app.callback_url_for(&browser, "alice@example.com").await;
    let started = Instant::now();
    let page = browser.get(&callback).await;
    // Bounded by the configured 1 s timeout, far below the provider's 20 s delay.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.body.contains("not responding"));
}

#[tokio::test]
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

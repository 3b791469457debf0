//! The token endpoint refusing connections, slow, failing or answering
//! garbage at the callback: a clean error page in bounded time, and a new
//! sign-in works once it behaves. Back-channel calls follow no redirects.

use std::time::{Duration, Instant};

use integration_tests::{TestApp, TestOptions};
use mock_provider::Misbehaviour;

#[tokio::test]
async fn a_token_endpoint_that_redirects_is_not_followed() {
    let app = TestApp::spawn().await;
    app.provider.misbehave(Misbehaviour::TokenEndpointRedirect);
    let hops = app.sign_in(&app.browser(), "alice@example.com").await;
    let last = hops.last().unwrap();
    assert_eq!(last.status, 502, "{}", last.body);
    assert_eq!(app.provider.trap_hits(), 0, "the redirect was followed");
    assert!(last.set_cookie(&app.handoff_cookie()).is_none());
}

#[tokio::test]
async fn a_token_endpoint_answering_500_gives_a_clean_error_page() {
    let app = TestApp::spawn().await;
    app.provider
        .misbehave(Misbehaviour::TokenEndpointStatus(500));
    let browser = app.browser();
    let hops = app.sign_in(&browser, "alice@example.com").await;
    let last = hops.last().unwrap();
    assert!(last.status.is_server_error(), "{}", last.status);
    assert!(
        last.body.contains("<html") && last.body.contains("Reference"),
        "{}",
        last.body
    );
    assert!(!last.body.to_lowercase().contains("panic"));
    super::assert_clean_error_page(last, 503);

    app.provider.behave();
    let hops = app.sign_in(&browser, "alice@example.com").await;
    assert_eq!(hops.last().unwrap().status, 200);
}

#[tokio::test]
async fn a_token_endpoint_answering_garbage_gives_a_clean_error_page() {
    let app = TestApp::spawn().await;
    app.provider.misbehave(Misbehaviour::TokenEndpointGarbage);
    let browser = app.browser();
    let hops = app.sign_in(&browser, "alice@example.com").await;
    assert_eq!(hops.last().unwrap().status, 502);
    super::assert_clean_error_page(hops.last().unwrap(), 502);

    app.provider.behave();
    let hops = app.sign_in(&browser, "alice@example.com").await;
    assert_eq!(hops.last().unwrap().status, 200);
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
    super::assert_clean_error_page(&page, 503);

    app.provider.behave();
    let hops = app.sign_in(&browser, "alice@example.com").await;
    assert_eq!(hops.last().unwrap().status, 200);
}

#[tokio::test]
async fn a_token_endpoint_refusing_connections_gives_a_clean_error_page_and_recovers() {
    let app = TestApp::spawn_with(TestOptions {
        provider_behind_proxy: true,
        provider_timeout: super::PROVIDER_TIMEOUT,
        ..TestOptions::default()
    })
    .await;
    let browser = app.browser();
    let callback = app.callback_url_for(&browser, "alice@example.com").await;
    app.provider_proxy().cut().await;
    let page = super::within_bound("the callback", browser.get(&callback)).await;
    super::assert_clean_error_page(&page, 503);
    assert!(page.body.contains("not responding"), "{}", page.body);

    app.provider_proxy().restore().await;
    let hops = app.sign_in(&browser, "alice@example.com").await;
    assert_eq!(hops.last().unwrap().status, 200);
}

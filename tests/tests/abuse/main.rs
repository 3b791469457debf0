//! What the services refuse when pushed: rate limits on the routes an
//! attacker can drive cheaply.

use integration_tests::app::TestOptions;
use integration_tests::TestApp;

async fn login(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!(
            "http://{}/login?return_to={}",
            app.auth_addr, app.app_url
        ));
    if let Some(chain) = forwarded_for {
        request = request.header("x-forwarded-for", chain);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_rate_limited_per_client_with_retry_after() {
    let app = TestApp::spawn_with(TestOptions {
        sign_in_rate_per_minute: 20, // a burst of 10
        trusted_proxy_hops: 1,       // behind Cloud Run's front end
        ..TestOptions::default()
    })
    .await;
    let attacker = "203.0.113.7";
    let mut statuses = Vec::new();
    for _ in 0..15 {
        statuses.push(login(&app, Some(attacker)).await.status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 302).count(),
        10,
        "{statuses:?}"
    );
    let limited = login(&app, Some(attacker)).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&retry_after), "{retry_after}");

    // Another client is not affected, and the attacker cannot pose as one
    // by adding entries the front end did not write.
    assert_eq!(login(&app, Some("198.51.100.4")).await.status(), 302);
    let spoofed = login(&app, Some(&format!("198.51.100.9, {attacker}"))).await;
    assert_eq!(
        spoofed.status(),
        429,
        "only the entry the trusted proxy added counts"
    );

    let metrics = reqwest::get(format!("http://{}/metrics", app.auth_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(r#"rate_limited_total{route="sign_in"}"#));
}

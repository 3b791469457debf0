//! What the services refuse when pushed: rate limits on the routes an
//! attacker can drive cheaply.

mod cookie_names;
mod cookie_scope;
mod handoff_flood;
mod readiness_flood;
mod redirects;
mod reflection;
mod refusal_flood;
mod sign_in_flood;

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

    let metrics = app.metrics_of(app.auth_addr).await;
    assert!(metrics.contains(r#"rate_limited_total{route="sign_in"}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_input_gets_a_bounded_4xx() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // A query string far longer than any return_to.
    let long = format!(
        "http://{}/login?return_to={}/{}",
        app.auth_addr,
        app.app_url,
        "a".repeat(20_000)
    );
    let status = client.get(&long).send().await.unwrap().status().as_u16();
    assert!((400..500).contains(&status), "{status}");

    // A body far beyond what any route reads.
    let body = vec![b'x'; 1024 * 1024];
    let response = client
        .post(format!("http://{}/broker/token", app.auth_addr))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());

    // A header block beyond the limit: refused before any route reads it.
    let huge = "y".repeat(64 * 1024);
    let response = client
        .get(format!("http://{}/healthz", app.auth_addr))
        .header("x-padding", huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 431);
    // The service is still there.
    let health = client
        .get(format!("http://{}/healthz", app.auth_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    integration_tests::logs::assert_no_service_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_truncated_duplicated_or_oversized_session_cookie_is_no_session() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let hops = app.sign_in(&browser, "alice@example.com").await;
    assert_eq!(hops.last().unwrap().status, 200);
    let session = browser.cookie("__Host-session").unwrap().value;
    let (id, secret) = session.split_once('.').unwrap();
    let mut flipped = secret.to_owned().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let variants = [
        format!("{id}.{}", String::from_utf8(flipped).unwrap()),
        session[..session.len() - 4].to_owned(),
        format!("{id}."),
        format!("{session}.{session}"),
        format!("{id}.{}", "A".repeat(5000)),
        "%00%0d%0a".to_owned(),
    ];
    for value in variants {
        let thief = app.browser();
        thief.put_cookie("__Host-session", &value, "auth.example.test", true);
        let renew = thief
            .get(&app.auth(&format!("/renew?return_to={}", app.app_url)))
            .await;
        assert_eq!(renew.status, 302);
        assert_eq!(
            renew.location().unwrap().path(),
            "/o/oauth2/v2/auth",
            "{value:.40}: renewed without a valid session"
        );
    }
    integration_tests::logs::assert_no_service_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_id_tokens_with_alg_none_or_algorithm_confusion_are_refused() {
    use integration_tests::app::EXTENSION_CLIENT_ID;
    use mock_provider::{Misbehaviour, MockUser};
    let app = TestApp::spawn().await;
    let alice = MockUser::new("alice@example.com");
    for misbehaviour in [
        Misbehaviour::AlgNone,
        Misbehaviour::HsWithPublicKey,
        Misbehaviour::BadSignature,
    ] {
        app.provider.misbehave(misbehaviour.clone());
        let token = app.provider.mint_id_token(&alice, EXTENSION_CLIENT_ID);
        app.provider.behave();
        let status = reqwest::Client::new()
            .get(format!("http://{}/api/me", app.app_addr))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, 401, "{misbehaviour:?} accepted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_truncated_duplicated_or_oversized_login_cookie_stops_the_callback_before_the_provider(
) {
    let app = TestApp::spawn().await;
    let starter = app.browser();
    let callback = app.callback_url_for(&starter, "alice@example.com").await;
    let genuine = starter
        .cookies()
        .into_iter()
        .find(|c| c.name.starts_with("__Host-login-"))
        .expect("the sign-in left its transaction cookie");
    let mut flipped = genuine.value.clone().into_bytes();
    let middle = flipped.len() / 2;
    flipped[middle] = if flipped[middle] == b'A' { b'B' } else { b'A' };
    let variants = [
        String::from_utf8(flipped).unwrap(),
        genuine.value[..genuine.value.len() - 4].to_owned(),
        String::new(),
        format!("{0}{0}", genuine.value),
        "A".repeat(5000),
        "%00%0d%0a".to_owned(),
    ];
    for value in &variants {
        let browser = app.browser();
        browser.put_cookie(&genuine.name, value, &genuine.domain, true);
        let page = browser.get(&callback).await;
        assert_eq!(page.status, 400, "{value:.40}: {}", page.body);
        assert!(
            browser.cookie(&app.handoff_cookie()).is_none(),
            "{value:.40}: handed off"
        );
        // Duplicated: a forged copy ahead of the genuine one.
        let browser = app.browser();
        browser.put_cookie(&genuine.name, value, "example.test", false);
        browser.put_cookie(&genuine.name, &genuine.value, &genuine.domain, true);
        let page = browser.get(&callback).await;
        assert_eq!(page.status, 400, "duplicated {value:.40}: {}", page.body);
    }
    assert_eq!(
        app.provider.token_endpoint_calls(),
        0,
        "a refused transaction still reached the provider"
    );
    // The genuine cookie, untouched, still completes the sign-in.
    let page = starter.get(&callback).await;
    assert_eq!(page.status, 302, "{}", page.body);
    integration_tests::logs::assert_no_service_panics();
}

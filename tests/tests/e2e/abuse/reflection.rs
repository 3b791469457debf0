//! Values a request carries that a service might echo (query parameters,
//! the path, claims it turns into headers) never become a header of their
//! own or markup on a page.

use integration_tests::browser::Page;
use integration_tests::TestApp;

/// A CR/LF header injection and a script tag, percent-encoded once.
const PAYLOAD: &str = "x%0d%0aX-Injected:%20yes%0d%0a%0d%0a%3Cscript%3Ealert(1)%3C/script%3E";

fn assert_nothing_injected(page: &Page, what: &str) {
    assert!(
        page.status.as_u16() < 500,
        "{what}: {} {}",
        page.status,
        page.body
    );
    assert!(
        page.header("x-injected").is_none(),
        "{what}: a header was injected"
    );
    assert!(
        !page.body.contains("<script>alert(1)"),
        "{what}: the payload reached the page as markup"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crlf_or_markup_in_any_echoed_value_reaches_neither_a_header_nor_a_page() {
    let app = TestApp::spawn().await;
    let targets = [
        app.auth(&format!("/?return_to={PAYLOAD}")),
        app.auth(&format!("/login?return_to={PAYLOAD}")),
        app.auth(&format!("/login?scope={PAYLOAD}")),
        app.auth(&format!("/renew?return_to={PAYLOAD}")),
        app.auth(&format!("/logout?return_to={PAYLOAD}")),
        app.auth(&format!("/signed-out?return_to={PAYLOAD}")),
        app.auth(&format!("/callback?state={PAYLOAD}&code={PAYLOAD}")),
        app.auth(&format!(
            "/callback?state={PAYLOAD}&error={PAYLOAD}&error_description={PAYLOAD}"
        )),
        app.auth(&format!("/{PAYLOAD}")),
        app.app(&format!("/?next={PAYLOAD}")),
        app.app(&format!("/{PAYLOAD}")),
        app.app(&format!("/api/me?{PAYLOAD}")),
        app.app(&format!("/auth/verify/{PAYLOAD}")),
        app.app(&format!("/auth/handoff?code={PAYLOAD}")),
        app.app(&format!("/auth/signed-out?return_to={PAYLOAD}")),
    ];
    for target in &targets {
        // A browser that is signed in, and one that is not: the echo paths differ.
        let fresh = app.browser();
        assert_nothing_injected(&fresh.get(target).await, target);
    }
    let signed_in = app.browser();
    app.sign_in(&signed_in, "alice@example.com").await;
    for target in &targets {
        assert_nothing_injected(&signed_in.get(target).await, target);
    }
    integration_tests::logs::assert_no_service_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_identity_that_cannot_be_a_header_value_is_refused_by_forward_auth() {
    let app = TestApp::spawn().await;
    let mut claims = app.claims_for("alice@example.com");
    claims.email = "alice@example.com\r\nX-Injected: yes".into();
    let token = app.sign(&claims);
    let response = reqwest::Client::new()
        .get(format!("http://{}/auth/verify", app.app_addr))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().get("x-injected").is_none());
    assert!(response.headers().get("x-auth-email").is_none());
    integration_tests::logs::assert_no_service_panics();
}

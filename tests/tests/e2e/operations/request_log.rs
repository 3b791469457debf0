//! The default request log: Cloud Run logs every request itself, so a
//! success writes no line of its own at `info`; a refusal still does, and
//! a route's own lines keep the request's id and trace.

use std::time::Duration;

use integration_tests::TestApp;

use super::json_lines;

/// The JSON lines carrying `request_id`, once at least `least` are there
/// (or after two seconds).
async fn lines_of(request_id: &str, least: usize) -> Vec<serde_json::Value> {
    let mut lines = Vec::new();
    for _ in 0..40 {
        lines = json_lines(|l| l["request_id"] == request_id);
        if lines.len() >= least {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_success_writes_no_request_line_and_a_refusal_does() {
    let app = TestApp::spawn().await;
    app.restart_public_service_with(
        env!("CARGO_BIN_EXE_public-service-under-test"),
        &[("RUST_LOG", "info")],
    )
    .await;
    let trace = "205445aa7843bc8bf206b12000100000";
    let browser = app.browser();
    let login = browser
        .request(
            &app.auth(&format!("/login?return_to={}", app.app_url)),
            &[("x-cloud-trace-context", &format!("{trace}/1;o=1"))],
        )
        .await;
    assert_eq!(login.status, 302);
    let login_id = login
        .header("x-request-id")
        .expect("a request id")
        .to_owned();
    let lines = lines_of(&login_id, 1).await;
    let started = lines
        .iter()
        .find(|l| l["message"] == "sign-in started")
        .unwrap_or_else(|| panic!("the route's own line for {login_id}: {lines:?}"));
    assert_eq!(
        started["logging.googleapis.com/trace"],
        format!("projects/test-project/traces/{trace}"),
        "a route's line keeps the request's trace without a request line"
    );

    // A refusal: its line is there, at info, with its status.
    let missing = browser
        .request(
            &app.auth("/no-such-page"),
            &[("x-cloud-trace-context", &format!("{trace}/2;o=1"))],
        )
        .await;
    assert_eq!(missing.status, 404);
    let missing_id = missing.header("x-request-id").unwrap().to_owned();
    let refused = lines_of(&missing_id, 1).await;
    let line = refused
        .iter()
        .find(|l| l["message"] == "request")
        .unwrap_or_else(|| panic!("no request line for the 404: {refused:?}"));
    assert_eq!(line["severity"], "INFO");
    assert_eq!(line["httpRequest"]["status"], 404);
    assert_eq!(line["httpRequest"]["requestUrl"], "/no-such-page");

    // By then the login's line would have been written out too: it is not.
    let login_lines = json_lines(|l| l["request_id"] == login_id.as_str());
    assert!(
        !login_lines.iter().any(|l| l["message"] == "request"),
        "a successful request wrote a request line: {login_lines:?}"
    );
}

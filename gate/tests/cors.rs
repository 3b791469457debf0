//! CORS at the gate (`CORS_ALLOWED_ORIGINS`): a listed origin (a Chrome
//! extension's) may call and read the answers; any other origin gets no
//! CORS header, its preflight is refused and never reaches the app, and
//! the app's own CORS headers never widen the list.

mod support;

use support::{raw, Raw, Stack};

const EXTENSION: &str = "chrome-extension://abcdefghijklmnopabcdefghijklmnop";
const STRANGER: &str = "https://evil.example";

async fn stack() -> Stack {
    Stack::start(&[
        ("CORS_ALLOWED_ORIGINS", EXTENSION),
        ("PUBLIC_PATHS", "/open-cors"),
    ])
    .await
}

fn header<'a>(answer: &'a Raw, name: &str) -> Vec<&'a str> {
    answer
        .head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

fn no_cors_headers(answer: &Raw) -> bool {
    !answer.head.to_ascii_lowercase().contains("access-control-")
}

fn preflight(origin: &str) -> String {
    format!(
        "OPTIONS /api/me HTTP/1.1\r\nHost: app.example.com\r\nOrigin: {origin}\r\n\
         Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: authorization\r\n"
    )
}

fn get(path: &str, origin: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: app.example.com\r\nOrigin: {origin}\r\n{extra}")
}

#[tokio::test]
async fn the_listed_origin_s_preflight_is_answered_by_the_gate() {
    let stack = stack().await;
    let answer = raw(stack.gate, &preflight(EXTENSION), b"").await;
    assert_eq!(answer.status, 204, "{answer:?}");
    assert_eq!(header(&answer, "access-control-allow-origin"), [EXTENSION]);
    assert!(header(&answer, "access-control-allow-headers")[0].contains("authorization"));
    assert!(header(&answer, "access-control-allow-methods")[0].contains("GET"));
    assert_eq!(header(&answer, "vary"), ["Origin"]);
    assert!(header(&answer, "access-control-allow-credentials").is_empty());
    assert_eq!(
        stack.upstream.count(),
        0,
        "a preflight never reaches the app"
    );
}

#[tokio::test]
async fn an_unlisted_origin_s_preflight_is_refused_without_cors_headers() {
    let stack = stack().await;
    for origin in [
        STRANGER,
        "chrome-extension://zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
        "null",
        "chrome-extension://abcdefghijklmnopabcdefghijklmnop.evil.example",
    ] {
        let answer = raw(stack.gate, &preflight(origin), b"").await;
        assert_eq!(answer.status, 403, "{origin}: {answer:?}");
        assert!(no_cors_headers(&answer), "{origin}: {answer:?}");
        assert_eq!(header(&answer, "vary"), ["Origin"], "{origin}");
    }
    // Also on a public path: the gate owns CORS there too.
    let public = preflight(STRANGER).replace("/api/me", "/open-cors");
    assert_eq!(raw(stack.gate, &public, b"").await.status, 403);
    assert_eq!(stack.upstream.count(), 0);
}

#[tokio::test]
async fn only_the_listed_origin_can_read_answers_refusals_included() {
    let stack = stack().await;
    let bearer = format!("Authorization: Bearer {}\r\n", stack.issuer.token());

    let ours = raw(stack.gate, &get("/api/me", EXTENSION, &bearer), b"").await;
    assert_eq!(ours.status, 200, "{ours:?}");
    assert_eq!(header(&ours, "access-control-allow-origin"), [EXTENSION]);
    assert_eq!(header(&ours, "vary"), ["Origin"]);

    // The listed origin reads a refusal too, and its WWW-Authenticate.
    let refused = raw(stack.gate, &get("/api/me", EXTENSION, ""), b"").await;
    assert_eq!(refused.status, 401, "{refused:?}");
    assert_eq!(header(&refused, "access-control-allow-origin"), [EXTENSION]);
    assert_eq!(
        header(&refused, "access-control-expose-headers"),
        ["www-authenticate"]
    );

    // A stranger's request with a valid token is served (CORS is the
    // browser's rule, not authentication), but nothing lets a browser
    // hand the answer to the stranger's page.
    let theirs = raw(stack.gate, &get("/api/me", STRANGER, &bearer), b"").await;
    assert_eq!(theirs.status, 200);
    assert!(no_cors_headers(&theirs), "{theirs:?}");
    assert_eq!(header(&theirs, "vary"), ["Origin"]);
    let twice = raw(
        stack.gate,
        &get(
            "/api/me",
            EXTENSION,
            &format!("{bearer}Origin: {EXTENSION}\r\n"),
        ),
        b"",
    )
    .await;
    assert!(no_cors_headers(&twice), "an Origin sent twice: {twice:?}");
}

#[tokio::test]
async fn the_app_s_own_cors_headers_never_widen_the_list() {
    let stack = stack().await;
    let theirs = raw(stack.gate, &get("/open-cors", STRANGER, ""), b"").await;
    assert_eq!(theirs.status, 200, "{theirs:?}");
    assert!(no_cors_headers(&theirs), "the app's `*` passed: {theirs:?}");
    let ours = raw(stack.gate, &get("/open-cors", EXTENSION, ""), b"").await;
    assert_eq!(header(&ours, "access-control-allow-origin"), [EXTENSION]);
    assert!(header(&ours, "access-control-allow-credentials").is_empty());
}

#[tokio::test]
async fn without_a_list_the_gate_leaves_cors_to_the_app() {
    let stack = Stack::start(&[("PUBLIC_PATHS", "/open-cors")]).await;
    let answer = raw(stack.gate, &get("/open-cors", STRANGER, ""), b"").await;
    assert_eq!(header(&answer, "access-control-allow-origin"), ["*"]);
    // A preflight is then a request like any: unauthenticated, refused.
    assert_eq!(
        raw(stack.gate, &preflight(EXTENSION), b"").await.status,
        401
    );
}

//! The gate between a client and a Rust upstream, on loopback: who gets
//! through, what the upstream receives, the path policy, body limits,
//! streaming, WebSockets, and the answers when the upstream fails.

mod support;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::{raw, Stack};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: app.example.com\r\n{extra}")
}

#[tokio::test]
async fn a_signed_in_request_reaches_the_upstream_with_the_identity_and_the_token() {
    let stack = Stack::start(&[]).await;
    let token = stack.issuer.token();
    let answer = raw(
        stack.gate,
        &get(
            "/reports/7?x=1",
            &format!("Cookie: __Host-handoff={token}\r\n"),
        ),
        b"",
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let seen = stack.upstream.last();
    assert_eq!(seen.path_and_query, "/reports/7?x=1");
    assert_eq!(seen.values("x-forwarded-email"), ["alice@example.com"]);
    assert_eq!(seen.values("x-forwarded-user"), ["subject-1234"]);
    assert_eq!(seen.values("x-handoff-assertion"), [token.as_str()]);
    assert_eq!(seen.values("host"), ["app.example.com"]);

    // The same token as a Bearer token is the assertion too.
    let bearer = raw(
        stack.gate,
        &get("/api/me", &format!("Authorization: Bearer {token}\r\n")),
        b"",
    )
    .await;
    assert_eq!(bearer.status, 200);
    assert_eq!(
        stack.upstream.last().values("x-handoff-assertion"),
        [token.as_str()]
    );
}

#[tokio::test]
async fn configured_header_names_carry_the_identity_iap_style() {
    let stack = Stack::start(&[
        ("IDENTITY_EMAIL_HEADER", "X-Goog-Authenticated-User-Email"),
        ("IDENTITY_USER_HEADER", "X-Goog-Authenticated-User-Id"),
        ("ASSERTION_HEADER", "X-Goog-IAP-JWT-Assertion"),
    ])
    .await;
    let answer = raw(stack.gate, &get("/", &stack.cookie()), b"").await;
    assert_eq!(answer.status, 200);
    let seen = stack.upstream.last();
    assert_eq!(
        seen.values("x-goog-authenticated-user-email"),
        ["alice@example.com"]
    );
    assert_eq!(
        seen.values("x-goog-authenticated-user-id"),
        ["subject-1234"]
    );
    assert_eq!(seen.values("x-goog-iap-jwt-assertion").len(), 1);
    assert!(seen.values("x-forwarded-email").is_empty());
    assert!(seen.values("x-handoff-assertion").is_empty());
}

/// Every copy of an identity header, in any case, of the configured names
/// and of the other conventions, and names spelled with `_` for `-`.
const FORGED: &str = "X-Forwarded-Email: mallory@example.com\r\n\
    x-forwarded-EMAIL: mallory2@example.com\r\n\
    X-FORWARDED-USER: mallory\r\n\
    x-forwarded-user: mallory\r\n\
    X-Handoff-Assertion: forged\r\n\
    x-handoff-assertion: forged2\r\n\
    X-Goog-Authenticated-User-Email: accounts.google.com:mallory@example.com\r\n\
    X-Goog-IAP-JWT-Assertion: forged\r\n\
    X-Auth-Request-Email: mallory@example.com\r\n\
    X-Auth-Email: mallory@example.com\r\n\
    X-Custom-Id: mallory\r\n\
    x-CUSTOM-id: mallory\r\n\
    X-Forwarded_Email: mallory@example.com\r\n\
    x_custom_id: mallory\r\n";

#[tokio::test]
async fn identity_headers_from_the_client_never_reach_the_upstream() {
    let stack = Stack::start(&[
        ("PUBLIC_PATHS", "/static/"),
        ("IDENTITY_USER_HEADER", "X-Custom-Id"),
    ])
    .await;
    // On a public path: none at all.
    let public = raw(stack.gate, &get("/static/a.css", FORGED), b"").await;
    assert_eq!(public.status, 200);
    let seen = stack.upstream.last();
    for name in [
        "x-forwarded-email",
        "x-forwarded-user",
        "x-handoff-assertion",
        "x-goog-authenticated-user-email",
        "x-goog-iap-jwt-assertion",
        "x-auth-request-email",
        "x-auth-email",
        "x-custom-id",
        "x-forwarded_email",
        "x_custom_id",
    ] {
        assert!(
            seen.values(name).is_empty(),
            "{name} reached the upstream: {seen:?}"
        );
    }
    // Signed in: exactly the gate's, once each.
    let signed_in = raw(
        stack.gate,
        &get("/private", &format!("{FORGED}{}", stack.cookie())),
        b"",
    )
    .await;
    assert_eq!(signed_in.status, 200);
    let seen = stack.upstream.last();
    assert_eq!(seen.values("x-forwarded-email"), ["alice@example.com"]);
    assert_eq!(seen.values("x-custom-id"), ["subject-1234"]);
    assert_eq!(seen.values("x-handoff-assertion").len(), 1);
    assert_ne!(seen.values("x-handoff-assertion"), ["forged"]);
    assert!(seen.values("x-forwarded-user").is_empty());
    assert!(seen.values("x-goog-iap-jwt-assertion").is_empty());
    assert!(seen.values("x-forwarded_email").is_empty());
    assert!(seen.values("x_custom_id").is_empty());
}

#[tokio::test]
async fn hop_by_hop_headers_stay_on_their_hop() {
    let stack = Stack::start(&[("PUBLIC_PATHS", "/open")]).await;
    let answer = raw(
        stack.gate,
        &get(
            "/open",
            "Connection: X-Drop-One\r\n\
             connection: x-drop-two, Keep-Alive\r\n\
             X-Drop-One: 1\r\n\
             x-DROP-one: 2\r\n\
             X-Drop-Two: 3\r\n\
             Keep-Alive: timeout=5\r\n\
             Proxy-Connection: keep-alive\r\n\
             PROXY-connection: keep-alive\r\n\
             TE: gzip\r\n\
             Upgrade: h2c\r\n\
             upgrade: h2c\r\n\
             Proxy-Authorization: Basic eDp5\r\n\
             X-Kept: yes\r\n",
        ),
        b"",
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let seen = stack.upstream.last();
    for name in [
        "x-drop-one",
        "x-drop-two",
        "keep-alive",
        "proxy-connection",
        "te",
        "upgrade",
        "proxy-authorization",
    ] {
        assert!(
            seen.values(name).is_empty(),
            "{name} reached the upstream: {seen:?}"
        );
    }
    assert_eq!(seen.values("x-kept"), ["yes"]);
    // `TE: trailers` is the one TE that passes.
    raw(stack.gate, &get("/open", "te: Trailers\r\n"), b"").await;
    assert_eq!(stack.upstream.last().values("te"), ["Trailers"]);
}

#[tokio::test]
async fn forwarding_headers_are_the_gates_own() {
    let stack = Stack::start(&[("PUBLIC_PATHS", "/open")]).await;
    raw(
        stack.gate,
        &get(
            "/open",
            "X-Forwarded-For: 6.6.6.6\r\nx-forwarded-for: 7.7.7.7\r\nX-Forwarded-Proto: https\r\n\
             X-Forwarded-Host: evil.example\r\nForwarded: for=6.6.6.6\r\n",
        ),
        b"",
    )
    .await;
    let seen = stack.upstream.last();
    assert_eq!(seen.values("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(seen.values("x-forwarded-proto"), ["http"]);
    assert_eq!(seen.values("x-forwarded-host"), ["app.example.com"]);
    assert!(seen.values("forwarded").is_empty());

    // Behind one trusted proxy (Cloud Run's front end): its entry stays.
    let behind = Stack::start(&[("PUBLIC_PATHS", "/open"), ("TRUSTED_PROXY_HOPS", "1")]).await;
    raw(
        behind.gate,
        &get(
            "/open",
            "X-Forwarded-For: 6.6.6.6, 203.0.113.5\r\nX-Forwarded-Proto: https\r\n",
        ),
        b"",
    )
    .await;
    let seen = behind.upstream.last();
    assert_eq!(seen.values("x-forwarded-for"), ["203.0.113.5, 127.0.0.1"]);
    assert_eq!(seen.values("x-forwarded-proto"), ["https"]);
}

#[tokio::test]
async fn no_path_trick_makes_a_protected_path_public() {
    let stack = Stack::start(&[("PUBLIC_PATHS", "/healthz,/static/")]).await;
    let public = raw(stack.gate, &get("/static/app.js", ""), b"").await;
    assert_eq!(public.status, 200);
    assert_eq!(stack.upstream.last().path_and_query, "/static/app.js");
    let before = stack.upstream.count();
    for (trick, expected) in [
        ("/static/../admin", 400),
        ("/static/./../admin", 400),
        ("/static/%2e%2e/admin", 400),
        ("/static/%2E%2E/admin", 400),
        ("/static/.%2e/admin", 400),
        ("/static/..%2fadmin", 400),
        ("/static%2f..%2fadmin", 400),
        ("/static/%252e%252e/admin", 400),
        ("/static/..%5cadmin", 400),
        ("/static/..\\admin", 400),
        ("//static/../admin", 400),
        ("/static//../admin", 400),
        ("/admin;/static/", 400),
        ("/static/;/../admin", 400),
        ("/healthz/../admin", 400),
        ("/static/%00/../admin", 400),
        // Case and harmless encodings only ever fail to match: protected.
        ("/STATIC/admin", 401),
        ("/Static/admin", 401),
        ("/%73tatic/admin", 401),
        ("/HEALTHZ", 401),
        ("/healthz/", 401),
        ("/staticadmin", 401),
        ("/admin", 401),
    ] {
        let answer = raw(stack.gate, &get(trick, "Accept: application/json\r\n"), b"").await;
        assert_eq!(answer.status, expected, "{trick}: {answer:?}");
    }
    assert_eq!(
        stack.upstream.count(),
        before,
        "a trick reached the upstream"
    );
}

#[tokio::test]
async fn strangers_are_refused_and_the_upstream_never_hears_of_them() {
    let stack = Stack::start(&[]).await;
    let api = raw(
        stack.gate,
        &get("/api/me", "Accept: application/json\r\n"),
        b"",
    )
    .await;
    assert_eq!(api.status, 401);
    assert!(api.body.contains("login_url"), "{api:?}");
    let browser = raw(stack.gate, &get("/report", "Accept: text/html\r\n"), b"").await;
    assert_eq!(browser.status, 302);
    assert!(browser.head.to_ascii_lowercase().contains("\r\nlocation: "));
    let forged = raw(
        stack.gate,
        &get("/api/me", "Authorization: Bearer not.a.token\r\n"),
        b"",
    )
    .await;
    assert_eq!(forged.status, 401);
    assert_eq!(stack.upstream.count(), 0);
}

#[tokio::test]
async fn the_gates_own_routes_are_never_forwarded() {
    let stack = Stack::start(&[]).await;
    let health = raw(stack.gate, &get("/auth/healthz", ""), b"").await;
    assert_eq!(health.status, 200);
    assert!(health.body.contains("ok"));
    // Cookie delivery: no redemption routes, and nothing else under /auth/.
    for path in ["/auth/handoff?code=abc", "/auth/anything", "/auth/"] {
        let answer = raw(stack.gate, &get(path, &stack.cookie()), b"").await;
        assert_eq!(answer.status, 404, "{path}");
    }
    // Code delivery: the redemption routes are the gate's.
    let code = Stack::start(&[("HANDOFF_DELIVERY", "code")]).await;
    let start = raw(
        code.gate,
        &get(
            "/auth/start?return_to=http%3A%2F%2Flocalhost%3A1%2Fx",
            "Accept: text/html\r\n",
        ),
        b"",
    )
    .await;
    assert_eq!(start.status, 302, "{start:?}");
    let logout = raw(code.gate, &get("/auth/logout", ""), b"").await;
    assert_eq!(logout.status, 405);
    assert_eq!(stack.upstream.count() + code.upstream.count(), 0);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let stack = Stack::start(&[("MAX_BODY_BYTES", "1000")]).await;
    // Declared: refused on its Content-Length, before a byte is forwarded.
    let declared = raw(
        stack.gate,
        &format!(
            "POST /upload HTTP/1.1\r\nHost: app.example.com\r\nAccept: text/html\r\n{}Content-Length: 1001\r\n",
            stack.cookie()
        ),
        b"",
    )
    .await;
    assert_eq!(declared.status, 413);
    assert!(declared.body.contains("<h1>Too large</h1>"));
    assert_eq!(stack.upstream.count(), 0, "nothing was forwarded");
    // Streamed without a length: cut off where it passes the limit.
    let mut chunked = format!("{:x}\r\n", 1500).into_bytes();
    chunked.extend_from_slice(&[b'a'; 1500]);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let streamed = raw(
        stack.gate,
        &format!(
            "POST /upload HTTP/1.1\r\nHost: app.example.com\r\n{}Transfer-Encoding: chunked\r\n",
            stack.cookie()
        ),
        &chunked,
    )
    .await;
    assert_eq!(streamed.status, 413, "{streamed:?}");
    assert!(
        stack
            .upstream
            .uploaded
            .load(std::sync::atomic::Ordering::SeqCst)
            <= 1000
    );
    // Within the limit: through, whole.
    let small = raw(
        stack.gate,
        &format!(
            "POST /upload HTTP/1.1\r\nHost: app.example.com\r\n{}Content-Length: 1000\r\n",
            stack.cookie()
        ),
        &[b'b'; 1000],
    )
    .await;
    assert_eq!(small.status, 200);
    assert!(small.body.ends_with("1000"), "{small:?}");
}

#[tokio::test]
async fn server_sent_events_arrive_as_they_are_sent() {
    let stack = Stack::start(&[]).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let request = http::Request::get(format!("http://{}/events", stack.gate))
        .header("cookie", format!("__Host-handoff={}", stack.issuer.token()))
        .header("accept", "text/event-stream")
        .body(Empty::new())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut received = Vec::new();
    // The upstream holds the second event until the test has the first:
    // a gate that buffered would never deliver it, and this would hang.
    while !received.ends_with(b"data: one\n\n") {
        let frame = body.frame().await.expect("the first event").unwrap();
        received.extend_from_slice(frame.data_ref().unwrap());
    }
    stack.upstream.first_event_received.notify_one();
    while !received.ends_with(b"data: two\n\n") {
        let frame = body.frame().await.expect("the second event").unwrap();
        received.extend_from_slice(frame.data_ref().unwrap());
    }
    assert_eq!(received, b"data: one\n\ndata: two\n\n");
}

#[tokio::test]
async fn a_websocket_echoes_through_the_gate_for_the_signed_in_only() {
    let stack = Stack::start(&[]).await;
    let url = format!("ws://{}/ws", stack.gate);
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "cookie",
        format!("__Host-handoff={}", stack.issuer.token())
            .parse()
            .unwrap(),
    );
    let stream = tokio::net::TcpStream::connect(stack.gate).await.unwrap();
    let (mut socket, response) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("the upgrade passes");
    assert_eq!(response.status(), 101);
    socket
        .send(Message::text("hello through the gate"))
        .await
        .unwrap();
    let echoed = socket.next().await.unwrap().unwrap();
    assert_eq!(echoed, Message::text("hello through the gate"));
    let seen = stack.upstream.last();
    assert_eq!(seen.values("upgrade"), ["websocket"]);
    assert_eq!(seen.values("x-forwarded-email"), ["alice@example.com"]);

    let before = stack.upstream.count();
    let stream = tokio::net::TcpStream::connect(stack.gate).await.unwrap();
    let refused = tokio_tungstenite::client_async(url.as_str(), stream).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("an unauthenticated upgrade got {other:?}"),
    }
    assert_eq!(stack.upstream.count(), before);
}

#[tokio::test]
async fn upstream_connections_are_kept_alive_and_reused() {
    let stack = Stack::start(&[("PUBLIC_PATHS", "/open")]).await;
    for _ in 0..3 {
        assert_eq!(raw(stack.gate, &get("/open", ""), b"").await.status, 200);
    }
    let seen = stack.upstream.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter().all(|s| s.peer_port == seen[0].peer_port),
        "one upstream connection served all three: {:?}",
        seen.iter().map(|s| s.peer_port).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_refused_upstream_is_a_clean_502_naming_no_address() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let state = std::sync::Arc::new(support::UpstreamState::default());
    let stack = Stack::start_with_upstream(
        &format!("http://{address}"),
        state,
        &[("PUBLIC_PATHS", "/open")],
    )
    .await;
    let page = raw(stack.gate, &get("/open", "Accept: text/html\r\n"), b"").await;
    assert_eq!(page.status, 502);
    assert!(
        page.body.contains("<h1>The app is not answering</h1>"),
        "{page:?}"
    );
    let json = raw(
        stack.gate,
        &get("/open", "Accept: application/json\r\n"),
        b"",
    )
    .await;
    assert_eq!(json.status, 502);
    let value: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(value["error"], "bad_gateway");
    for answer in [&page, &json] {
        let all = format!("{}{}", answer.head, answer.body);
        assert!(!all.contains("127.0.0.1"), "{all}");
        assert!(!all.contains(&address.port().to_string()), "{all}");
    }
}

#[tokio::test]
async fn an_upstream_that_does_not_answer_is_a_504() {
    let stack = Stack::start(&[
        ("PUBLIC_PATHS", "/hang"),
        ("UPSTREAM_RESPONSE_TIMEOUT", "1"),
    ])
    .await;
    let answer = raw(
        stack.gate,
        &get("/hang", "Accept: application/json\r\n"),
        b"",
    )
    .await;
    assert_eq!(answer.status, 504, "{answer:?}");
    let value: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(value["error"], "gateway_timeout");
}

#[tokio::test]
async fn one_client_flooding_the_handoff_route_is_held_back_alone() {
    // A burst of one, behind one trusted proxy (as on Cloud Run).
    let stack = Stack::start(&[
        ("HANDOFF_DELIVERY", "code"),
        ("RATE_LIMIT_HANDOFF_PER_MINUTE", "2"),
        ("TRUSTED_PROXY_HOPS", "1"),
    ])
    .await;
    let handoff = |forwarded_for: &str| {
        get(
            "/auth/handoff?code=made-up",
            &format!("Accept: application/json\r\nX-Forwarded-For: {forwarded_for}\r\n"),
        )
    };
    let first = raw(stack.gate, &handoff("203.0.113.7"), b"").await;
    assert_ne!(first.status, 429, "{first:?}");
    let again = raw(stack.gate, &handoff("203.0.113.7"), b"").await;
    assert_eq!(again.status, 429, "{again:?}");
    let retry_after = again
        .head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after: ")
                .map(str::to_owned)
        })
        .expect("a Retry-After header");
    assert!(retry_after.parse::<u64>().unwrap() >= 1, "{retry_after}");
    let value: serde_json::Value = serde_json::from_str(&again.body).unwrap();
    assert_eq!(value["error"], "rate_limited");
    // An address the client made up in front of the trusted entry changes
    // nothing: the front end's entry is the client.
    let spoofed = raw(stack.gate, &handoff("198.51.100.9, 203.0.113.7"), b"").await;
    assert_eq!(spoofed.status, 429, "{spoofed:?}");
    // Another client, and the gate's other routes, are not held back.
    let other = raw(stack.gate, &handoff("198.51.100.2"), b"").await;
    assert_ne!(other.status, 429, "{other:?}");
    let health = raw(stack.gate, &get("/auth/healthz", ""), b"").await;
    assert_eq!(health.status, 200);
}

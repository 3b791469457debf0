//! What else than a page crosses the gate to Flask: server-sent events
//! as they come, request bodies up to `MAX_BODY_BYTES` and no further, and
//! a WebSocket (flask-sock), for the signed-in only.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use integration_tests::app::{TestDelivery, TestOptions};
use sha2::{Digest, Sha256};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use url::Url;

use super::{flask_stack, signed_in, FlaskStack, ALICE};

/// A small limit, so the refused upload stays small.
const MAX_BODY_BYTES: u64 = 64 * 1024;

/// A client that finds the gate by its test host name.
fn client_to_gate(stack: &FlaskStack) -> reqwest::Client {
    let (url, addr) = stack.app.other_app.as_ref().unwrap();
    reqwest::Client::builder()
        .resolve(url.host_str().unwrap(), *addr)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_bodies_are_capped_and_a_websocket_passes_to_flask() {
    let Some(stack) = flask_stack(TestOptions {
        delivery: TestDelivery::Code,
        gate_max_body_bytes: MAX_BODY_BYTES,
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    let browser = signed_in(&stack).await;
    let client = client_to_gate(&stack);
    let cookies = |path: &str| {
        let url = Url::parse(&stack.app.other_app(path)).unwrap();
        browser.cookie_header(&url).expect("the gate's cookie")
    };

    // Flask yields an event a second: the first arrives through the gate
    // long before the last is written.
    let asked = Instant::now();
    let mut events = client
        .get(stack.app.other_app("/api/events"))
        .header("accept", "text/event-stream")
        .header("cookie", cookies("/api/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let mut received = String::new();
    let mut first_at = None;
    while let Some(chunk) = events.chunk().await.unwrap() {
        first_at.get_or_insert(asked.elapsed());
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    let (first, all) = (first_at.unwrap(), asked.elapsed());
    assert_eq!(
        received,
        "data: event 1\n\ndata: event 2\n\ndata: event 3\n\n"
    );
    assert!(all >= Duration::from_secs(2), "{all:?}");
    assert!(
        all - first >= Duration::from_millis(1500),
        "the events arrived together: the first after {first:?}, all after {all:?}"
    );

    // A body under the limit reaches Flask whole; one over it is refused
    // by the gate with 413.
    let body = vec![b'x'; 60_000];
    let under = client
        .post(stack.app.other_app("/api/upload"))
        .header("accept", "application/json")
        .header("cookie", cookies("/api/upload"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(under.status(), 200);
    let answer: serde_json::Value = under.json().await.unwrap();
    assert_eq!(answer["bytes"], 60_000);
    assert_eq!(
        answer["sha256"],
        format!("{:x}", Sha256::digest(&body)).as_str()
    );
    let over = client
        .post(stack.app.other_app("/api/upload"))
        .header("accept", "application/json")
        .header("cookie", cookies("/api/upload"))
        .body(vec![b'x'; MAX_BODY_BYTES as usize + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), 413);

    // A WebSocket upgrade passes to flask-sock, which answers as the
    // signed-in person; without a session the gate refuses the upgrade.
    let (url, addr) = stack.app.other_app.as_ref().unwrap();
    let ws_url = format!("ws://{}:{}/ws/echo", url.host_str().unwrap(), addr.port());
    let mut request = ws_url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", cookies("/ws/echo").parse().unwrap());
    let stream = tokio::net::TcpStream::connect(*addr).await.unwrap();
    let (mut socket, response) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("the upgrade passes");
    assert_eq!(response.status(), 101);
    socket.send(Message::text("hello flask")).await.unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("flask answers")
        .unwrap()
        .unwrap();
    assert_eq!(echoed, Message::text(format!("{ALICE}: hello flask")));
    let _ = socket.close(None).await;

    let stream = tokio::net::TcpStream::connect(*addr).await.unwrap();
    match tokio_tungstenite::client_async(ws_url.as_str(), stream).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("an anonymous upgrade got {other:?}"),
    }
}

//! What the gate's tests share: a login service that only publishes its
//! keys, a Rust upstream that reports what reached it, the gate between
//! them on loopback ports, and raw HTTP/1.1 requests (so that repeated and
//! mixed-case headers and unusual paths go out exactly as written).
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use gate::settings::Settings;
use gate::startup::Application;
use handoff_guard::login_service::{HandoffSigner, SigningKey};
use handoff_guard::HandoffClaims;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use service_kit::config::Env;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::protocol::Role;

/// The app's origin: the tokens' audience.
pub const APP: &str = "http://localhost:1";

/// What reached the upstream in one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path_and_query: String,
    /// Names as hyper gives them (lowercase), in the order received.
    pub headers: Vec<(String, String)>,
    pub peer_port: u16,
}

impl Seen {
    /// Every value of `name`.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The upstream's record, and its knobs.
#[derive(Default)]
pub struct UpstreamState {
    pub seen: Mutex<Vec<Seen>>,
    /// Bytes of request bodies received on `/upload`.
    pub uploaded: AtomicU64,
    /// Set by the test once it has the first event; the second follows.
    pub first_event_received: Notify,
    pub requests: AtomicUsize,
}

impl UpstreamState {
    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a request reached the upstream")
    }
    pub fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

type UpstreamBody = BoxBody<Bytes, Infallible>;

fn full(text: impl Into<Bytes>) -> UpstreamBody {
    Full::new(text.into()).boxed()
}

/// A response body fed from a channel, frame by frame.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

/// The upstream: `/upload` counts bytes, `/events` sends two events, the
/// second after the test says it has the first, `/hang` never answers,
/// `/open-cors` allows every origin (CORS) with credentials,
/// `/ws` echoes WebSocket messages, and anything else answers `200` with
/// the path it got.
pub async fn start_upstream() -> (SocketAddr, Arc<UpstreamState>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let state = Arc::new(UpstreamState::default());
    let shared = state.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let state = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| upstream(req, peer, state.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (address, state)
}

async fn upstream(
    mut req: Request<Incoming>,
    peer: SocketAddr,
    state: Arc<UpstreamState>,
) -> Result<Response<UpstreamBody>, Infallible> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    state.seen.lock().unwrap().push(Seen {
        path_and_query: path_and_query.clone(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        peer_port: peer.port(),
    });
    let path = req.uri().path().to_owned();
    match path.as_str() {
        "/upload" => {
            let mut body = req.into_body();
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { break };
                if let Some(data) = frame.data_ref() {
                    state
                        .uploaded
                        .fetch_add(data.len() as u64, Ordering::SeqCst);
                }
            }
            Ok(Response::new(full(
                state.uploaded.load(Ordering::SeqCst).to_string(),
            )))
        }
        "/events" => {
            let (tx, rx) = mpsc::channel(4);
            tokio::spawn(async move {
                let _ = tx.send(Bytes::from_static(b"data: one\n\n")).await;
                state.first_event_received.notified().await;
                let _ = tx.send(Bytes::from_static(b"data: two\n\n")).await;
            });
            let mut response = Response::new(ChannelBody(rx).boxed());
            response
                .headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap());
            Ok(response)
        }
        "/hang" => std::future::pending().await,
        // An app that answers CORS for everyone, credentials included.
        "/open-cors" => Ok(Response::builder()
            .header("access-control-allow-origin", "*")
            .header("access-control-allow-credentials", "true")
            .body(full(path_and_query))
            .unwrap()),
        "/ws" => {
            let key = req
                .headers()
                .get("sec-websocket-key")
                .map(|k| k.as_bytes().to_vec())
                .unwrap_or_default();
            let upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let Ok(upgraded) = upgrade.await else { return };
                let mut socket = tokio_tungstenite::WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    None,
                )
                .await;
                use futures_util::{SinkExt, StreamExt};
                while let Some(Ok(message)) = socket.next().await {
                    if (message.is_text() || message.is_binary())
                        && socket.send(message).await.is_err()
                    {
                        break;
                    }
                }
            });
            let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key);
            let response = Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("connection", "Upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-accept", accept)
                .body(full(""))
                .unwrap();
            Ok(response)
        }
        _ => Ok(Response::new(full(path_and_query))),
    }
}

/// A login service that publishes its keys, and nothing else.
pub struct Issuer {
    pub url: String,
    pub signer: Arc<HandoffSigner>,
}

impl Issuer {
    pub async fn start() -> Self {
        let signer = Arc::new(HandoffSigner::new(SigningKey::generate(), vec![]));
        let jwks = serde_json::to_string(signer.jwks()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let jwks = jwks.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |_req: Request<Incoming>| {
                        let jwks = jwks.clone();
                        async move {
                            let mut response = Response::new(Full::new(Bytes::from(jwks)));
                            response
                                .headers_mut()
                                .insert("content-type", "application/json".parse().unwrap());
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, signer }
    }

    /// A valid handoff token for the gate's app.
    pub fn token(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        self.signer
            .sign(&HandoffClaims {
                iss: self.url.as_str().into(),
                aud: APP.into(),
                sub: "subject-1234".into(),
                email: "alice@example.com".into(),
                name: None,
                sid: "session-1".into(),
                iat: now,
                nbf: now,
                exp: now + 600,
                jti: "jti-1".into(),
            })
            .unwrap()
    }
}

/// The gate, the upstream and the issuer, each on its own loopback port.
pub struct Stack {
    pub gate: SocketAddr,
    pub upstream: Arc<UpstreamState>,
    pub issuer: Issuer,
}

impl Stack {
    /// With `extra` settings over cookie delivery on the app's own host
    /// and no revocation feed.
    pub async fn start(extra: &[(&str, &str)]) -> Self {
        let (upstream_address, upstream) = start_upstream().await;
        let upstream_url = format!("http://{upstream_address}");
        Self::start_with_upstream(&upstream_url, upstream, extra).await
    }

    pub async fn start_with_upstream(
        upstream_url: &str,
        upstream: Arc<UpstreamState>,
        extra: &[(&str, &str)],
    ) -> Self {
        let issuer = Issuer::start().await;
        let mut vars: Vec<(String, String)> = [
            ("UPSTREAM_URL", upstream_url),
            ("APP_URL", APP),
            ("AUTH_URL", issuer.url.as_str()),
            ("HANDOFF_DELIVERY", "cookie"),
            ("REVOCATION_POLL_INTERVAL", "off"),
            ("BIND_ADDRESS", "127.0.0.1"),
            ("PORT", "0"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        vars.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let settings = Settings::from_env(&Env::from_map(vars)).expect("valid settings");
        let application = Application::build(settings).await.expect("the gate starts");
        let gate = SocketAddr::from(([127, 0, 0, 1], application.port()));
        tokio::spawn(application.run_until_stopped());
        Self {
            gate,
            upstream,
            issuer,
        }
    }

    /// The `Cookie` header of a signed-in browser.
    pub fn cookie(&self) -> String {
        format!("Cookie: __Host-handoff={}\r\n", self.issuer.token())
    }
}

/// An answer read off the wire.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Sends `head` (request line and headers, each ending in CRLF, without
/// the blank line) and `body` as written, with `Connection: close`, and
/// reads the whole answer.
pub async fn raw(gate: SocketAddr, head: &str, body: &[u8]) -> Raw {
    let mut stream = TcpStream::connect(gate).await.unwrap();
    let mut request = head.as_bytes().to_vec();
    request.extend_from_slice(b"Connection: close\r\n\r\n");
    request.extend_from_slice(body);
    stream.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    Raw {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

//! A service's URL: a stable loopback address, kept across revisions,
//! that sends each request to the revision serving traffic, as Cloud Run's
//! front end does:
//!
//! - the client's address is appended to `X-Forwarded-For` and
//!   `X-Forwarded-Proto` says how the client connected
//!   (<https://cloud.google.com/functions/docs/reference/headers>, the
//!   headers Cloud Run's Google front end adds);
//! - hop-by-hop headers are not forwarded (RFC 9110 §7.6.1);
//! - a request longer than the revision's `timeoutSeconds` gets `504`
//!   (<https://cloud.google.com/run/docs/configuring/request-timeout>);
//! - the CPU is held for the instance while a request is in flight
//!   ([`super::cpu`]);
//! - with the Invoker IAM check on (Cloud Run's default; off only with
//!   the service annotation `run.googleapis.com/invoker-iam-disabled:
//!   "true"`, <https://cloud.google.com/run/docs/authenticating/public>)
//!   a caller needs `roles/run.invoker`, which the emulator grants no one
//!   (no IAM policy is emulated): every request gets Cloud Run's `403`
//!   (*"Error: Forbidden. Your client does not have permission to get URL"*,
//!   <https://cloud.google.com/run/docs/troubleshooting>)
//!   and never reaches the instance.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

use super::instance::Instance;

const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Where a service's traffic goes.
pub struct Target {
    pub instance: Arc<Instance>,
    pub request_timeout: Duration,
}

/// One request the front end passed on (path only: queries can hold codes).
#[derive(Debug, Clone)]
pub struct Served {
    pub path: String,
    pub status: u16,
    pub revision: String,
    pub started: Instant,
    pub finished: Instant,
}

pub struct Route {
    target: RwLock<Option<Arc<Target>>>,
    served: Mutex<Vec<Served>>,
    invoker_iam_check: AtomicBool,
    refused: Mutex<Vec<String>>,
}

impl Default for Route {
    fn default() -> Self {
        Self {
            target: RwLock::default(),
            served: Mutex::default(),
            // Cloud Run enforces the check by default.
            invoker_iam_check: AtomicBool::new(true),
            refused: Mutex::default(),
        }
    }
}

impl Route {
    pub fn set_invoker_iam_check(&self, on: bool) {
        self.invoker_iam_check.store(on, Ordering::Release);
    }

    pub fn invoker_iam_check(&self) -> bool {
        self.invoker_iam_check.load(Ordering::Acquire)
    }

    /// Paths of the requests the Invoker IAM check refused.
    pub fn refused(&self) -> Vec<String> {
        self.refused.lock().unwrap().clone()
    }

    pub fn current(&self) -> Option<Arc<Target>> {
        self.target.read().unwrap().clone()
    }

    /// Sends new requests to `target`; returns the previous one.
    pub fn switch(&self, target: Option<Arc<Target>>) -> Option<Arc<Target>> {
        std::mem::replace(&mut *self.target.write().unwrap(), target)
    }

    pub fn served(&self) -> Vec<Served> {
        self.served.lock().unwrap().clone()
    }
}

pub struct Front {
    pub route: Arc<Route>,
    pub handle: ServerHandle,
}

/// Serves `route` on `listener`.
pub fn start(listener: TcpListener, route: Arc<Route>) -> std::io::Result<Front> {
    // A fresh connection per request: a kept-alive one could have been
    // closed by the instance the moment it was thawed.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .expect("the front end's client builds");
    let data = (route.clone(), client);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(data.clone()))
            .app_data(web::PayloadConfig::new(8 * 1024 * 1024))
            .default_service(web::to(forward))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(Front { route, handle })
}

fn plain(status: StatusCode, text: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain")
        .body(text.to_owned())
}

async fn forward(
    request: HttpRequest,
    body: web::Bytes,
    data: web::Data<(Arc<Route>, reqwest::Client)>,
) -> HttpResponse {
    let (route, client) = (&data.0, &data.1);
    if route.invoker_iam_check() {
        route
            .refused
            .lock()
            .unwrap()
            .push(request.path().to_owned());
        return HttpResponse::Forbidden().content_type("text/html").body(format!(
            "<html><head><title>403 Forbidden</title></head><body><h1>Error: Forbidden</h1>\n<h2>Your client does not have permission to get URL <code>{}</code> from this server.</h2></body></html>",
            html_escape(request.path())
        ));
    }
    let Some(target) = route.current() else {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable: no revision is serving traffic",
        );
    };
    let started = Instant::now();
    let response = {
        let _cpu = target.instance.cpu.enter();
        send(&request, body, &target, client).await
    };
    route.served.lock().unwrap().push(Served {
        path: request.path().to_owned(),
        status: response.status().as_u16(),
        revision: target.instance.revision.clone(),
        started,
        finished: Instant::now(),
    });
    response
}

async fn send(
    request: &HttpRequest,
    body: web::Bytes,
    target: &Target,
    client: &reqwest::Client,
) -> HttpResponse {
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("http://127.0.0.1:{}{path}", target.instance.port);
    let method = reqwest::Method::from_bytes(request.method().as_str().as_bytes())
        .unwrap_or(reqwest::Method::GET);
    let mut outgoing = client.request(method, url).timeout(target.request_timeout);
    let mut forwarded_for = Vec::new();
    for (name, value) in request.headers() {
        let name = name.as_str();
        if name == "x-forwarded-for" {
            forwarded_for.push(String::from_utf8_lossy(value.as_bytes()).into_owned());
        } else if !HOP_BY_HOP.contains(&name) && name != "x-forwarded-proto" {
            outgoing = outgoing.header(name, value.as_bytes());
        }
    }
    if let Some(peer) = request.peer_addr() {
        forwarded_for.push(peer.ip().to_string());
    }
    outgoing = outgoing
        .header("x-forwarded-for", forwarded_for.join(", "))
        .header("x-forwarded-proto", "http")
        .body(body.to_vec());
    let answer = match outgoing.send().await {
        Ok(answer) => answer,
        Err(e) if e.is_timeout() => {
            return plain(StatusCode::GATEWAY_TIMEOUT, "upstream request timeout")
        }
        Err(_) => return plain(StatusCode::SERVICE_UNAVAILABLE, "upstream connect error"),
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut reply = HttpResponse::build(status);
    for (name, value) in answer.headers() {
        if HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            reply.append_header((n, v));
        }
    }
    match answer.bytes().await {
        Ok(bytes) => reply.body(bytes.to_vec()),
        Err(_) => plain(StatusCode::BAD_GATEWAY, "upstream reset the response"),
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

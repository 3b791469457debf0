//! One request through the gate: the path policy, the gate's own routes,
//! authentication through `handoff_guard`'s gate (the one path every Rust
//! app verifies through too), then the request forwarded to the upstream
//! with its body streamed, and the answer streamed back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use handoff_guard::{Guard, Principal, RequestHead};
use http::header::{HeaderValue, CONTENT_LENGTH, HOST};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use service_kit::rate_limit::{Limit, RateLimiter};
use service_kit::telemetry::RequestLog;
use tokio::sync::oneshot;

use crate::answer::{self, Failure, GateBody};
use crate::body::LimitedBody;
use crate::cors::Cors;
use crate::headers::{is_websocket_upgrade, strip_hop_by_hop, Forwarding, IdentityHeaders};
use crate::paths::{self, PublicPaths, HEALTH_PATH, RESERVED_PREFIX};
use crate::settings::Settings;
use crate::upstream::{Outcome, Upstream};

/// Everything a request needs, shared by every connection.
pub struct Proxy {
    guard: Guard,
    upstream: Upstream,
    public_paths: PublicPaths,
    max_body_bytes: u64,
    response_timeout: Duration,
    forwarding: Forwarding,
    identity: IdentityHeaders,
    cors: Option<Cors>,
    request_log: RequestLog,
    /// Visits of `/auth/handoff` per client (see
    /// [`Settings::handoff_per_minute`]).
    handoff_limit: Arc<RateLimiter>,
}

impl Proxy {
    /// The proxy for `settings`, verifying with `guard`.
    pub fn new(settings: &Settings, guard: Guard, upstream: Upstream) -> Self {
        Self {
            guard,
            upstream,
            public_paths: settings.public_paths.clone(),
            max_body_bytes: settings.max_body_bytes,
            response_timeout: settings.timeouts.response,
            forwarding: Forwarding {
                trusted_proxy_hops: settings.trusted_proxy_hops,
            },
            identity: settings.identity.clone(),
            cors: Cors::new(&settings.cors_origins),
            request_log: RequestLog::new(Arc::new(handoff_guard::SystemClock)),
            handoff_limit: RateLimiter::new(
                "handoff",
                Limit::per_minute(settings.handoff_per_minute),
                settings.trusted_proxy_hops,
            ),
        }
    }

    /// Answers `req` from `peer`, and writes its request line.
    pub async fn serve(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<GateBody> {
        let started = Instant::now();
        let method = req.method().clone();
        // The path alone: a query may hold a one-time code.
        let path = req.uri().path().to_owned();
        let response = self.route(req, peer).await;
        let status = response.status().as_u16();
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        self.request_log.write_summaries();
        if status < 400 && !service_kit::telemetry::all_requests() {
            tracing::debug!(%method, %path, status, latency_ms, "request");
        } else if self.request_log.writes(status) {
            tracing::info!(%method, %path, status, latency_ms, "request");
        }
        service_kit::telemetry::write_out_pending();
        response
    }

    async fn route(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<GateBody> {
        let wants_html = req.wants_html();
        if let Err(refusal) = paths::check(req.uri().path()) {
            tracing::debug!(reason = refusal.reason(), "request path refused");
            return Failure::BadPath.response(wants_html);
        }
        if req.uri().path().starts_with(RESERVED_PREFIX) {
            return self.own_route(req, peer).await;
        }
        let Some(cors) = &self.cors else {
            return self.forward(req, peer).await;
        };
        // Answered here, unauthenticated: a preflight carries no credentials.
        if Cors::is_preflight(req.method(), req.headers()) {
            return cors.preflight(req.headers());
        }
        let allowed = cors.allowed(req.headers());
        let mut response = self.forward(req, peer).await;
        cors.decorate(allowed, response.headers_mut());
        response
    }

    /// Authenticates a request on a path the app serves and forwards it.
    async fn forward(&self, mut req: Request<Incoming>, peer: SocketAddr) -> Response<GateBody> {
        let wants_html = req.wants_html();
        if declared_length(&req).is_some_and(|length| length > self.max_body_bytes) {
            return Failure::TooLarge.response(wants_html);
        }
        let upgrade = req.method() == Method::GET
            && req.version() == Version::HTTP_11
            && is_websocket_upgrade(req.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        let principal = if self.public_paths.matches(parts.uri.path()) {
            None
        } else {
            match self.guard.gate().authenticate(&parts).await {
                Ok(principal) => Some(principal),
                Err(refusal) => return answer::refused(&refusal),
            }
        };
        // Read before the headers it comes from are touched: the token the
        // gate just verified, a person's only (see docs/gate.md).
        let assertion = match &principal {
            Some(Principal::Person(person)) => self
                .guard
                .gate()
                .handoff_token(&parts, person.via)
                .map(HeaderValue::from_str),
            _ => None,
        };
        let host = parts
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()));
        strip_hop_by_hop(&mut parts.headers, upgrade);
        self.identity.strip(&mut parts.headers);
        self.forwarding
            .apply(&mut parts.headers, peer.ip(), host.as_deref());
        if let Some(principal) = &principal {
            if self
                .set_identity(&mut parts.headers, principal, assertion)
                .is_err()
            {
                tracing::warn!("an identity that cannot be a header value; request not forwarded");
                return Failure::Internal.response(wants_html);
            }
        }
        if !parts.headers.contains_key(HOST) {
            // HTTP/2 carries the host in the URI; the upstream speaks HTTP/1.1.
            if let Some(value) = host.and_then(|h| HeaderValue::from_str(&h).ok()) {
                parts.headers.insert(HOST, value);
            }
        }
        // The exact path (and query) that was checked and matched.
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/");
        parts.uri = match self.upstream.uri(path_and_query) {
            Some(uri) => uri,
            None => return Failure::BadPath.response(wants_html),
        };
        parts.version = Version::HTTP_11;
        let exceeded = Arc::new(AtomicBool::new(false));
        let (sent, body_sent) = oneshot::channel();
        let body = LimitedBody::new(body, self.max_body_bytes, exceeded.clone(), sent).boxed();
        let outcome = self
            .upstream
            .send(
                Request::from_parts(parts, body),
                body_sent,
                self.response_timeout,
            )
            .await;
        let mut response = match outcome {
            Outcome::Answered(response) => response,
            Outcome::Failed(_) if exceeded.load(Ordering::Relaxed) => {
                return Failure::TooLarge.response(wants_html)
            }
            Outcome::Failed(reason) => {
                tracing::warn!(%reason, "the upstream failed");
                return Failure::BadGateway.response(wants_html);
            }
            Outcome::TimedOut(what) => {
                tracing::warn!(what, "the upstream timed out");
                return Failure::GatewayTimeout.response(wants_html);
            }
        };
        let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
        match client_upgrade {
            Some(client) if switching => {
                let upstream = hyper::upgrade::on(&mut response);
                tokio::spawn(tunnel(client, upstream));
            }
            _ if switching => {
                // A 101 to a request that asked for no WebSocket: nothing
                // the gate can pass on.
                tracing::warn!("the upstream switched protocols unasked");
                return Failure::BadGateway.response(wants_html);
            }
            _ => {}
        }
        strip_hop_by_hop(response.headers_mut(), switching);
        response.map(|body| body.map_err(Into::into).boxed())
    }

    /// The identity headers for `principal` (see docs/gate.md).
    fn set_identity(
        &self,
        headers: &mut http::HeaderMap,
        principal: &Principal,
        assertion: Option<Result<HeaderValue, http::header::InvalidHeaderValue>>,
    ) -> Result<(), http::header::InvalidHeaderValue> {
        let (email, subject) = match principal {
            Principal::Person(person) => (person.email.as_str(), person.subject.as_str()),
            Principal::Service(service) => (service.email.as_str(), service.subject.as_str()),
        };
        headers.insert(
            self.identity.email.clone(),
            HeaderValue::from_bytes(email.as_bytes())?,
        );
        headers.insert(
            self.identity.user.clone(),
            HeaderValue::from_bytes(subject.as_bytes())?,
        );
        if let Some(assertion) = assertion {
            headers.insert(self.identity.assertion.clone(), assertion?);
        }
        Ok(())
    }

    /// The routes under [`RESERVED_PREFIX`]: health, and with code
    /// delivery the four the login service sends browsers to.
    async fn own_route(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<GateBody> {
        let wants_html = req.wants_html();
        let path = req.uri().path();
        let method = req.method();
        if path == HEALTH_PATH {
            return match *method {
                Method::GET | Method::HEAD => answer::healthy(),
                _ => Failure::MethodNotAllowed.response(wants_html),
            };
        }
        let Some(redemption) = self.guard.redemption() else {
            return Failure::NotFound.response(wants_html);
        };
        let (parts, _body) = req.into_parts();
        if parts.uri.path() == handoff_guard::HANDOFF_PATH {
            let forwarded_for = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok());
            let client = self
                .handoff_limit
                .client_of(Some(peer.ip()), forwarded_for)
                .unwrap_or(peer.ip());
            if let Err(wait) = self.handoff_limit.check(client, Instant::now()) {
                tracing::warn!(route = self.handoff_limit.name(), "rate limited");
                return Failure::TooManyRequests(wait.as_secs()).response(wants_html);
            }
        }
        let reply = match (parts.uri.path(), &parts.method) {
            (handoff_guard::START_PATH, &Method::GET) => redemption.start(&parts),
            (handoff_guard::HANDOFF_PATH, &Method::GET) => redemption.handoff(&parts).await,
            (handoff_guard::LOGOUT_PATH, &Method::POST) => redemption.logout(&parts).await,
            (handoff_guard::SIGNED_OUT_PATH, &Method::GET) => redemption.signed_out(&parts).await,
            (path, _) if paths::REDEMPTION_PATHS.contains(&path) => {
                return Failure::MethodNotAllowed.response(wants_html)
            }
            _ => return Failure::NotFound.response(wants_html),
        };
        answer::reply(reply)
    }
}

/// The `Content-Length` a request declares, if it declares one.
fn declared_length(req: &Request<Incoming>) -> Option<u64> {
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Passes bytes both ways between the client and the upstream once both
/// have switched to WebSocket, until either side closes.
async fn tunnel(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(both) => both,
        Err(e) => {
            tracing::debug!(error = %e, "a WebSocket upgrade did not complete");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(error = %e, "a WebSocket connection ended with an error");
    }
}

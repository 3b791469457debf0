//! The tower adapter of the gate ([`HandoffGate`]): a [`Layer`] that
//! authenticates every request and puts the verified [`Principal`] in its
//! extensions, for services built on hyper, tonic or anything else that
//! speaks tower with the `http` crate's types.
//!
//! It never redirects: a refused request gets `401` with
//! `WWW-Authenticate` (`503` with `Retry-After` while no key can be had),
//! with an empty body; a gRPC request (`content-type: application/grpc…`)
//! gets gRPC's `UNAUTHENTICATED` (`UNAVAILABLE`) as a trailers-only
//! answer, as the gRPC-over-HTTP/2 protocol has it. Which principal may
//! call what is the service's to decide, from the extension.
//!
//! ```
//! use std::sync::Arc;
//! use handoff_guard::tower::HandoffLayer;
//! use handoff_guard::HandoffGate;
//!
//! fn layer(gate: Arc<HandoffGate>) -> HandoffLayer {
//!     // tower::ServiceBuilder::new().layer(layer(gate)).service(my_service)
//!     HandoffLayer::new(gate)
//! }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use crate::gate::{HandoffGate, Principal, Unauthenticated};
use crate::request_head::RequestHead;

/// Authenticates every request with the gate; see the module docs.
#[derive(Clone)]
pub struct HandoffLayer {
    gate: Arc<HandoffGate>,
}

impl HandoffLayer {
    /// A layer over `gate`.
    pub fn new(gate: Arc<HandoffGate>) -> Self {
        Self { gate }
    }
}

impl<S> Layer<S> for HandoffLayer {
    type Service = Handoff<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Handoff {
            gate: self.gate.clone(),
            inner,
        }
    }
}

/// The service [`HandoffLayer`] wraps around the inner one.
#[derive(Clone)]
pub struct Handoff<S> {
    gate: Arc<HandoffGate>,
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Handoff<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready serves this request (tower's
        // rule); the fresh clone stays for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let gate = self.gate.clone();
        // Only the head is read (and held across the key fetch, which a
        // body need not survive being shared for).
        let (mut head, body) = request.into_parts();
        Box::pin(async move {
            match gate.authenticate(&head).await {
                Ok(principal) => {
                    head.extensions.insert::<Principal>(principal);
                    inner.call(Request::from_parts(head, body)).await
                }
                Err(refusal) => Ok(refused(&head, &refusal)),
            }
        })
    }
}

/// The answer to a refused request: HTTP `401`/`503`, or gRPC's status.
fn refused<ResBody: Default>(
    request: &http::request::Parts,
    refusal: &Unauthenticated,
) -> Response<ResBody> {
    let unavailable = refusal.is_unavailable();
    let mut response = Response::new(ResBody::default());
    let grpc = request
        .header_values("content-type")
        .next()
        .is_some_and(|kind| kind.starts_with(b"application/grpc"));
    if !grpc {
        *response.status_mut() = if unavailable {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::UNAUTHORIZED
        };
    }
    let headers = response.headers_mut();
    if grpc {
        // gRPC's codes: UNAUTHENTICATED is 16, UNAVAILABLE is 14.
        let code = if unavailable { "14" } else { "16" };
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from_static(code));
        headers.insert(
            "grpc-message",
            HeaderValue::from_static(if unavailable {
                "sign-in%20cannot%20be%20checked%20right%20now"
            } else {
                "not%20signed%20in"
            }),
        );
        return response;
    }
    if unavailable {
        headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
    } else {
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="app", error="invalid_token""#),
        );
    }
    response
}

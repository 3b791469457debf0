//! The axum adapter of the gate ([`crate::gate`]): [`SignedInUser`],
//! [`ServiceCaller`] and [`Principal`] are extractors, and
//! [`Unauthenticated`] is the rejection, answered as every adapter answers
//! (a redirect to sign in for a browser's page, `401` with JSON
//! otherwise, `403` for the wrong kind of caller, `503` while no key can
//! be had).
//!
//! The gate comes from the router's state: any state from which an
//! `Arc<HandoffGate>` can be had (`FromRef`), the gate itself included.
//! A request that already went through the [`tower`](crate::tower) layer
//! carries its [`Principal`], which is taken as it is.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{routing::get, Router};
//! use handoff_guard::{HandoffGate, SignedInUser};
//!
//! async fn me(user: SignedInUser) -> String {
//!     format!("hello {}", user.email())
//! }
//!
//! fn app(gate: Arc<HandoffGate>) -> Router {
//!     Router::new().route("/", get(me)).with_state(gate)
//! }
//! ```

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Response};
use http::header::{HeaderName, HeaderValue};
use http::request::Parts;
use http::StatusCode;

use crate::gate::{HandoffGate, Principal, ServiceCaller, SignedInUser, Unauthenticated};

impl<S> FromRequestParts<S> for Principal
where
    S: Send + Sync,
    Arc<HandoffGate>: FromRef<S>,
{
    type Rejection = Unauthenticated;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let gate = Arc::<HandoffGate>::from_ref(state);
        gate.authenticate(&*parts).await
    }
}

impl<S> FromRequestParts<S> for SignedInUser
where
    S: Send + Sync,
    Arc<HandoffGate>: FromRef<S>,
{
    type Rejection = Unauthenticated;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Principal::from_request_parts(parts, state).await?.person()
    }
}

impl<S> FromRequestParts<S> for ServiceCaller
where
    S: Send + Sync,
    Arc<HandoffGate>: FromRef<S>,
{
    type Rejection = Unauthenticated;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Principal::from_request_parts(parts, state).await?.service()
    }
}

impl IntoResponse for Unauthenticated {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.body()).into_response();
        let headers = response.headers_mut();
        for (name, value) in self.headers() {
            match HeaderValue::try_from(value) {
                Ok(value) => {
                    headers.insert(HeaderName::from_static(name), value);
                }
                Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
        response
    }
}

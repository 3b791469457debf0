//! The axum adapter of the gate ([`HandoffGate`]): [`SignedInUser`],
//! [`ServiceCaller`] and [`Principal`] are extractors, and
//! [`Unauthenticated`] is the rejection, answered as every adapter answers
//! (a redirect to sign in for a browser's page, `401` with JSON
//! otherwise, `403` for the wrong kind of caller, `503` while no key can
//! be had).
//!
//! The gate comes from the router's state: any state from which an
//! `Arc<HandoffGate>` can be had (`FromRef`), the gate itself included.
//! A request that already went through the `tower` layer (`HandoffLayer`)
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
use crate::handoff_code::CodeRedemption;

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

/// The code-redemption routes (`/auth/start`, `/auth/handoff`,
/// `/auth/logout`, `/auth/signed-out`) for a router whose state holds the
/// [`CodeRedemption`]; [`crate::Guard::routes`] gives them with the guard.
pub fn code_redemption_routes<S>() -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
    Option<Arc<CodeRedemption>>: FromRef<S>,
{
    use axum::extract::{Request, State};
    use axum::routing::{get, post};

    use crate::handoff_code::{HANDOFF_PATH, LOGOUT_PATH, SIGNED_OUT_PATH, START_PATH};

    type Redemption = State<Option<Arc<CodeRedemption>>>;
    axum::Router::new()
        .route(
            START_PATH,
            get(|State(r): Redemption, req: Request| {
                answer(r, req, |r, head| async move { r.start(&head) })
            }),
        )
        .route(
            HANDOFF_PATH,
            get(|State(r): Redemption, req: Request| {
                answer(r, req, |r, head| async move { r.handoff(&head).await })
            }),
        )
        .route(
            LOGOUT_PATH,
            post(|State(r): Redemption, req: Request| {
                answer(r, req, |r, head| async move { r.logout(&head).await })
            }),
        )
        .route(
            SIGNED_OUT_PATH,
            get(|State(r): Redemption, req: Request| {
                answer(r, req, |r, head| async move { r.signed_out(&head).await })
            }),
        )
}

/// Runs `route` on the request's head (the body is never read), or `404`
/// when the routes were mounted without a [`CodeRedemption`].
async fn answer<F, Fut>(
    redemption: Option<Arc<CodeRedemption>>,
    req: axum::extract::Request,
    route: F,
) -> Response
where
    F: FnOnce(Arc<CodeRedemption>, Parts) -> Fut,
    Fut: std::future::Future<Output = crate::page::Reply>,
{
    let (head, _) = req.into_parts();
    match redemption {
        Some(redemption) => route(redemption, head).await.into_response(),
        None => {
            tracing::error!("code-redemption routes mounted without a CodeRedemption");
            StatusCode::NOT_FOUND.into_response()
        }
    }
}

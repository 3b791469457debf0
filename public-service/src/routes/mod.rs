//! HTTP routes of the public service, one module per route.

pub mod account_sessions;
pub mod app_sign_out;
pub mod backchannel_logout;
pub mod broker;
pub mod callback;
pub mod health;
pub mod jwks;
pub mod login;
pub mod logout;
pub mod redeem;
pub mod renew;
pub mod revocations;
pub mod start;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use std::sync::Arc;

use handoff_guard::login_service::CallerAccount as ServiceCaller;
use service_kit::rate_limit::CallerLimiter;

use crate::state::AppState;

/// Longest query parameter value read; longer ones are refused.
pub const MAX_PARAM_LEN: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query repeats a parameter")]
    Repeated,
    #[error("a query parameter is too long")]
    TooLong,
}

/// One query parameter; repeated parameters are refused rather than
/// resolved, so two parsers can never disagree about which one counts.
pub fn query_param(req: &HttpRequest, name: &str) -> Result<Option<String>, QueryError> {
    let mut found = None;
    for (key, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        if key != name {
            continue;
        }
        if found.is_some() {
            return Err(QueryError::Repeated);
        }
        if value.len() > MAX_PARAM_LEN {
            return Err(QueryError::TooLong);
        }
        found = Some(value.into_owned());
    }
    Ok(found)
}

/// A back-channel route's JSON body read as `T`, only when it is one JSON
/// object: serde's derived readers also take an array of the fields'
/// values, which no other reader of the body would take for them.
pub fn json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return None;
    }
    serde_json::from_slice(body).ok()
}

/// A JSON answer of a back-channel route; never cached.
pub fn json_answer(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(body)
}

/// `503` with `Retry-After`, for a back-channel caller.
pub fn temporarily_unavailable() -> HttpResponse {
    let mut response = json_answer(
        StatusCode::SERVICE_UNAVAILABLE,
        serde_json::json!({ "error": "temporarily_unavailable", "message": "Try again shortly." }),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// The back channel's rate limits, per authenticated caller: the callers
/// (apps on Cloud Run, say) often leave through addresses they share with
/// others, so a limit per address would let anyone behind the same address
/// (or anyone who makes an app redeem junk) use up theirs. Redemptions and
/// the broker have budgets of their own.
pub struct BackChannelLimits {
    pub redeem: Arc<CallerLimiter>,
    pub broker: Arc<CallerLimiter>,
}

/// The `429` answer when `caller` is over its budget in the limiter `pick`
/// chooses; `None` while it is within it.
pub fn over_caller_limit(
    req: &HttpRequest,
    pick: fn(&BackChannelLimits) -> &CallerLimiter,
    caller: &str,
) -> Option<HttpResponse> {
    let limits = req.app_data::<actix_web::web::Data<BackChannelLimits>>()?;
    let limiter = pick(limits);
    limiter
        .check_caller(caller, std::time::Instant::now())
        .err()
        .map(|wait| limiter.refusal(wait))
}

/// The app's service account calling one of the apps' back-channel
/// routes, or the answer that refuses the call.
pub async fn app_caller(
    req: &HttpRequest,
    state: &AppState,
) -> Result<ServiceCaller, HttpResponse> {
    let Some(callers) = &state.app_callers else {
        return Err(json_answer(
            StatusCode::NOT_FOUND,
            serde_json::json!({
                "error": "not_found",
                "message": "No app service accounts are configured.",
            }),
        ));
    };
    callers
        .authenticate(req)
        .await
        .map_err(|e| e.error_response())
}

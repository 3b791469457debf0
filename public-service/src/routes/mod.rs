//! HTTP routes of the public service, one module per route; [`table`]
//! lists them all with the check each gets.

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
pub mod sign_in_query;
pub mod start;
pub mod table;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use crate::apps::ReturnTo;
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

/// `return_to`, or `state` when the provider's end-session endpoint sent
/// the browser back (it carries `return_to`); a registered app either way.
pub fn requested_return_to(req: &HttpRequest, state: &AppState) -> ReturnTo {
    let param = |name: &str| query_param(req, name).ok().flatten();
    param("return_to")
        .or_else(|| param("state"))
        .and_then(|raw| state.apps.return_to(&raw).ok())
        .unwrap_or_else(|| state.apps.default_return_to())
}

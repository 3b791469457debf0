//! The service's HTTP vocabulary, below the routes and their checks:
//! exact query parameters, JSON bodies and answers, and the paths pages
//! link to.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

/// The page that lists a person's sessions (`routes::account_sessions`).
pub const SESSIONS_PAGE: &str = "/account/sessions";

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
    let [param] = query_params(req, [name]);
    param
}

/// Several query parameters, each as [`query_param`] reads it, in one
/// pass over the query: a route that reads several parameters one by one
/// decodes the whole query once per parameter (on `/login`, four passes
/// were a tenth of the request's instructions).
pub fn query_params<const N: usize>(
    req: &HttpRequest,
    names: [&str; N],
) -> [Result<Option<String>, QueryError>; N] {
    let mut found: [Result<Option<String>, QueryError>; N] = std::array::from_fn(|_| Ok(None));
    for (key, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        let Some(i) = names.iter().position(|name| key == *name) else {
            continue;
        };
        // The first refusal stands, as `query_param` stops at it.
        found[i] = match &found[i] {
            Err(e) => Err(*e),
            Ok(Some(_)) => Err(QueryError::Repeated),
            Ok(None) if value.len() > MAX_PARAM_LEN => Err(QueryError::TooLong),
            Ok(None) => Ok(Some(value.into_owned())),
        };
    }
    found
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

//! The answers the gate writes itself: its failures (a page for a
//! browser, JSON otherwise), the library's refusals and replies, health.
//! None names the upstream's address or quotes an error's text: what went
//! wrong goes to the log line, not to the client.

use bytes::Bytes;
use handoff_guard::{Reply, Unauthenticated};
use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};

use crate::body::BoxError;

/// Every response body of the gate: its own, or the upstream's streamed.
pub type GateBody = BoxBody<Bytes, BoxError>;

/// A body of `bytes`, sent whole.
pub fn full(bytes: impl Into<Bytes>) -> GateBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// No body.
pub fn empty() -> GateBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// What the gate could not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The path is not one the gate takes (see [`crate::paths`]).
    BadPath,
    /// The request body is over `MAX_BODY_BYTES`.
    TooLarge,
    /// The upstream refused the connection, or failed mid-answer.
    BadGateway,
    /// The upstream did not connect or answer in time.
    GatewayTimeout,
    /// A gate route that does not exist.
    NotFound,
    /// A gate route called with the wrong method.
    MethodNotAllowed,
    /// The identity could not be put in a header (never expected).
    Internal,
    /// Over a rate limit: the seconds until the next request may pass.
    TooManyRequests(u64),
}

impl Failure {
    fn parts(self) -> (StatusCode, &'static str, &'static str, &'static str) {
        match self {
            Self::BadPath => (
                StatusCode::BAD_REQUEST,
                "bad_request",
                "Bad request",
                "This address is not one this site accepts.",
            ),
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Too large",
                "What was sent is larger than this site accepts.",
            ),
            Self::BadGateway => (
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "The app is not answering",
                "The app behind this sign-in did not answer properly. Please try again in a moment.",
            ),
            Self::GatewayTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "gateway_timeout",
                "The app is taking too long",
                "The app behind this sign-in did not answer in time. Please try again in a moment.",
            ),
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "Not found",
                "There is nothing at this address.",
            ),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Not allowed",
                "This address does not take this kind of request.",
            ),
            Self::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Something went wrong",
                "This request could not be passed on. Please try again.",
            ),
            Self::TooManyRequests(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
                "Too many sign-ins from here in a short time. Please wait a minute and try again.",
            ),
        }
    }

    /// The answer: a page when the client asked for HTML, JSON otherwise.
    pub fn response(self, wants_html: bool) -> Response<GateBody> {
        let (status, code, title, message) = self.parts();
        let (kind, body) = if wants_html {
            (
                "text/html; charset=utf-8",
                format!(
                    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
                     <body><h1>{title}</h1><p>{message}</p></body></html>"
                ),
            )
        } else {
            (
                "application/json",
                serde_json::json!({ "error": code, "message": message }).to_string(),
            )
        };
        let mut response = Response::new(full(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Self::TooManyRequests(seconds) = self {
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

/// The gate's liveness answer.
pub fn healthy() -> Response<GateBody> {
    let mut response = Response::new(full(r#"{"status":"ok"}"#));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The library's refusal, as every adapter sends it.
pub fn refused(refusal: &Unauthenticated) -> Response<GateBody> {
    with_headers(refusal.status(), refusal.headers(), refusal.body())
}

/// A code-redemption route's reply.
pub fn reply(reply: Reply) -> Response<GateBody> {
    with_headers(reply.status, reply.headers, reply.body)
}

fn with_headers(
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
) -> Response<GateBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in headers {
        // The library's own names and values: one that is not a header
        // would be a bug there, and is left out rather than sent.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_are_a_page_for_browsers_and_json_otherwise() {
        let page = Failure::BadGateway.response(true);
        assert_eq!(page.status(), 502);
        assert!(page.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let body = page.into_body().collect().await.unwrap().to_bytes();
        assert!(std::str::from_utf8(&body)
            .unwrap()
            .contains("<h1>The app is not answering</h1>"));
        let json = Failure::GatewayTimeout.response(false);
        assert_eq!(json.status(), 504);
        let body = json.into_body().collect().await.unwrap().to_bytes();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["error"], "gateway_timeout");
    }
}

//! CORS for the origins of `CORS_ALLOWED_ORIGINS` (a Chrome extension's
//! `chrome-extension://<id>`), when it lists any. The gate then owns CORS
//! for every path it forwards:
//!
//! - a preflight (`OPTIONS` with `Origin` and
//!   `Access-Control-Request-Method`) is answered by the gate, before
//!   authentication (a browser sends no credentials with one, Fetch
//!   standard, "CORS-preflight request"): `204` with the CORS headers for a
//!   listed origin, `403` without any for every other; it never reaches
//!   the app;
//! - every other answer loses whatever `Access-Control-*` headers the app
//!   set, gains `Vary: Origin`, and for a listed origin only
//!   `Access-Control-Allow-Origin` with that exact origin (never `*`) and
//!   `Access-Control-Expose-Headers: WWW-Authenticate`, refusals included,
//!   so the extension can read a `401`;
//! - `Access-Control-Allow-Credentials` is never sent: the extension's
//!   credential is its Bearer token, and a page of another origin must
//!   not be able to make a browser send this site's cookies and read the
//!   answer.
//!
//! Origins match byte for byte, as the browser sends them (settings check
//! they are written that way); an `Origin` header sent twice matches none.
//! With the list empty the gate leaves CORS to the app.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

use crate::answer::{empty, GateBody};

/// The methods and request headers a listed origin may use.
const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";
const ALLOWED_HEADERS: &str = "authorization, content-type";
/// How long a browser may cache a preflight's answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The origins allowed to call from a browser.
#[derive(Debug, Clone)]
pub struct Cors {
    origins: Vec<String>,
}

impl Cors {
    /// CORS for `origins`; `None` when there are none (the app's business).
    pub fn new(origins: &[String]) -> Option<Self> {
        (!origins.is_empty()).then(|| Self {
            origins: origins.to_vec(),
        })
    }

    /// The request's `Origin` if it is a listed one, to echo back.
    pub fn allowed(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let mut values = headers.get_all(header::ORIGIN).iter();
        let (Some(origin), None) = (values.next(), values.next()) else {
            return None;
        };
        self.origins
            .iter()
            .any(|listed| listed.as_bytes() == origin.as_bytes())
            .then(|| origin.clone())
    }

    /// Whether a request is a CORS preflight.
    pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
        method == Method::OPTIONS
            && headers.contains_key(header::ORIGIN)
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The gate's answer to a preflight.
    pub fn preflight(&self, headers: &HeaderMap) -> Response<GateBody> {
        let mut response = Response::new(empty());
        let out = response.headers_mut();
        out.insert(header::VARY, HeaderValue::from_static("Origin"));
        out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match self.allowed(headers) {
            Some(origin) => {
                *response.status_mut() = StatusCode::NO_CONTENT;
                let out = response.headers_mut();
                out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                out.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static(ALLOWED_METHODS),
                );
                out.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static(ALLOWED_HEADERS),
                );
                out.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static(PREFLIGHT_MAX_AGE),
                );
            }
            None => {
                tracing::debug!("CORS preflight refused for an origin that is not configured");
                *response.status_mut() = StatusCode::FORBIDDEN;
            }
        }
        response
    }

    /// Puts the gate's CORS headers on an answer to a request whose listed
    /// origin is `allowed`, in place of any the app set.
    pub fn decorate(&self, allowed: Option<HeaderValue>, headers: &mut HeaderMap) {
        let theirs: Vec<header::HeaderName> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in theirs {
            headers.remove(&name);
        }
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = allowed {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("www-authenticate"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXTENSION: &str = "chrome-extension://abcdefghijklmnopabcdefghijklmnop";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn only_a_listed_origin_sent_once_and_exactly_is_allowed() {
        let cors = Cors::new(&[EXTENSION.to_owned()]).unwrap();
        assert!(cors.allowed(&headers(&[("origin", EXTENSION)])).is_some());
        for other in [
            "chrome-extension://zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
            "CHROME-EXTENSION://abcdefghijklmnopabcdefghijklmnop",
            "chrome-extension://abcdefghijklmnopabcdefghijklmnop/",
            "null",
            "*",
        ] {
            assert!(
                cors.allowed(&headers(&[("origin", other)])).is_none(),
                "{other}"
            );
        }
        assert!(cors.allowed(&headers(&[])).is_none());
        let twice = headers(&[("origin", EXTENSION), ("origin", EXTENSION)]);
        assert!(cors.allowed(&twice).is_none(), "an Origin sent twice");
        assert!(Cors::new(&[]).is_none(), "no list: the app's business");
    }

    #[test]
    fn the_app_s_own_cors_headers_are_replaced_and_never_widened() {
        let cors = Cors::new(&[EXTENSION.to_owned()]).unwrap();
        let mut answer = headers(&[
            ("access-control-allow-origin", "*"),
            ("access-control-allow-credentials", "true"),
            ("vary", "Accept"),
        ]);
        cors.decorate(None, &mut answer);
        assert!(answer.get("access-control-allow-origin").is_none());
        assert!(answer.get("access-control-allow-credentials").is_none());
        let vary: Vec<_> = answer.get_all("vary").iter().collect();
        assert_eq!(vary, ["Accept", "Origin"]);

        let mut answer = headers(&[("access-control-allow-credentials", "true")]);
        cors.decorate(Some(HeaderValue::from_static(EXTENSION)), &mut answer);
        assert_eq!(answer["access-control-allow-origin"], EXTENSION);
        assert!(answer.get("access-control-allow-credentials").is_none());
    }
}

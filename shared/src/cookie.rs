//! The handoff cookie: its names and attributes.
//!
//! Host-only cookies carry the `__Host-` prefix, which the browser only
//! accepts with `Secure`, `Path=/` and no `Domain`; cookies for a parent
//! domain carry `__Secure-`. Both are `HttpOnly` and `SameSite=Lax`, and
//! never outlive the token inside them.

use std::time::Duration;

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::http::header;
use actix_web::HttpRequest;

pub const HOST_ONLY_NAME: &str = "__Host-handoff";
pub const PARENT_DOMAIN_NAME: &str = "__Secure-handoff";

/// The cookie carrying a handoff token for `lifetime`.
/// `domain`: the shared parent domain, or `None` for a host-only cookie.
pub fn handoff_cookie(token: String, lifetime: Duration, domain: Option<&str>) -> Cookie<'static> {
    let max_age = time::Duration::seconds(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX));
    base(token, domain).max_age(max_age).finish()
}

/// A cookie that makes the browser forget the handoff cookie.
pub fn removal_cookie(domain: Option<&str>) -> Cookie<'static> {
    let mut cookie = base(String::new(), domain).finish();
    cookie.make_removal();
    cookie
}

fn base(value: String, domain: Option<&str>) -> actix_web::cookie::CookieBuilder<'static> {
    let name = if domain.is_some() {
        PARENT_DOMAIN_NAME
    } else {
        HOST_ONLY_NAME
    };
    let builder = Cookie::build(name, value)
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Lax)
        .path("/");
    match domain {
        Some(domain) => builder.domain(domain.to_owned()),
        None => builder,
    }
}

/// The handoff token a request carries, preferring the host-only cookie
/// (set by this app itself) over a parent-domain one.
///
/// Read in place from the `Cookie` headers, the first cookie of each name
/// winning as with actix's parser, but without percent-decoding and
/// copying every cookie of every request: a token has nothing to decode.
pub fn handoff_token(req: &HttpRequest) -> Option<&str> {
    [HOST_ONLY_NAME, PARENT_DOMAIN_NAME]
        .into_iter()
        .find_map(|name| cookie_value(req, name))
        .filter(|v| !v.is_empty())
}

fn cookie_value<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|h| std::str::from_utf8(h.as_bytes()).ok())
        .flat_map(|h| h.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key.trim() == name).then(|| unquoted(value.trim()).trim())
        })
}

/// A value in double quotes (RFC 6265 allows them) without them.
fn unquoted(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_only_cookie_has_the_host_prefix_and_no_domain() {
        let c = handoff_cookie("t".into(), Duration::from_secs(600), None);
        assert_eq!(c.name(), HOST_ONLY_NAME);
        assert_eq!(c.domain(), None);
        assert_eq!(c.path(), Some("/"));
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.same_site(), Some(SameSite::Lax));
        assert_eq!(c.max_age(), Some(time::Duration::seconds(600)));
    }

    #[test]
    fn the_token_is_read_from_any_cookie_header_preferring_the_host_only_cookie() {
        use actix_web::test::TestRequest;
        let token = |headers: &[&str]| {
            let mut req = TestRequest::default();
            for value in headers {
                req = req.append_header((header::COOKIE, *value));
            }
            handoff_token(&req.to_http_request()).map(str::to_owned)
        };
        assert_eq!(
            token(&["a=1; __Host-handoff=t.o.k"]).as_deref(),
            Some("t.o.k")
        );
        assert_eq!(
            token(&[
                "__Secure-handoff=parent",
                "x=\"y\"; __Host-handoff = \"own\" "
            ])
            .as_deref(),
            Some("own")
        );
        assert_eq!(
            token(&["__Host-handoff=first; __Host-handoff=second"]).as_deref(),
            Some("first")
        );
        assert_eq!(
            token(&["__Secure-handoff=parent"]).as_deref(),
            Some("parent")
        );
        assert_eq!(token(&["__Host-handoff=; __Secure-handoff=parent"]), None);
        assert_eq!(
            token(&["__host-handoff=t", "handoff=t", "__Host-handoff"]),
            None
        );
        assert_eq!(token(&[]), None);
    }

    #[test]
    fn a_parent_domain_cookie_has_the_secure_prefix_and_the_domain() {
        let c = handoff_cookie("t".into(), Duration::from_secs(60), Some("example.com"));
        assert_eq!(c.name(), PARENT_DOMAIN_NAME);
        assert_eq!(c.domain(), Some("example.com"));
    }
}

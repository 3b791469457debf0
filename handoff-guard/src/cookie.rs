//! The handoff cookie: its names and attributes.
//!
//! Host-only cookies carry the `__Host-` prefix, which the browser only
//! accepts with `Secure`, `Path=/` and no `Domain`; cookies for a parent
//! domain carry `__Secure-`. Both are `HttpOnly` and `SameSite=Lax`, and
//! never outlive the token inside them.
//!
//! A parent-domain cookie is sent to every host under the domain, so each
//! app has a name of its own there (`__Secure-handoff-` and a short hash
//! of its origin): one app's sign-in never overwrites another's token, and
//! an app reads only its own. An app reads only the name of its own mode,
//! so a sibling host cannot plant a parent-domain cookie for an app on
//! host-only cookies (cookie tossing). See `docs/security.md` for what a
//! shared parent domain still exposes.

use std::time::Duration;

use cookie::{time, Cookie, SameSite};

use crate::request_head::RequestHead;
use sha2::{Digest, Sha256};

/// The host-only cookie: set by the app itself (code delivery) or by the
/// public service on the app's own host.
pub const HOST_ONLY_NAME: &str = "__Host-handoff";
/// The start of every parent-domain cookie's name: the prefix, then 16 hex
/// digits of the SHA-256 of the app's audience, so each app on the domain
/// reads only its own cookie.
pub const PARENT_DOMAIN_PREFIX: &str = "__Secure-handoff-";

/// Where a handoff cookie lives, and so its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieScope {
    /// Host-only: [`HOST_ONLY_NAME`].
    HostOnly,
    /// For `domain` and every host under it: a name per app.
    ParentDomain {
        /// The parent domain as the cookie's `Domain` attribute, such as
        /// `example.com`: every host under it receives the cookie.
        domain: String,
    },
}

/// The parent-domain cookie name of the app whose origin (the token's
/// audience) is `audience`: `__Secure-handoff-` and 16 hex digits of its
/// SHA-256.
pub fn parent_domain_name(audience: &str) -> String {
    let digest = Sha256::digest(audience.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{PARENT_DOMAIN_PREFIX}{hex}")
}

impl CookieScope {
    /// The cookie name of the app with origin `audience` in this scope.
    pub fn name(&self, audience: &str) -> String {
        match self {
            Self::HostOnly => HOST_ONLY_NAME.to_owned(),
            Self::ParentDomain { .. } => parent_domain_name(audience),
        }
    }

    fn domain(&self) -> Option<&str> {
        match self {
            Self::HostOnly => None,
            Self::ParentDomain { domain } => Some(domain),
        }
    }
}

/// The cookie carrying a handoff token for the app `audience`, for `lifetime`.
pub fn handoff_cookie(
    token: String,
    lifetime: Duration,
    scope: &CookieScope,
    audience: &str,
) -> Cookie<'static> {
    let max_age = time::Duration::seconds(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX));
    base(token, scope, audience).max_age(max_age).finish()
}

/// A cookie that makes the browser forget the handoff cookie of `audience`.
pub fn removal_cookie(scope: &CookieScope, audience: &str) -> Cookie<'static> {
    let mut cookie = base(String::new(), scope, audience).finish();
    cookie.make_removal();
    cookie
}

fn base(value: String, scope: &CookieScope, audience: &str) -> cookie::CookieBuilder<'static> {
    let builder = Cookie::build(scope.name(audience), value)
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Lax)
        .path("/");
    match scope.domain() {
        Some(domain) => builder.domain(domain.to_owned()),
        None => builder,
    }
}

/// The handoff token a request carries in the cookie named `name` (the
/// app's own, see [`CookieScope::name`]); every other name is ignored.
///
/// Read in place from the `Cookie` headers by the exact name (see
/// [`crate::cookie_header`]): no name is decoded or trimmed, and a name
/// sent twice is taken as absent.
pub fn handoff_token<'r>(req: &'r impl RequestHead, name: &str) -> Option<&'r str> {
    cookie_value(req, name).filter(|v| !v.is_empty())
}

/// The value of the cookie named exactly `name` in `req`'s `Cookie`
/// headers, if exactly one pair carries that name (see
/// [`crate::cookie_header::find`]).
pub fn cookie_value<'r>(req: &'r impl RequestHead, name: &str) -> Option<&'r str> {
    crate::cookie_header::find(req.header_values("cookie"), name).value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_only_cookie_has_the_host_prefix_and_no_domain() {
        let c = handoff_cookie(
            "t".into(),
            Duration::from_secs(600),
            &CookieScope::HostOnly,
            "https://app.example.com",
        );
        assert_eq!(c.name(), HOST_ONLY_NAME);
        assert_eq!(c.domain(), None);
        assert_eq!(c.path(), Some("/"));
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.same_site(), Some(SameSite::Lax));
        assert_eq!(c.max_age(), Some(time::Duration::seconds(600)));
    }

    #[test]
    fn the_token_is_read_from_the_apps_own_name_only() {
        use actix_web::test::TestRequest;
        let token = |name: &str, headers: &[&str]| {
            let mut req = TestRequest::default();
            for value in headers {
                req = req.append_header((actix_web::http::header::COOKIE, *value));
            }
            handoff_token(&req.to_http_request(), name).map(str::to_owned)
        };
        let own = parent_domain_name("https://app.example.com");
        assert_eq!(
            token(HOST_ONLY_NAME, &["a=1; __Host-handoff=t.o.k"]).as_deref(),
            Some("t.o.k")
        );
        assert_eq!(
            token(
                HOST_ONLY_NAME,
                &[
                    &format!("__Secure-handoff=p; {own}=p"),
                    "x=\"y\"; __Host-handoff=\"own\" "
                ]
            )
            .as_deref(),
            Some("own")
        );
        // Two copies: one was set by another host; neither is taken.
        assert_eq!(
            token(
                HOST_ONLY_NAME,
                &["__Host-handoff=first; __Host-handoff=second"]
            ),
            None
        );
        // A name that only decodes or trims to ours is not ours.
        for forged in [
            "__%48ost-handoff=t",
            "\u{2000}__Host-handoff=t",
            "__Host-handoff =t",
        ] {
            assert_eq!(token(HOST_ONLY_NAME, &[forged]), None, "{forged:?}");
        }
        // Another mode's or another app's cookie is not this app's.
        assert_eq!(
            token(
                HOST_ONLY_NAME,
                &["__Secure-handoff=parent", &format!("{own}=p")]
            ),
            None
        );
        assert_eq!(token(&own, &["__Host-handoff=h; __Secure-handoff=p"]), None);
        let other = parent_domain_name("https://reports.example.com");
        assert_eq!(token(&own, &[&format!("{other}=theirs")]), None);
        assert_eq!(
            token(&own, &[&format!("{other}=theirs; {own}=mine")]).as_deref(),
            Some("mine")
        );
        assert_eq!(
            token(
                HOST_ONLY_NAME,
                &["__Host-handoff=; __Secure-handoff=parent"]
            ),
            None
        );
        assert_eq!(
            token(
                HOST_ONLY_NAME,
                &["__host-handoff=t", "handoff=t", "__Host-handoff"]
            ),
            None
        );
        assert_eq!(token(HOST_ONLY_NAME, &[]), None);
    }

    #[test]
    fn a_parent_domain_cookie_has_the_secure_prefix_the_domain_and_a_name_per_app() {
        let scope = CookieScope::ParentDomain {
            domain: "example.com".into(),
        };
        let c = handoff_cookie(
            "t".into(),
            Duration::from_secs(60),
            &scope,
            "https://app.example.com",
        );
        assert_eq!(c.name(), parent_domain_name("https://app.example.com"));
        assert!(c.name().starts_with(PARENT_DOMAIN_PREFIX));
        assert_eq!(c.name().len(), PARENT_DOMAIN_PREFIX.len() + 16);
        assert_eq!(c.domain(), Some("example.com"));
        assert_ne!(
            parent_domain_name("https://app.example.com"),
            parent_domain_name("https://reports.example.com")
        );
        let removal = removal_cookie(&scope, "https://app.example.com");
        assert_eq!(removal.name(), c.name());
        assert_eq!(removal.domain(), Some("example.com"));
    }
}

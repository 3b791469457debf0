//! Binding a one-time handoff code to the browser that asked for it.
//!
//! Without a binding, a code is a bearer credential for a sign-in: an
//! attacker takes the code of their own sign-in (`Location:
//! <app>/auth/handoff?code=…`) and sends a victim's browser there, and the
//! victim is signed in to the app as the attacker (login CSRF). So, before
//! an app sends a browser to the public service's `/login` or `/renew`, it
//! puts a random *verifier* (256 bits) into a host-only cookie of its own
//! and passes only its SHA-256 (base64url), the *binding*, as a parameter.
//! The public service stores the binding with the code; the app redeems a
//! code with the verifier from the browser's cookie, and the public
//! service compares their hashes. A code carried to another browser finds
//! no verifier, or another one, and is refused. The same construction as
//! PKCE (RFC 7636), with the browser's cookie jar holding the verifier.
//!
//! A browser keeps one verifier for a while ([`VERIFIER_LIFETIME`], renewed
//! whenever it is sent to sign in again) so that two tabs signing in at
//! once do not refuse each other's codes.

use std::time::Duration;

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::HttpRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The app's host-only cookie holding the verifier.
pub const VERIFIER_COOKIE: &str = "__Host-handoff-verifier";
/// The query parameter of `/login` and `/renew` carrying the binding.
pub const BINDING_PARAM: &str = "binding";
/// How long a verifier is kept: a whole sign-in at the provider fits
/// (the public service's `LOGIN_TIMEOUT` is ten minutes by default).
pub const VERIFIER_LIFETIME: Duration = Duration::from_secs(900);
/// Length of a verifier: 32 random bytes in base64url without padding.
const VERIFIER_LEN: usize = 43;

/// A browser's verifier and the binding that goes with it.
pub struct Binding {
    verifier: String,
}

impl Binding {
    /// The verifier `req` already carries, or a new one.
    pub fn for_request(req: &HttpRequest) -> Self {
        let verifier = verifier(req)
            .map(str::to_owned)
            .unwrap_or_else(|| crate::random::url_safe_token(32));
        Self { verifier }
    }

    /// The binding: SHA-256 of the verifier, base64url without padding.
    pub fn binding(&self) -> String {
        URL_SAFE_NO_PAD.encode(hash(&self.verifier))
    }

    /// The cookie to (re)set with the redirect to the public service.
    pub fn cookie(&self) -> Cookie<'static> {
        Cookie::build(VERIFIER_COOKIE, self.verifier.clone())
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Lax)
            .path("/")
            .max_age(time::Duration::seconds(VERIFIER_LIFETIME.as_secs() as i64))
            .finish()
    }
}

/// The well-formed verifier `req` carries in [`VERIFIER_COOKIE`], if any.
pub fn verifier(req: &HttpRequest) -> Option<&str> {
    crate::cookie::cookie_value(req, VERIFIER_COOKIE).filter(|v| is_well_formed(v))
}

/// SHA-256 of a verifier: what a binding decodes to.
pub fn hash(verifier: &str) -> [u8; 32] {
    Sha256::digest(verifier.as_bytes()).into()
}

/// A binding parameter decoded to the hash it carries, or `None` when it
/// is not exactly 32 bytes of base64url.
pub fn parse_binding(param: &str) -> Option<[u8; 32]> {
    if param.len() != VERIFIER_LEN {
        return None;
    }
    URL_SAFE_NO_PAD.decode(param).ok()?.try_into().ok()
}

/// Whether `verifier` could be one an app made: 32 bytes in base64url.
pub fn is_well_formed(verifier: &str) -> bool {
    verifier.len() == VERIFIER_LEN
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn a_new_binding_is_the_hash_of_a_fresh_verifier_kept_in_a_host_only_cookie() {
        let req = TestRequest::default().to_http_request();
        let binding = Binding::for_request(&req);
        let cookie = binding.cookie();
        assert_eq!(cookie.name(), VERIFIER_COOKIE);
        assert!(is_well_formed(cookie.value()));
        assert_eq!(cookie.domain(), None);
        assert_eq!(cookie.path(), Some("/"));
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.same_site(), Some(SameSite::Lax));
        assert_eq!(
            parse_binding(&binding.binding()),
            Some(hash(cookie.value()))
        );
        assert_ne!(binding.binding(), cookie.value(), "only the hash travels");
        let other = Binding::for_request(&req);
        assert_ne!(other.binding(), binding.binding());
    }

    #[test]
    fn a_browsers_own_verifier_is_kept_and_a_malformed_one_replaced() {
        let own = "a".repeat(43);
        let req = TestRequest::default()
            .cookie(Cookie::new(VERIFIER_COOKIE, own.clone()))
            .to_http_request();
        assert_eq!(Binding::for_request(&req).cookie().value(), own);
        for bad in ["short", &"a".repeat(44), &format!("{}=", "a".repeat(42))] {
            let req = TestRequest::default()
                .cookie(Cookie::new(VERIFIER_COOKIE, bad))
                .to_http_request();
            assert!(verifier(&req).is_none(), "{bad}");
            assert_ne!(Binding::for_request(&req).cookie().value(), bad);
        }
    }

    #[test]
    fn only_a_32_byte_base64url_binding_is_read() {
        let good = URL_SAFE_NO_PAD.encode([7u8; 32]);
        assert_eq!(parse_binding(&good), Some([7u8; 32]));
        for bad in [
            "",
            "short",
            &URL_SAFE_NO_PAD.encode([7u8; 31]),
            &format!("{good}A"),
        ] {
            assert!(parse_binding(bad).is_none(), "{bad}");
        }
        assert!(parse_binding(&good.replace(|c: char| c.is_alphanumeric(), "+")).is_none());
    }
}

//! The login transaction: what the callback needs to finish one sign-in
//! (`state`, `nonce`, PKCE verifier, `return_to`), kept in an encrypted,
//! HTTP-only, short-lived cookie bound to this browser, so any instance can
//! finish the flow and nothing is stored server-side for abandoned logins.
//!
//! One cookie per `state`: two sign-ins started in two tabs both complete.
//! The cookie's name is derived from a hash of `state`; its contents are
//! sealed with AES-256-GCM (actix-web's private cookie jar, which also binds
//! the name), and carry their own creation time so a copied cookie expires
//! even if a client ignores `Max-Age`.

use std::time::Duration;

use actix_web::cookie::{time, Cookie, CookieJar, Key, SameSite};
use actix_web::HttpRequest;
use openidconnect::{CsrfToken, Nonce, PkceCodeVerifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const NAME_PREFIX: &str = "__Host-login-";

// One-letter field names: the sealed cookie must stay small (about 1 KB)
// with a long `return_to`.
#[derive(Serialize, Deserialize)]
pub struct LoginTransaction {
    #[serde(rename = "s")]
    pub state: CsrfToken,
    #[serde(rename = "n")]
    pub nonce: Nonce,
    #[serde(rename = "v")]
    pub pkce_verifier: PkceCodeVerifier,
    #[serde(rename = "r")]
    pub return_to: String,
    #[serde(rename = "t")]
    pub created_at: u64,
    /// Scopes this sign-in asked for beyond the configured ones.
    #[serde(rename = "x", default, skip_serializing_if = "Vec::is_empty")]
    pub extra_scopes: Vec<String>,
    /// The provider was asked for the consent screen, so a second pass
    /// for a refresh token is never attempted.
    #[serde(rename = "c", default, skip_serializing_if = "std::ops::Not::not")]
    pub consent_forced: bool,
    /// The browser's binding (code delivery): the code this sign-in ends
    /// with is bound to it. Base64url of a SHA-256.
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    #[error("no login transaction for this state (expired, finished, or never started here)")]
    NotFound,
    #[error("the login transaction cookie does not decrypt")]
    Undecryptable,
    #[error("the state does not match the login transaction")]
    StateMismatch,
    #[error("the login transaction has expired")]
    Expired,
}

impl LoginTransaction {
    pub fn cookie_name(state: &str) -> String {
        let digest = Sha256::digest(state.as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("{NAME_PREFIX}{hex}")
    }

    pub fn to_cookie(&self, key: &Key, lifetime: Duration) -> Cookie<'static> {
        let value = serde_json::to_string(self).expect("a login transaction serialises to JSON");
        let cookie = Cookie::build(Self::cookie_name(self.state.secret()), value)
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Lax)
            .path("/")
            .max_age(time::Duration::seconds(
                i64::try_from(lifetime.as_secs()).unwrap_or(600),
            ))
            .finish();
        let mut jar = CookieJar::new();
        jar.private_mut(key).add(cookie);
        jar.delta()
            .next()
            .cloned()
            .expect("the cookie just added")
            .into_owned()
    }

    /// Finds, decrypts and checks the transaction for `state`.
    pub fn from_request(
        req: &HttpRequest,
        state: &str,
        key: &Key,
        now: u64,
        lifetime: Duration,
    ) -> Result<Self, TransactionError> {
        let name = Self::cookie_name(state);
        // By its exact name: a sibling host's `__%48ost-login-…` is not ours.
        let sealed = handoff_guard::cookie::cookie_value(req, &name)
            .filter(|v| !v.is_empty())
            .ok_or(TransactionError::NotFound)?;
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(name.clone(), sealed.to_owned()));
        let opened = jar
            .private(key)
            .get(&name)
            .ok_or(TransactionError::Undecryptable)?;
        let tx: LoginTransaction =
            serde_json::from_str(opened.value()).map_err(|_| TransactionError::Undecryptable)?;
        if !bool::from(tx.state.secret().as_bytes().ct_eq(state.as_bytes())) {
            return Err(TransactionError::StateMismatch);
        }
        if now.saturating_sub(tx.created_at) > lifetime.as_secs() || tx.created_at > now + 60 {
            return Err(TransactionError::Expired);
        }
        Ok(tx)
    }

    pub fn removal_cookie(state: &str) -> Cookie<'static> {
        let mut cookie = Cookie::build(Self::cookie_name(state), "")
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Lax)
            .path("/")
            .finish();
        cookie.make_removal();
        cookie
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn tx(state: &str, now: u64) -> LoginTransaction {
        LoginTransaction {
            state: CsrfToken::new(state.into()),
            nonce: Nonce::new("n".repeat(43)),
            pkce_verifier: PkceCodeVerifier::new("v".repeat(43)),
            return_to: format!("https://app.example.com/{}", "p".repeat(480)),
            created_at: now,
            extra_scopes: vec!["https://www.googleapis.com/auth/drive.readonly".into()],
            consent_forced: true,
            binding: Some("b".repeat(43)),
        }
    }

    /// A request carrying `cookie` as a browser sends it back: the name and
    /// the value exactly as they were set.
    fn sent(cookie: &Cookie<'_>) -> actix_web::HttpRequest {
        TestRequest::default()
            .insert_header((
                actix_web::http::header::COOKIE,
                format!("{}={}", cookie.name(), cookie.value()),
            ))
            .to_http_request()
    }

    #[test]
    fn a_sealed_transaction_opens_with_the_same_key_and_state() {
        let key = Key::generate();
        let cookie = tx("state-1", 1000).to_cookie(&key, Duration::from_secs(600));
        // The longest return_to, extra scopes and a binding: still far
        // from the 4096 bytes a browser keeps per cookie.
        let size = cookie.value().len() + cookie.name().len();
        assert!(size < 1280, "cookie too large: {size}");
        assert!(
            !cookie.value().contains("state-1"),
            "cookie is not encrypted"
        );
        let req = sent(&cookie);
        let got =
            LoginTransaction::from_request(&req, "state-1", &key, 1010, Duration::from_secs(600))
                .unwrap();
        assert_eq!(got.nonce.secret(), &"n".repeat(43));
    }

    #[test]
    fn another_key_another_state_or_an_old_cookie_is_refused() {
        let key = Key::generate();
        let cookie = tx("state-1", 1000).to_cookie(&key, Duration::from_secs(600));
        let req = sent(&cookie);
        let ttl = Duration::from_secs(600);
        assert_eq!(
            LoginTransaction::from_request(&req, "state-1", &Key::generate(), 1010, ttl).err(),
            Some(TransactionError::Undecryptable)
        );
        assert_eq!(
            LoginTransaction::from_request(&req, "state-2", &key, 1010, ttl).err(),
            Some(TransactionError::NotFound)
        );
        assert_eq!(
            LoginTransaction::from_request(&req, "state-1", &key, 1000 + 601, ttl).err(),
            Some(TransactionError::Expired)
        );
    }

    #[test]
    fn a_cookie_renamed_to_another_state_does_not_open() {
        let key = Key::generate();
        let sealed = tx("state-1", 1000).to_cookie(&key, Duration::from_secs(600));
        let renamed = Cookie::new(
            LoginTransaction::cookie_name("state-2"),
            sealed.value().to_owned(),
        );
        let req = sent(&renamed);
        assert_eq!(
            LoginTransaction::from_request(&req, "state-2", &key, 1010, Duration::from_secs(600))
                .err(),
            Some(TransactionError::Undecryptable)
        );
    }

    #[test]
    fn a_transaction_under_a_name_that_only_decodes_to_its_own_is_not_found() {
        let key = Key::generate();
        let sealed = tx("state-1", 1000).to_cookie(&key, Duration::from_secs(600));
        let forged = sealed.name().replacen("__Host-", "__%48ost-", 1);
        let req = sent(&Cookie::new(forged, sealed.value().to_owned()));
        assert_eq!(
            LoginTransaction::from_request(&req, "state-1", &key, 1010, Duration::from_secs(600))
                .err(),
            Some(TransactionError::NotFound)
        );
    }
}

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
//!
//! At most [`MAX_PENDING`] per browser. Any page can send a browser to
//! `/login` as often as the sign-in rate limit allows, and each sign-in
//! leaves a cookie of up to about 1 KB (with the longest `return_to`):
//! unbounded, some twenty of them pushed the browser's `Cookie` header
//! past the header limit, and every later request of that browser, a new
//! sign-in included, was refused until they expired. So a new sign-in
//! first removes the transactions that cannot finish (undecryptable,
//! expired, or under a name sent twice) and then the oldest beyond the
//! bound, by the creation time sealed inside; and a request refused for
//! its header size removes every transaction it carries
//! ([`clear_when_headers_too_large`]), so a browser that got there anyway
//! can sign in on its next try.

use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::cookie::{time, Cookie, CookieJar, Key, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse};
use openidconnect::{CsrfToken, Nonce, PkceCodeVerifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const NAME_PREFIX: &str = "__Host-login-";
/// Hex digits of the hash of `state` in a cookie's name.
const NAME_HASH_LEN: usize = 16;
/// Most sign-ins one browser keeps under way at once: a new one pushes the
/// oldest out. Enough for a few tabs signing in together; four cookies of
/// the largest size stay far below the header limit.
pub const MAX_PENDING: usize = 4;
/// Most removal cookies one answer carries: more than a browser could send
/// under the header limit at the largest size; smaller junk beyond it goes
/// on the next sign-in.
const MAX_REMOVALS: usize = 32;

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
    /// The sign-in was started from this service's sessions page, which it
    /// returns to instead of handing off to the app.
    #[serde(rename = "p", default, skip_serializing_if = "std::ops::Not::not")]
    pub to_sessions_page: bool,
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
        let hex: String = digest[..NAME_HASH_LEN / 2]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{NAME_PREFIX}{hex}")
    }

    /// Whether `name` is, byte for byte, one [`Self::cookie_name`] makes.
    fn is_cookie_name(name: &[u8]) -> bool {
        name.strip_prefix(NAME_PREFIX.as_bytes())
            .is_some_and(|hash| {
                hash.len() == NAME_HASH_LEN
                    && hash
                        .iter()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            })
    }

    /// The transaction sealed in the cookie `name`, if it opens with `key`.
    fn open(name: &str, sealed: &str, key: &Key) -> Option<Self> {
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(name.to_owned(), sealed.to_owned()));
        let opened = jar.private(key).get(name)?;
        serde_json::from_str(opened.value()).ok()
    }

    /// Whether a transaction created at `created_at` may still finish at `now`.
    fn is_current(created_at: u64, now: u64, lifetime: Duration) -> bool {
        now.saturating_sub(created_at) <= lifetime.as_secs() && created_at <= now + 60
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
        let sealed = handoff_guard::login_service::cookie_value(req, &name)
            .filter(|v| !v.is_empty())
            .ok_or(TransactionError::NotFound)?;
        let tx = Self::open(&name, sealed, key).ok_or(TransactionError::Undecryptable)?;
        if !bool::from(tx.state.secret().as_bytes().ct_eq(state.as_bytes())) {
            return Err(TransactionError::StateMismatch);
        }
        if !Self::is_current(tx.created_at, now, lifetime) {
            return Err(TransactionError::Expired);
        }
        Ok(tx)
    }

    pub fn removal_cookie(state: &str) -> Cookie<'static> {
        Self::removal_cookie_named(Self::cookie_name(state))
    }

    fn removal_cookie_named(name: String) -> Cookie<'static> {
        let mut cookie = Cookie::build(name, "")
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Lax)
            .path("/")
            .finish();
        cookie.make_removal();
        cookie
    }

    /// Removal cookies for the transactions `req` carries that must go
    /// before a new one is added: those that cannot finish (undecryptable,
    /// expired, or under a name sent twice), then the oldest, by the
    /// creation time sealed inside, beyond [`MAX_PENDING`] `- 1`.
    pub fn to_make_room(
        req: &HttpRequest,
        key: &Key,
        now: u64,
        lifetime: Duration,
    ) -> Vec<Cookie<'static>> {
        // (name, creation time of a transaction that may still finish)
        let mut carried: Vec<(&str, Option<u64>)> = Vec::new();
        for (name, sealed) in cookie_pairs(req) {
            if !Self::is_cookie_name(name) {
                continue;
            }
            let name = std::str::from_utf8(name).expect("checked to be ASCII");
            if let Some(seen) = carried.iter_mut().find(|(seen, _)| *seen == name) {
                seen.1 = None;
                continue;
            }
            let created_at = std::str::from_utf8(sealed)
                .ok()
                .and_then(|sealed| Self::open(name, sealed, key))
                .map(|tx| tx.created_at)
                .filter(|&created_at| Self::is_current(created_at, now, lifetime));
            carried.push((name, created_at));
        }
        // Newest first; those that cannot finish last.
        carried.sort_by_key(|&(_, created)| std::cmp::Reverse(created));
        let dead = carried.iter().skip_while(|(_, created)| created.is_some());
        let kept = carried.iter().take_while(|(_, created)| created.is_some());
        kept.skip(MAX_PENDING - 1)
            .chain(dead)
            .take(MAX_REMOVALS)
            .map(|(name, _)| Self::removal_cookie_named((*name).to_owned()))
            .collect()
    }

    /// Removal cookies for every transaction `req` carries.
    fn every_removal_cookie(req: &HttpRequest) -> Vec<Cookie<'static>> {
        let mut names: Vec<&[u8]> = Vec::new();
        for (name, _) in cookie_pairs(req) {
            if Self::is_cookie_name(name) && !names.contains(&name) {
                names.push(name);
            }
        }
        names
            .into_iter()
            .take(MAX_REMOVALS)
            .map(|name| {
                let name = std::str::from_utf8(name).expect("checked to be ASCII");
                Self::removal_cookie_named(name.to_owned())
            })
            .collect()
    }
}

/// Every `(name, value)` pair of `req`'s `Cookie` headers, names as sent
/// (never decoded: see [`handoff_guard::cookie_header`]).
fn cookie_pairs(req: &HttpRequest) -> impl Iterator<Item = (&[u8], &[u8])> {
    handoff_guard::login_service::cookie_header::pairs(
        req.headers()
            .get_all(header::COOKIE)
            .map(|value| value.as_bytes()),
    )
}

/// Wraps the header-size check (which answers `431` before any route):
/// a refused request that carries login transactions gets them removed,
/// so a browser whose cookies outgrew the limit is not refused until they
/// expire, and its next sign-in goes through.
pub async fn clear_when_headers_too_large(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let res = next.call(req).await?;
    if res.status() != StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE {
        return Ok(res.map_into_left_body());
    }
    let removals = LoginTransaction::every_removal_cookie(res.request());
    if removals.is_empty() {
        return Ok(res.map_into_left_body());
    }
    tracing::warn!(
        count = removals.len(),
        "a browser over the header limit: its sign-ins under way are removed"
    );
    let request = res.request();
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let mut answer = if wants_html {
        // Only the routes that start a sign-in are worth trying again as
        // they were; anything else starts over at the front page.
        let again = (request.method() == Method::GET
            && matches!(request.path(), "/login" | "/renew"))
        .then(|| request.uri().to_string());
        crate::pages::error_page(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Too many sign-ins at once",
            "This browser had started more sign-ins than it can keep. They have been cleared; please start again.",
            again.as_deref(),
        )
    } else {
        HttpResponse::build(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            .json(serde_json::json!({ "error": "headers_too_large" }))
    };
    for cookie in &removals {
        let _ = answer.add_cookie(cookie);
    }
    Ok(res.into_response(answer).map_into_right_body())
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
            to_sessions_page: false,
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

    fn request_with(cookies: &[(&str, &str)]) -> HttpRequest {
        let pairs: Vec<String> = cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
        TestRequest::default()
            .insert_header((header::COOKIE, pairs.join("; ")))
            .to_http_request()
    }

    #[test]
    fn a_new_sign_in_removes_what_cannot_finish_and_the_oldest_beyond_the_bound() {
        let key = Key::generate();
        let ttl = Duration::from_secs(600);
        let now = 10_000;
        let live: Vec<Cookie> = (0..6)
            .map(|i| tx(&format!("state-{i}"), now - 100 + i).to_cookie(&key, ttl))
            .collect();
        let expired = tx("expired", now - 601).to_cookie(&key, ttl);
        let future = tx("future", now + 120).to_cookie(&key, ttl);
        let foreign = tx("foreign", now).to_cookie(&Key::generate(), ttl);
        let twice = tx("twice", now).to_cookie(&key, ttl);
        let mut sent: Vec<(&str, &str)> = live.iter().map(|c| (c.name(), c.value())).collect();
        for c in [&expired, &future, &foreign, &twice, &twice] {
            sent.push((c.name(), c.value()));
        }
        let not_ours = "__Host-login-ZZ";
        sent.extend([(not_ours, "x"), ("unrelated", "1")]);
        let mut removed: Vec<String> =
            LoginTransaction::to_make_room(&request_with(&sent), &key, now, ttl)
                .iter()
                .map(|c| {
                    assert_eq!(c.max_age(), Some(time::Duration::ZERO), "{c}");
                    assert_eq!(c.path(), Some("/"));
                    assert_eq!(c.secure(), Some(true));
                    c.name().to_owned()
                })
                .collect();
        // The three newest stay beside the new one.
        let mut expected: Vec<String> = live[..3]
            .iter()
            .chain([&expired, &future, &foreign, &twice])
            .map(|c| c.name().to_owned())
            .collect();
        removed.sort();
        expected.sort();
        assert_eq!(removed, expected);
        assert_eq!(MAX_PENDING, 4);

        // Fewer than the bound, all able to finish: nothing goes.
        let few: Vec<(&str, &str)> = live[3..].iter().map(|c| (c.name(), c.value())).collect();
        assert!(LoginTransaction::to_make_room(&request_with(&few), &key, now, ttl).is_empty());
    }

    #[test]
    fn only_names_made_from_a_state_are_ours() {
        let own = LoginTransaction::cookie_name("state-1");
        assert!(LoginTransaction::is_cookie_name(own.as_bytes()));
        for other in [
            own.replacen("__Host-", "__%48ost-", 1),
            own.to_uppercase(),
            format!("{own}0"),
            own[..own.len() - 1].to_owned(),
            format!(" {own}"),
            "__Host-login-".to_owned(),
            "__Host-session".to_owned(),
        ] {
            assert!(
                !LoginTransaction::is_cookie_name(other.as_bytes()),
                "{other}"
            );
        }
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

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
//! code with the verifiers from the browser's cookie, and the public
//! service compares their hashes. A code carried to another browser finds
//! no verifier, or other ones, and is refused. The same construction as
//! PKCE (RFC 7636), with the browser's cookie jar holding the verifier.
//!
//! **One verifier per sign-in.** The binding travels in the URL of the
//! public service's `/login` or `/renew`, and a platform's request log
//! (Cloud Run's keeps whole URLs) may keep it. Whoever reads it can have a
//! code for *their own* session bound to it, so a binding must stop
//! matching anything the browser holds as soon as possible: every redirect
//! to sign in gets a fresh verifier, the app forgets a verifier once a code
//! bound to it is redeemed, and a verifier lives no longer than a sign-in
//! can take ([`VERIFIER_LIFETIME`]).
//!
//! **Several at once.** Two tabs may be signing in at the same time, each
//! with its own verifier. The cookie keeps the verifiers still pending,
//! each with its issue time, at most [`MAX_PENDING`] (a new one pushes the
//! oldest out), and a redemption presents them all: the public service
//! accepts a code whose binding matches any, and says which one it was so
//! that the app forgets exactly that one.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cookie::{time, Cookie, SameSite};
use sha2::{Digest, Sha256};

/// The app's host-only cookie holding the pending verifiers.
pub const VERIFIER_COOKIE: &str = "__Host-handoff-verifier";
/// The query parameter of `/login` and `/renew` carrying the binding.
pub const BINDING_PARAM: &str = "binding";
/// How long a verifier may wait for its code: a whole sign-in at the
/// provider (the public service's `LOGIN_TIMEOUT`, ten minutes by
/// default) and the code's minute on top. A binding read from a log is
/// worthless after this, whether or not its sign-in finished.
pub const VERIFIER_LIFETIME: Duration = Duration::from_secs(11 * 60);
/// Most sign-ins one browser may have under way at once with one app; a
/// redemption presents at most this many verifiers.
pub const MAX_PENDING: usize = 4;
/// Length of a verifier: 32 random bytes in base64url without padding.
const VERIFIER_LEN: usize = 43;
/// An issue time this far ahead of the clock is still taken (instances'
/// clocks differ a little); anything further ahead was not written by us.
const CLOCK_SKEW: u64 = 60;

/// One verifier waiting for its code.
#[derive(Clone, PartialEq, Eq)]
struct Pending {
    issued_at: u64,
    verifier: String,
}

/// The verifiers a browser holds for its sign-ins under way, oldest first.
///
/// In the cookie: `<issued_at>:<verifier>` entries joined by `.` (both
/// characters are outside base64url and allowed in a cookie value).
#[derive(Clone, Default)]
pub struct PendingVerifiers {
    entries: Vec<Pending>,
}

impl PendingVerifiers {
    /// The unexpired verifiers `req` carries in [`VERIFIER_COOKIE`] at `now`
    /// (unix seconds); malformed entries are dropped.
    pub fn from_request(req: &impl crate::request_head::RequestHead, now: u64) -> Self {
        crate::cookie::cookie_value(req, VERIFIER_COOKIE)
            .map(|value| Self::parse(value, now))
            .unwrap_or_default()
    }

    /// The unexpired verifiers of a cookie value at `now`, the newest
    /// [`MAX_PENDING`] of them.
    pub fn parse(value: &str, now: u64) -> Self {
        // A cookie of this format holds at most MAX_PENDING entries; a
        // longer one was not written by us and is read no further.
        let mut entries: Vec<Pending> = value
            .split('.')
            .take(MAX_PENDING)
            .filter_map(|entry| Self::entry(entry, now))
            .filter(|p| is_pending(p.issued_at, now))
            .collect();
        entries.sort_by_key(|p| p.issued_at);
        Self { entries }
    }

    fn entry(entry: &str, now: u64) -> Option<Pending> {
        let (issued_at, verifier) = match entry.split_once(':') {
            Some((issued_at, verifier)) => {
                let digits = !issued_at.is_empty()
                    && issued_at.len() <= 20
                    && issued_at.bytes().all(|b| b.is_ascii_digit());
                (digits.then(|| issued_at.parse().ok()).flatten()?, verifier)
            }
            // Before verifiers were per sign-in, the cookie held one bare
            // verifier (and lived at most 15 minutes): taken as issued now,
            // so a sign-in under way across an upgrade still completes, and
            // it dies at its redemption or within one lifetime like any.
            None => (now, entry),
        };
        is_well_formed(verifier).then(|| Pending {
            issued_at,
            verifier: verifier.to_owned(),
        })
    }

    /// Adds a fresh verifier for a sign-in starting at `now` (pushing the
    /// oldest out beyond [`MAX_PENDING`]) and returns its binding.
    pub fn start(&mut self, now: u64) -> String {
        // 32 bytes from the thread-local CSPRNG (ChaCha12, seeded and
        // reseeded from the operating system).
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let binding = binding_of(&verifier);
        self.entries.push(Pending {
            issued_at: now,
            verifier,
        });
        let excess = self.entries.len().saturating_sub(MAX_PENDING);
        self.entries.drain(..excess);
        binding
    }

    /// The pending verifiers, oldest first: what a redemption presents.
    pub fn verifiers(&self) -> Vec<&str> {
        self.entries.iter().map(|p| p.verifier.as_str()).collect()
    }

    /// Whether no verifier is pending: a code this browser brings was not
    /// asked for by it (or outlived its verifier) and is not redeemed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets the verifier at `index` of [`Self::verifiers`] (its code was
    /// redeemed: its binding must match nothing any more).
    pub fn forget(&mut self, index: usize) {
        if index < self.entries.len() {
            self.entries.remove(index);
        }
    }

    /// The cookie to set with the answer: the pending verifiers, kept until
    /// the newest expires; a removal cookie when none is left.
    pub fn cookie(&self, now: u64) -> Cookie<'static> {
        let value = self
            .entries
            .iter()
            .map(|p| format!("{}:{}", p.issued_at, p.verifier))
            .collect::<Vec<_>>()
            .join(".");
        let mut cookie = Cookie::build(VERIFIER_COOKIE, value)
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Lax)
            .path("/")
            .finish();
        match self.entries.iter().map(|p| p.issued_at).max() {
            Some(newest) => {
                let left = (newest + VERIFIER_LIFETIME.as_secs()).saturating_sub(now);
                let left = i64::try_from(left.clamp(1, VERIFIER_LIFETIME.as_secs()))
                    .expect("a lifetime of minutes");
                cookie.set_max_age(time::Duration::seconds(left));
            }
            None => cookie.make_removal(),
        }
        cookie
    }
}

/// Whether a verifier issued at `issued_at` may still be presented at `now`.
fn is_pending(issued_at: u64, now: u64) -> bool {
    now < issued_at.saturating_add(VERIFIER_LIFETIME.as_secs())
        && issued_at <= now.saturating_add(CLOCK_SKEW)
}

/// The binding of `verifier`: its SHA-256, base64url without padding.
pub fn binding_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(hash(verifier))
}

/// SHA-256 of a verifier: what a binding decodes to.
pub fn hash(verifier: &str) -> [u8; 32] {
    Sha256::digest(verifier.as_bytes()).into()
}

/// A binding parameter decoded to the hash it carries, or `None` when it
/// is not exactly 32 bytes of base64url.
#[cfg_attr(not(feature = "login-service"), allow(dead_code))]
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

    const NOW: u64 = 1_700_000_000;

    /// A request carrying `cookie` as a browser sends it back.
    fn request_with(cookie: &Cookie<'_>) -> actix_web::HttpRequest {
        TestRequest::default()
            .insert_header((
                actix_web::http::header::COOKIE,
                format!("{}={}", cookie.name(), cookie.value()),
            ))
            .to_http_request()
    }

    #[test]
    fn a_new_binding_is_the_hash_of_a_fresh_verifier_kept_in_a_host_only_cookie() {
        let mut pending = PendingVerifiers::default();
        let binding = pending.start(NOW);
        let cookie = pending.cookie(NOW);
        assert_eq!(cookie.name(), VERIFIER_COOKIE);
        assert_eq!(cookie.domain(), None);
        assert_eq!(cookie.path(), Some("/"));
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.same_site(), Some(SameSite::Lax));
        assert_eq!(
            cookie.max_age(),
            Some(time::Duration::seconds(VERIFIER_LIFETIME.as_secs() as i64))
        );
        let read = PendingVerifiers::from_request(&request_with(&cookie), NOW);
        let verifiers = read.verifiers();
        assert_eq!(verifiers.len(), 1);
        assert!(is_well_formed(verifiers[0]));
        assert_eq!(parse_binding(&binding), Some(hash(verifiers[0])));
        assert!(!cookie.value().contains(&binding), "only the hash travels");
    }

    #[test]
    fn every_sign_in_gets_a_verifier_of_its_own_and_the_oldest_go_beyond_the_bound() {
        let mut pending = PendingVerifiers::default();
        let bindings: Vec<String> = (0..MAX_PENDING as u64 + 2)
            .map(|i| {
                let cookie = pending.cookie(NOW + i);
                pending = PendingVerifiers::from_request(&request_with(&cookie), NOW + i);
                pending.start(NOW + i)
            })
            .collect();
        let mut distinct = bindings.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), bindings.len(), "a binding was reused");
        let kept: Vec<String> = pending.verifiers().iter().map(|v| binding_of(v)).collect();
        assert_eq!(kept, bindings[2..], "the newest, oldest first");
        assert!(pending.cookie(NOW).value().len() < 256);
    }

    #[test]
    fn a_verifier_is_forgotten_once_redeemed_and_the_cookie_goes_with_the_last() {
        let mut pending = PendingVerifiers::default();
        pending.start(NOW);
        let second = pending.start(NOW + 1);
        let first = pending.verifiers()[0].to_owned();
        pending.forget(0);
        assert_eq!(
            pending
                .verifiers()
                .iter()
                .map(|v| binding_of(v))
                .collect::<Vec<_>>(),
            [second]
        );
        assert!(!pending.cookie(NOW + 1).value().contains(&first));
        pending.forget(5);
        assert_eq!(pending.verifiers().len(), 1);
        pending.forget(0);
        let cookie = pending.cookie(NOW + 1);
        assert_eq!(cookie.value(), "");
        assert_eq!(cookie.max_age(), Some(time::Duration::ZERO));
    }

    #[test]
    fn a_verifier_lives_no_longer_than_a_sign_in() {
        let mut pending = PendingVerifiers::default();
        pending.start(NOW);
        pending.start(NOW + 300);
        let cookie = pending.cookie(NOW + 300);
        let lifetime = VERIFIER_LIFETIME.as_secs();
        let read = |at: u64| {
            PendingVerifiers::from_request(&request_with(&cookie), at)
                .verifiers()
                .len()
        };
        assert_eq!(read(NOW + lifetime - 1), 2);
        assert_eq!(read(NOW + lifetime), 1);
        assert_eq!(read(NOW + 300 + lifetime), 0);
        // Issued far in the future: not ours.
        assert_eq!(read(NOW - 2 * CLOCK_SKEW), 0);
        // The cookie lasts as long as its newest entry.
        let later = PendingVerifiers::parse(cookie.value(), NOW + lifetime);
        assert_eq!(
            later.cookie(NOW + lifetime).max_age(),
            Some(time::Duration::seconds(300))
        );
    }

    #[test]
    fn malformed_entries_are_dropped_and_a_bare_verifier_of_old_is_read_as_new() {
        let own = "a".repeat(43);
        let read = |value: &str| PendingVerifiers::parse(value, NOW).verifiers().len();
        assert_eq!(read(&own), 1, "the format before per-sign-in verifiers");
        for bad in [
            "short",
            &"a".repeat(44),
            &format!("{}=", "a".repeat(42)),
            &format!("x:{own}"),
            &format!(":{own}"),
            &format!("-5:{own}"),
            &format!("{}:{own}", "9".repeat(21)),
            &format!("{NOW}:{own}:{own}"),
            "",
        ] {
            assert_eq!(read(bad), 0, "{bad}");
        }
        assert_eq!(read(&format!("junk.{NOW}:{own}")), 1);
        // More entries than the app ever writes: the rest is not read.
        let many = vec![format!("{NOW}:{own}"); MAX_PENDING + 3].join(".");
        assert_eq!(read(&many), MAX_PENDING);
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

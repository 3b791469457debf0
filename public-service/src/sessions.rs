//! Server-side sessions of the public service and the cookie that names one.
//!
//! The `__Host-session` cookie holds `<id>.<secret>`. The id is public (it
//! is the handoff token's `sid`, and apps may learn it); the secret is
//! what proves the browser holds the session, and only its SHA-256 is
//! stored, compared in constant time. A session is valid while it is not
//! revoked, was used (signed in or renewed) within the idle timeout, and
//! is younger than its absolute lifetime.

use actix_web::cookie::{time, Cookie, SameSite};
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;
use handoff_guard::SharedClock;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::policy::Identity;
use crate::store::{NewSession, SessionRecord, SessionStore, StoreError, SIGNED_OUT_EVERYWHERE};

#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// A session unused (no sign-in, no renewal) this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, however active.
    pub max_lifetime: Duration,
    /// Renewal also refreshes the provider grant, so a user who removed
    /// the app's access at the provider is signed out at the next renewal.
    pub renewal_checks_grant: bool,
    /// `SESSION_PLACE_HEADER`: the request header the operator's load
    /// balancer fills with the client's approximate place; `None` (the
    /// default) records no place at all.
    pub place_header: Option<actix_web::http::header::HeaderName>,
    /// `SIGNED_OUT_NOTICE`: a browser whose session was ended by "end all
    /// others" (or an operator) is told so on its next sign-in.
    pub signed_out_notice: bool,
}

pub const COOKIE_NAME: &str = "__Host-session";

/// Longest cookie value read; anything longer is not ours.
const MAX_COOKIE_LEN: usize = 128;

pub struct Sessions {
    store: Arc<dyn SessionStore>,
    settings: SessionSettings,
    clock: SharedClock,
}

/// Why a presented session does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Malformed,
    Unknown,
    WrongSecret,
    Revoked,
    Idle,
    Expired,
}

impl Sessions {
    pub fn new(
        store: Arc<dyn SessionStore>,
        settings: SessionSettings,
        clock: SharedClock,
    ) -> Self {
        Self {
            store,
            settings,
            clock,
        }
    }

    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    /// Starts a session for a user who just signed in, and the cookie for
    /// it. `req` gives the device summary and (when configured) the place;
    /// `provider_sid` is the ID token's `sid`, which the provider's
    /// back-channel logout tokens name.
    pub async fn start(
        &self,
        req: &HttpRequest,
        identity: &Identity,
        email: &str,
        provider_sid: Option<&str>,
    ) -> Result<(SessionRecord, Cookie<'static>), StoreError> {
        let now = self.clock.unix_seconds();
        let id = service_kit::random::url_safe_token(16);
        let secret = service_kit::random::url_safe_token(32);
        let new = NewSession {
            id: id.clone(),
            secret_hash: hash(&secret),
            subject: identity.subject.clone(),
            email: email.to_owned(),
            name: identity.name.clone(),
            hosted_domain: identity.hosted_domain.clone(),
            created_at: now,
            expires_at: now + self.settings.max_lifetime.as_secs(),
            provider_sid: provider_sid.map(str::to_owned),
            device: crate::device::summary_of(req),
            place: self
                .settings
                .place_header
                .as_ref()
                .and_then(|name| crate::device::place_of(req, name)),
        };
        self.store.create_session(&new).await?;
        let cookie = self.cookie(format!("{id}.{secret}"), new.expires_at - now);
        let record = SessionRecord {
            id,
            secret_hash: new.secret_hash,
            subject: new.subject,
            email: new.email,
            name: new.name,
            hosted_domain: new.hosted_domain,
            created_at: now,
            last_seen_at: now,
            expires_at: new.expires_at,
            revoked_at: None,
            provider_sid: new.provider_sid,
            device: new.device,
            place: new.place,
            revoked_reason: None,
        };
        Ok((record, cookie))
    }

    /// The valid session the request's cookie names, if any.
    pub async fn current(&self, req: &HttpRequest) -> Result<Option<SessionRecord>, StoreError> {
        match self.check(req).await? {
            Ok(session) => Ok(Some(session)),
            Err(reason) => {
                if reason != Invalid::Malformed {
                    tracing::info!(reason = ?reason, "session cookie not accepted");
                }
                Ok(None)
            }
        }
    }

    /// The session the request's cookie names, or why it does not count.
    pub async fn check(
        &self,
        req: &HttpRequest,
    ) -> Result<Result<SessionRecord, Invalid>, StoreError> {
        let Some((id, secret)) = presented(req) else {
            return Ok(Err(Invalid::Malformed));
        };
        let Some(session) = self.store.session(&id).await? else {
            return Ok(Err(Invalid::Unknown));
        };
        if !bool::from(hash(&secret).ct_eq(&session.secret_hash)) {
            return Ok(Err(Invalid::WrongSecret));
        }
        Ok(self.validity(&session).map(|()| session))
    }

    pub fn validity(&self, session: &SessionRecord) -> Result<(), Invalid> {
        let now = self.clock.unix_seconds();
        if session.revoked_at.is_some() {
            Err(Invalid::Revoked)
        } else if now >= session.expires_at {
            Err(Invalid::Expired)
        } else if now >= session.last_seen_at + self.settings.idle_timeout.as_secs() {
            Err(Invalid::Idle)
        } else {
            Ok(())
        }
    }

    /// Whether `subject` has a valid session now (not revoked, within its
    /// idle timeout and absolute lifetime): the broker's
    /// `BROKER_REQUIRES_SESSION`.
    pub async fn has_live_session(&self, subject: &str) -> Result<bool, StoreError> {
        self.store
            .has_live_session(
                subject,
                self.clock.unix_seconds(),
                self.settings.idle_timeout.as_secs(),
            )
            .await
    }

    /// Records use of the session (a renewal).
    pub async fn touch(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.store
            .touch_session(&session.id, self.clock.unix_seconds())
            .await
            .map(|_| ())
    }

    /// Records a new sign-in of the session's own user: its use, and the
    /// identity the provider just vouched for (address, name and `hd` may
    /// have changed; renewals check the access policy against them).
    /// Returns the session as stored now. The provider session it came
    /// from (`provider_sid`) is recorded when it changed, so the provider's
    /// back-channel logout of the new one ends it.
    pub async fn signed_in_again(
        &self,
        session: SessionRecord,
        identity: &Identity,
        email: &str,
        provider_sid: Option<&str>,
    ) -> Result<SessionRecord, StoreError> {
        let now = self.clock.unix_seconds();
        if session.provider_sid.as_deref() != provider_sid {
            self.store
                .set_session_provider_sid(&session.id, provider_sid)
                .await?;
        }
        self.store
            .refresh_session(
                &session.id,
                email,
                identity.name.as_deref(),
                identity.hosted_domain.as_deref(),
                now,
            )
            .await?;
        Ok(SessionRecord {
            email: email.to_owned(),
            name: identity.name.clone(),
            hosted_domain: identity.hosted_domain.clone(),
            last_seen_at: now,
            provider_sid: provider_sid.map(str::to_owned),
            ..session
        })
    }

    /// The identity the session was last signed in with, for re-checking the
    /// access policy and re-issuing handoff tokens.
    pub fn identity(session: &SessionRecord) -> Identity {
        Identity {
            subject: session.subject.clone(),
            email: Some(session.email.clone()),
            // Only verified addresses ever start a session.
            email_verified: true,
            name: session.name.clone(),
            hosted_domain: session.hosted_domain.clone(),
        }
    }

    /// When the session this browser's cookie names (with its secret) was
    /// ended by "end all others" or an operator, if it was `subject`'s; for
    /// the notice on the next sign-in. Someone else signing in next in that
    /// browser is not told about another person's sessions. Revoked
    /// sessions are purged a day after the end, and the notice with them.
    pub async fn signed_out_everywhere_at(
        &self,
        req: &HttpRequest,
        subject: &str,
    ) -> Result<Option<u64>, StoreError> {
        let Some((id, secret)) = presented(req) else {
            return Ok(None);
        };
        let Some(session) = self.store.session(&id).await? else {
            return Ok(None);
        };
        if !bool::from(hash(&secret).ct_eq(&session.secret_hash)) || session.subject != subject {
            return Ok(None);
        }
        Ok(session
            .revoked_at
            .filter(|_| session.revoked_reason.as_deref() == Some(SIGNED_OUT_EVERYWHERE)))
    }

    /// The subject's valid sessions (as [`Self::validity`] counts them),
    /// newest first.
    pub async fn live_sessions_of(&self, subject: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let sessions = self
            .store
            .live_sessions_of(subject, self.clock.unix_seconds())
            .await?;
        Ok(sessions
            .into_iter()
            .filter(|s| self.validity(s).is_ok())
            .collect())
    }

    /// Ends the subject's session `id`; false if it is not theirs or
    /// already ended.
    pub async fn end_one_of(&self, subject: &str, id: &str) -> Result<bool, StoreError> {
        self.store
            .revoke_session_of(subject, id, self.clock.unix_seconds())
            .await
    }

    /// Ends every session of the subject but `keep`; how many ended.
    pub async fn end_all_others(&self, subject: &str, keep: &str) -> Result<u64, StoreError> {
        self.store
            .revoke_sessions_of(subject, Some(keep), self.clock.unix_seconds())
            .await
    }

    /// The token the sessions page's forms carry: derived from this
    /// browser's cookie secret (which only the browser holds; the database
    /// has a different hash of it), so another site can neither read nor
    /// compute it, and it changes with the session. `None` without a
    /// well-formed cookie.
    pub fn form_token(req: &HttpRequest) -> Option<String> {
        let (_, secret) = presented(req)?;
        let digest = Sha256::digest(format!("sessions-page-form:{secret}").as_bytes());
        Some(base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            digest,
        ))
    }

    /// Whether `submitted` is the request's [`Self::form_token`]
    /// (compared in constant time).
    pub fn form_token_matches(req: &HttpRequest, submitted: &str) -> bool {
        Self::form_token(req)
            .is_some_and(|expected| bool::from(expected.as_bytes().ct_eq(submitted.as_bytes())))
    }

    pub async fn revoke(&self, session: &SessionRecord) -> Result<bool, StoreError> {
        self.store
            .revoke_session(&session.id, self.clock.unix_seconds())
            .await
    }

    fn cookie(&self, value: String, lifetime_seconds: u64) -> Cookie<'static> {
        Cookie::build(COOKIE_NAME, value)
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Lax)
            .path("/")
            .max_age(time::Duration::seconds(
                i64::try_from(lifetime_seconds).unwrap_or(i64::MAX),
            ))
            .finish()
    }

    pub fn removal_cookie() -> Cookie<'static> {
        let mut cookie = Cookie::build(COOKIE_NAME, "")
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Lax)
            .path("/")
            .finish();
        cookie.make_removal();
        cookie
    }
}

/// The `(id, secret)` of the request's session cookie, if it is well formed.
/// The cookie is read by its exact name (`handoff_guard::cookie_header`):
/// `__%48ost-session`, planted by a sibling host for a shared parent
/// domain, is not ours. Public so the fuzz targets reach the parsing the
/// routes use.
pub fn presented(req: &HttpRequest) -> Option<(String, String)> {
    handoff_guard::login_service::cookie_value(req, COOKIE_NAME).and_then(parse)
}

/// Whether the request carries a cookie by the session cookie's exact name.
pub fn cookie_present(req: &HttpRequest) -> bool {
    handoff_guard::login_service::cookie_value(req, COOKIE_NAME).is_some()
}

fn parse(value: &str) -> Option<(String, String)> {
    if value.len() > MAX_COOKIE_LEN {
        return None;
    }
    let (id, secret) = value.split_once('.')?;
    let url_safe = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (url_safe(id) && url_safe(secret)).then(|| (id.to_owned(), secret.to_owned()))
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_cookie_values_are_read() {
        let read = parse;
        assert_eq!(read("abc.def"), Some(("abc".into(), "def".into())));
        assert_eq!(read("abc"), None);
        assert_eq!(read(".def"), None);
        assert_eq!(read("abc."), None);
        assert_eq!(read("a'c.def"), None);
        assert_eq!(read("abc.d.ef"), None);
        assert_eq!(read(&format!("a.{}", "b".repeat(200))), None);
    }

    #[test]
    fn the_session_cookie_is_read_under_its_exact_name_only() {
        use actix_web::test::TestRequest;
        let read = |header: &str| {
            presented(
                &TestRequest::default()
                    .insert_header((actix_web::http::header::COOKIE, header))
                    .to_http_request(),
            )
        };
        assert_eq!(
            read("a=1; __Host-session=abc.def"),
            Some(("abc".into(), "def".into()))
        );
        for planted in [
            "__%48ost-session=abc.def",
            "\u{2000}__Host-session=abc.def",
            "__host-session=abc.def",
            "__Host-session=abc.def; __Host-session=abc.def",
        ] {
            assert_eq!(read(planted), None, "{planted:?}");
        }
    }
}

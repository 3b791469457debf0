//! The gate: who sent a request, whatever framework serves it. The
//! adapters ([`crate::extractor`] for actix-web, `axum` and `tower`) turn
//! it into extractors and layers: [`SignedInUser`] (a person),
//! [`ServiceCaller`] (a service account) and [`Principal`] (either).
//!
//! A person is a valid
//! handoff token (the cookie, or the same token as `Authorization: Bearer`)
//! or, when configured, a provider-signed ID token of a person (a Chrome
//! extension's) for one of the configured audiences, passing the access
//! policy. A service is a provider-signed ID token of a listed service
//! account for this app's URL (Cloud Tasks, Cloud Scheduler, another Cloud
//! Run service). A Bearer token that does not verify is refused; it never
//! falls back to the cookie. A person on a service-only route, or a service
//! on a person's route, gets `403`. Anything else is answered here: a browser page request is redirected to the public
//! service's renewal route (a new handoff token without a provider round
//! trip while the session lives, a sign-in otherwise) with `return_to`
//! pointing back at the page; any other request gets `401` with
//! `WWW-Authenticate` and a JSON body naming the login URL. The precise
//! reason is logged at debug level and never sent to the client; every
//! refusal is counted (`auth_refusals_total`, by [`Refusal`]), and only the
//! first few of each kind per interval are logged one by one
//! ([`crate::refusal_log`]), so a flood of forged tokens is a few lines and
//! a count. When no
//! key to check a handoff token with can be had (the public service is
//! down and none was fetched before), the answer is `503` with
//! `Retry-After`, a page or JSON, never a redirect to sign in.

use std::sync::Arc;

use url::Url;

use crate::claims::Subject;
use crate::cookie::{handoff_token, parent_domain_name, HOST_ONLY_NAME};
use crate::handoff_binding::{PendingVerifiers, BINDING_PARAM};
use crate::id_token::bearer_token;
use crate::policy::Identity;
use crate::refusal_log::{RefusalLog, Summary};
use crate::request_head::RequestHead;
use crate::revocation::{RevocationFeed, RevokedSessions};
use crate::token_checks::VerifyError;
use crate::verifier::HandoffVerifier;

mod bearer_id_tokens;
mod principal;
mod unauthenticated;

pub use bearer_id_tokens::BearerIdTokens;
pub use principal::{Person, Principal, Service, ServiceCaller, SignedInUser, Via};
pub use unauthenticated::Unauthenticated;

/// What an app needs to check handoff tokens and send strangers to sign in.
pub struct HandoffGate {
    verifier: HandoffVerifier,
    login_url: Url,
    renew_url: Url,
    app_url: Url,
    revoked: Option<Arc<RevokedSessions>>,
    feed: Option<Arc<RevocationFeed>>,
    bearer: Option<BearerIdTokens>,
    /// The one cookie name this app reads its token from.
    cookie_name: String,
    /// Browsers sent to sign in get a binding (code delivery).
    binds_codes: bool,
    /// Which refusals are logged one by one.
    refusals: RefusalLog,
}

/// Why a request's credentials were refused: the `reason` label of
/// `auth_refusals_total` and the `refusal` field of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Neither an `Authorization` header nor the handoff cookie.
    NoCredentials,
    /// An `Authorization` header that is not a Bearer token.
    MalformedAuthorization,
    /// A handoff token (cookie or Bearer) that does not verify.
    HandoffToken,
    /// A provider-signed ID token (Bearer) refused.
    IdToken,
    /// A valid handoff token of a session since revoked.
    RevokedSession,
}

impl Refusal {
    /// The labels of every refusal, in the order the variants are declared.
    pub const LABELS: [&'static str; 5] = [
        "no_credentials",
        "malformed_authorization",
        "handoff_token",
        "id_token",
        "revoked_session",
    ];

    /// Its `reason` label in `auth_refusals_total` and `refusal` field in
    /// the log lines, one of [`Self::LABELS`].
    pub fn label(self) -> &'static str {
        Self::LABELS[self as usize]
    }
}

/// Service accounts' e-mail addresses end with this (Google's convention).
const SERVICE_ACCOUNT_DOMAIN: &str = ".gserviceaccount.com";

impl HandoffGate {
    /// `login_url`: the public service's `/login`, named to API clients;
    /// `app_url`: this app's external origin, used to build `return_to`.
    /// Browsers are sent to `login_url` too unless [`Self::renewing_at`].
    pub fn new(verifier: HandoffVerifier, login_url: Url, app_url: Url) -> Self {
        let refusals = RefusalLog::new(&Refusal::LABELS, verifier.clock().clone());
        Self {
            refusals,
            verifier,
            renew_url: login_url.clone(),
            login_url,
            app_url,
            revoked: None,
            feed: None,
            bearer: None,
            cookie_name: HOST_ONLY_NAME.to_owned(),
            binds_codes: false,
        }
    }

    /// Reads the token from this app's parent-domain cookie (cookie
    /// delivery with `HANDOFF_COOKIE_DOMAIN`) instead of the host-only one.
    pub fn parent_domain_cookie(mut self) -> Self {
        self.cookie_name = parent_domain_name(&self.app_url.origin().ascii_serialization());
        self
    }

    /// Code delivery: a browser sent to sign in carries a binding, and gets
    /// its verifier in a cookie, a fresh one for every sign-in, so a code
    /// redeems only in the browser that asked for it.
    pub fn binding_codes(mut self) -> Self {
        self.binds_codes = true;
        self
    }

    /// The name of the cookie this app reads its token from.
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// Also accepts provider-signed ID tokens as Bearer tokens.
    pub fn accepting_id_tokens(mut self, bearer: BearerIdTokens) -> Self {
        self.bearer = Some(bearer);
        self
    }

    /// Refuses tokens whose session is in `revoked` (kept up to date by
    /// someone else).
    pub fn refusing_revoked(mut self, revoked: Arc<RevokedSessions>) -> Self {
        self.revoked = Some(revoked);
        self
    }

    /// Refuses tokens whose session the public service's feed lists as
    /// revoked, refreshing the list on the request path when it is stale
    /// (see [`RevocationFeed`]).
    pub fn refusing_revoked_from(mut self, feed: Arc<RevocationFeed>) -> Self {
        self.revoked = Some(feed.revoked().clone());
        self.feed = Some(feed);
        self
    }

    /// The revocation feed, if this gate follows one (readiness asks it).
    pub fn revocation_feed(&self) -> Option<&Arc<RevocationFeed>> {
        self.feed.as_ref()
    }

    /// Sends browsers to the public service's `/renew` instead of `/login`.
    pub fn renewing_at(mut self, renew_url: Url) -> Self {
        self.renew_url = renew_url;
        self
    }

    /// The verifier of handoff tokens it was made with (readiness asks it
    /// about keys: [`HandoffVerifier::prefetch`], [`HandoffVerifier::has_keys`]).
    pub fn verifier(&self) -> &HandoffVerifier {
        &self.verifier
    }

    /// The sign-in URL with `return_to` set to this request's page on this
    /// app: the renewal route for browsers, the login route for API clients.
    pub fn sign_in_url_for(&self, req: &impl RequestHead) -> String {
        let base = if req.wants_html() {
            &self.renew_url
        } else {
            &self.login_url
        };
        let mut return_to = self.app_url.clone();
        // set_path keeps the host fixed whatever the request path looks like
        // (a path of `//evil.example` must not become a host).
        return_to.set_path(req.path());
        return_to.set_query(Some(req.query()).filter(|q| !q.is_empty()));
        let mut url = base.clone();
        url.query_pairs_mut()
            .append_pair("return_to", return_to.as_str());
        url.into()
    }

    /// The answer that sends `req` to sign in; with code delivery, a
    /// browser's redirect carries the binding of a verifier made for this
    /// sign-in alone, added to the ones the browser has pending.
    fn sign_in(&self, req: &impl RequestHead) -> Unauthenticated {
        let mut url = self.sign_in_url_for(req);
        let mut verifier = None;
        if self.binds_codes && req.wants_html() {
            let now = self.verifier.clock().unix_seconds();
            let mut pending = PendingVerifiers::from_request(req, now);
            let binding = pending.start(now);
            let mut bound = Url::parse(&url).expect("a URL this gate built");
            bound.query_pairs_mut().append_pair(BINDING_PARAM, &binding);
            url = bound.into();
            verifier = Some(pending.cookie(now));
        }
        let mut answer = Unauthenticated::new(req, url);
        answer.cookie = verifier.map(Box::new);
        answer
    }

    /// The handoff token `req` carries, read exactly as
    /// [`Self::authenticate`] reads it for `via`: the `Authorization: Bearer`
    /// token ([`Via::HandoffBearer`]) or this app's cookie
    /// ([`Via::HandoffCookie`]); `None` for [`Via::IdToken`], whose token is
    /// the provider's and not a handoff token. Call it with the request
    /// and the [`Person::via`] that `authenticate` just admitted: it is then
    /// the token that was verified, for a reverse proxy to pass on to an
    /// app that checks it again. It is a credential: never log it.
    pub fn handoff_token<'r>(&self, req: &'r impl RequestHead, via: Via) -> Option<&'r str> {
        match via {
            Via::HandoffBearer => req
                .single_header("authorization")
                .ok()
                .flatten()
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(bearer_token),
            Via::HandoffCookie => handoff_token(req, &self.cookie_name),
            Via::IdToken => None,
        }
    }

    /// Who sent the request, or the answer that refuses it.
    pub async fn authenticate(&self, req: &impl RequestHead) -> Result<Principal, Unauthenticated> {
        // An interval's summary is written by whichever request comes after
        // it: nothing else runs on an idle instance.
        self.refusals.summaries(log_summary);
        let reject = |refusal: Refusal, reason: &dyn std::fmt::Display| {
            self.count_refusal(refusal, reason, req);
            self.sign_in(req)
        };
        // Sent twice, Authorization is refused like a malformed one: which
        // copy a proxy in front would have read is anyone's guess.
        let authorization = match req.single_header("authorization") {
            Ok(value) => value.map(|v| std::str::from_utf8(v).ok().and_then(bearer_token)),
            Err(_) => Some(None),
        };
        let (token, via) = match authorization {
            Some(Some(token)) => (token, Credential::Bearer),
            Some(None) => {
                return Err(reject(
                    Refusal::MalformedAuthorization,
                    &"an Authorization header that is not a Bearer token",
                ))
            }
            None => (
                handoff_token(req, &self.cookie_name)
                    .ok_or_else(|| reject(Refusal::NoCredentials, &"no handoff cookie"))?,
                Credential::Cookie,
            ),
        };
        if via == Credential::Bearer && self.bearer.is_some() && names_rs256(token) {
            return self
                .authenticate_id_token(token)
                .await
                .map_err(|e| reject(Refusal::IdToken, &e));
        }
        let started = std::time::Instant::now();
        let verified = self.verifier.verify_shared(token).await;
        metrics::histogram!("handoff_verification_seconds").record(started.elapsed());
        let outcome = if verified.is_ok() { "valid" } else { "refused" };
        metrics::counter!("handoff_verifications_total", "outcome" => outcome).increment(1);
        let claims = verified.map_err(|e| match e {
            VerifyError::KeysUnavailable(_) => {
                tracing::debug!(reason = %e, "handoff token not checked");
                Unauthenticated::unavailable(req)
            }
            e => reject(Refusal::HandoffToken, &e),
        })?;
        if let Some(feed) = &self.feed {
            feed.ensure_fresh().await;
        }
        if self
            .revoked
            .as_ref()
            .is_some_and(|revoked| revoked.is_revoked(&claims.sid))
        {
            return Err(reject(Refusal::RevokedSession, &"the session was revoked"));
        }
        Ok(Principal::Person(Person {
            subject: claims.sub.clone(),
            email: claims.email.clone(),
            name: claims.name.clone(),
            session_id: Some(claims.sid.clone()),
            expires_at: claims.exp,
            via: match via {
                Credential::Cookie => Via::HandoffCookie,
                Credential::Bearer => Via::HandoffBearer,
            },
        }))
    }

    /// Counts a refusal; its line is written if the interval's budget for
    /// its kind allows (see [`crate::refusal_log`]).
    fn count_refusal(
        &self,
        refusal: Refusal,
        reason: &dyn std::fmt::Display,
        req: &impl RequestHead,
    ) {
        metrics::counter!("auth_refusals_total", "reason" => refusal.label()).increment(1);
        let (in_full, summary) = self.refusals.refusal(refusal as usize);
        if let Some(summary) = summary {
            log_summary(summary);
        }
        if in_full {
            tracing::debug!(
                refusal = %refusal.label(),
                %reason,
                path = req.path(),
                "request not authenticated"
            );
        }
    }

    async fn authenticate_id_token(&self, token: &str) -> Result<Principal, String> {
        let bearer = self
            .bearer
            .as_ref()
            .ok_or("ID tokens are not accepted here")?;
        let claims = bearer
            .verifier
            .verify_shared(token)
            .await
            .map_err(|e| e.to_string())?;
        // Several audiences: only with `azp` naming one of them, as OIDC asks.
        let audience = match claims.aud.as_slice() {
            [one] => one.as_str(),
            [] => return Err("an ID token without an audience".into()),
            several => match &claims.azp {
                Some(azp) if several.contains(azp) => azp.as_str(),
                _ => return Err("several audiences and no matching azp".into()),
            },
        };
        let email = claims
            .verified_email()
            .ok_or("the ID token has no verified e-mail")?
            .to_ascii_lowercase();
        if email.ends_with(SERVICE_ACCOUNT_DOMAIN) {
            if audience != bearer.service_audience {
                return Err("a service account's token for another audience".into());
            }
            if !bearer.service_accounts.contains(&email) {
                return Err("a service account that is not on the list".into());
            }
            return Ok(Principal::Service(Service {
                email,
                subject: Subject::new(claims.sub.as_str()),
            }));
        }
        let people = bearer
            .people
            .as_ref()
            .ok_or("ID tokens of people are not accepted here")?;
        if !bearer.person_audiences.iter().any(|a| a == audience) {
            return Err("a person's token for another audience".into());
        }
        let identity = Identity {
            subject: claims.sub.clone(),
            email: Some(email.clone()),
            email_verified: true,
            name: claims.name.clone(),
            hosted_domain: claims.hd.clone(),
        };
        people.check(&identity).map_err(|e| e.to_string())?;
        Ok(Principal::Person(Person {
            subject: Subject::new(claims.sub.as_str()),
            email,
            name: claims.name.clone(),
            session_id: None,
            expires_at: claims.exp,
            via: Via::IdToken,
        }))
    }
}

/// The line that stands for the refusals of one kind not logged one by one.
fn log_summary(summary: Summary) {
    let Summary {
        reason,
        not_logged,
        seconds,
    } = summary;
    tracing::debug!(
        refusal = %reason,
        not_logged,
        seconds,
        "{not_logged} more requests not authenticated ({reason}) in the last {seconds} s, not logged one by one"
    );
}

/// Whether a Bearer token claims to be a provider's (RS256) ID token; the
/// verifier it is routed to checks the algorithm again, so this only
/// chooses which one refuses a lie.
fn names_rs256(token: &str) -> bool {
    jsonwebtoken::decode_header(token).is_ok_and(|h| h.alg == jsonwebtoken::Algorithm::RS256)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    Cookie,
    Bearer,
}

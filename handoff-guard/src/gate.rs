// Over 400 lines: the gate and its three extractors share one authentication path (cookie, handoff Bearer, ID-token Bearer); splitting would spread one decision.
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

use crate::claims::{SessionId, Subject};
use crate::cookie::{handoff_token, parent_domain_name, HOST_ONLY_NAME};
use crate::handoff_binding::{PendingVerifiers, BINDING_PARAM};
use crate::id_token::{bearer_token, IdTokenVerifier};
use crate::policy::{AccessPolicy, Identity};
use crate::refusal_log::{RefusalLog, Summary};
use crate::request_head::RequestHead;
use crate::revocation::{RevocationFeed, RevokedSessions};
use crate::verifier::{HandoffVerifier, VerifyError};

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

/// Which provider-signed ID tokens an app accepts as Bearer tokens.
pub struct BearerIdTokens {
    /// Verifies signature, issuer, expiry, and that the audience is one of
    /// `person_audiences` or `service_audience`.
    pub verifier: IdTokenVerifier,
    /// Audiences of people's tokens (a Chrome extension's OAuth client id).
    pub person_audiences: Vec<String>,
    /// Who may call as a person; `None`: no person ID tokens.
    pub people: Option<AccessPolicy>,
    /// The audience of service accounts' tokens: this app's URL.
    pub service_audience: String,
    /// Service-account e-mails allowed to call.
    pub service_accounts: Vec<String>,
}

impl BearerIdTokens {
    /// Google-signed ID tokens of `service_accounts` for `app_url` (what
    /// Cloud Tasks, Cloud Scheduler and other Cloud Run services send); no
    /// people's ID tokens.
    pub fn google_service_accounts(app_url: &Url, service_accounts: &[String]) -> Self {
        let (issuers, keys) = crate::id_token::google_issuer_and_keys();
        Self::of(&issuers, keys, app_url, service_accounts, None)
    }

    /// ID tokens of `issuers` (keys at `jwks_url`): of `service_accounts`
    /// for `app_url`, and with `people` of the people it admits for one of
    /// its audiences (a Chrome extension's OAuth client id).
    pub(crate) fn of(
        issuers: &[String],
        jwks_url: Url,
        app_url: &Url,
        service_accounts: &[String],
        people: Option<(Vec<String>, AccessPolicy)>,
    ) -> Self {
        let service_audience = app_url.as_str().trim_end_matches('/').to_owned();
        let (person_audiences, people) = match people {
            Some((audiences, policy)) => (audiences, Some(policy)),
            None => (Vec::new(), None),
        };
        let audiences: Vec<String> = person_audiences
            .iter()
            .cloned()
            .chain([service_audience.clone()])
            .collect();
        let verifier = IdTokenVerifier::remote(issuers, &audiences, jwks_url, Default::default());
        Self {
            verifier,
            person_audiences,
            people,
            service_audience,
            service_accounts: service_accounts
                .iter()
                .map(|e| e.to_ascii_lowercase())
                .collect(),
        }
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

/// How a person proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A handoff token in this app's cookie ([`HandoffGate::cookie_name`]).
    HandoffCookie,
    /// A handoff token sent as `Authorization: Bearer` (an API client that
    /// holds one).
    HandoffBearer,
    /// A provider-signed ID token (a Chrome extension's).
    IdToken,
}

/// A person the gate admitted, and how.
#[derive(Debug, Clone)]
pub struct Person {
    /// The provider's identifier of the person (`sub`): unlike the e-mail
    /// address it does not change, so key what is stored per person on it.
    pub subject: Subject,
    /// The person's e-mail address, verified by the provider: as the
    /// provider gave it with a handoff token, ASCII-lower-cased with an ID
    /// token. Compare it without ASCII case.
    pub email: String,
    /// The display name, when the provider shared one.
    pub name: Option<String>,
    /// The public service's session, for handoff tokens.
    pub session_id: Option<SessionId>,
    /// Unix seconds when the token that proved it expires (its `exp`).
    /// After that (and the leeway) the token is refused: a browser is sent
    /// for a new one, an API client must bring one.
    pub expires_at: u64,
    /// How the person proved who they are.
    pub via: Via,
}

/// A service account the gate admitted: a provider-signed ID token for
/// this app's URL, of an account on the list.
#[derive(Debug, Clone)]
pub struct Service {
    /// The service account's e-mail address, ASCII-lower-cased: the entry
    /// of the list it matched.
    pub email: String,
    /// The token's `sub`: the provider's unique id of the account.
    pub subject: Subject,
}

/// Whoever sent an authenticated request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A person: a handoff token, or a person's ID token passing the
    /// access policy.
    Person(Person),
    /// A listed service account, with an ID token for this app's URL.
    Service(Service),
}

impl Principal {
    /// The person, or the `403` a service gets on a person's route.
    pub fn person(self) -> Result<SignedInUser, Unauthenticated> {
        match self {
            Self::Person(person) => Ok(SignedInUser(person)),
            Self::Service(_) => Err(Unauthenticated::forbidden("this route is for people")),
        }
    }

    /// The service, or the `403` a person gets on a service-only route.
    pub fn service(self) -> Result<ServiceCaller, Unauthenticated> {
        match self {
            Self::Service(service) => Ok(ServiceCaller(service)),
            Self::Person(_) => Err(Unauthenticated::forbidden("this route is for services")),
        }
    }
}

/// A service account calling a service-only route.
#[derive(Debug, Clone)]
pub struct ServiceCaller(pub Service);

/// A person: a valid handoff token (cookie or Bearer) or a person's ID token.
#[derive(Debug, Clone)]
pub struct SignedInUser(Person);

impl SignedInUser {
    /// The person's e-mail address, verified by the provider (see
    /// [`Person::email`] for its case).
    pub fn email(&self) -> &str {
        &self.0.email
    }
    /// The provider's identifier of the person (`sub`), which does not
    /// change: key what is stored per person on it.
    pub fn subject(&self) -> &Subject {
        &self.0.subject
    }
    /// The display name, when the provider shared one.
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    /// The public service's session id; `None` for an ID token.
    pub fn session_id(&self) -> Option<&SessionId> {
        self.0.session_id.as_ref()
    }
    /// Unix seconds when the token that proved it expires (see
    /// [`Person::expires_at`]).
    pub fn expires_at(&self) -> u64 {
        self.0.expires_at
    }
    /// How the person proved who they are.
    pub fn via(&self) -> Via {
        self.0.via
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "actix"), allow(dead_code))]
enum Answer {
    Redirect,
    Json,
    Forbidden,
    ServerError,
    /// The keys to verify the token with cannot be fetched (the public
    /// service is down and none were fetched before): neither "signed in"
    /// nor "sign in again", whose redirect could loop while the outage lasts.
    Unavailable {
        html: bool,
    },
}

/// The one answer to every authentication failure.
#[derive(Debug)]
pub struct Unauthenticated {
    sign_in_url: String,
    answer: Answer,
    /// Set with a redirect: the pending verifiers, the new one among them.
    cookie: Option<Box<cookie::Cookie<'static>>>,
}

impl Unauthenticated {
    fn new(req: &impl RequestHead, sign_in_url: String) -> Self {
        let answer = if req.wants_html() {
            Answer::Redirect
        } else {
            Answer::Json
        };
        Self {
            sign_in_url,
            answer,
            cookie: None,
        }
    }

    pub(crate) fn forbidden(message: &'static str) -> Self {
        Self {
            sign_in_url: message.to_owned(),
            answer: Answer::Forbidden,
            cookie: None,
        }
    }

    fn unavailable(req: &impl RequestHead) -> Self {
        Self {
            sign_in_url: String::new(),
            answer: Answer::Unavailable {
                html: req.wants_html(),
            },
            cookie: None,
        }
    }

    /// Whether the request could not be checked at all, for want of keys.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.answer, Answer::Unavailable { .. })
    }

    #[cfg_attr(not(feature = "actix"), allow(dead_code))]
    pub(crate) fn misconfigured() -> Self {
        Self {
            sign_in_url: String::new(),
            answer: Answer::ServerError,
            cookie: None,
        }
    }

    /// Where the request is sent to sign in: the `Location` of the
    /// redirect, or the `login_url` of the `401`'s JSON. For a `403` it
    /// holds the reason given instead; it is empty for `500` and `503`.
    pub fn sign_in_url(&self) -> &str {
        &self.sign_in_url
    }
}

const UNAVAILABLE_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
    <title>Temporarily unavailable</title></head><body><h1>Temporarily unavailable</h1>\
    <p>Your sign-in cannot be checked right now. Please reload this page in a moment.</p>\
    <p><a id=\"way-on\" href=\"\">Try again</a></p></body></html>";

/// The refusal as an HTTP answer, for the framework adapters to send as
/// they are: every adapter answers alike.
impl Unauthenticated {
    /// The status: `302` to sign in, `401`, `403`, `500` or `503`.
    pub fn status(&self) -> u16 {
        match self.answer {
            Answer::Redirect => 302,
            Answer::Json => 401,
            Answer::Forbidden => 403,
            Answer::ServerError => 500,
            Answer::Unavailable { .. } => 503,
        }
    }

    /// The headers to send (lowercase names), `content-type` among them
    /// when there is a body.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![("cache-control", "no-store".to_owned())];
        match self.answer {
            Answer::Redirect => {
                headers.push(("location", self.sign_in_url.clone()));
                if let Some(cookie) = &self.cookie {
                    headers.push(("set-cookie", cookie.to_string()));
                }
            }
            Answer::Json => {
                headers.push((
                    "www-authenticate",
                    r#"Bearer realm="app", error="invalid_token""#.to_owned(),
                ));
                headers.push(("content-type", "application/json".to_owned()));
            }
            Answer::Forbidden | Answer::ServerError => {
                headers.push(("content-type", "application/json".to_owned()));
            }
            Answer::Unavailable { html } => {
                headers.push(("retry-after", "5".to_owned()));
                let kind = if html {
                    "text/html; charset=utf-8"
                } else {
                    "application/json"
                };
                headers.push(("content-type", kind.to_owned()));
            }
        }
        headers
    }

    /// The body: a page, JSON naming the login URL or the reason, or
    /// nothing for a redirect.
    pub fn body(&self) -> String {
        match self.answer {
            Answer::Redirect => String::new(),
            Answer::Json => serde_json::json!({
                "error": "unauthenticated",
                "message": "Sign in to continue.",
                "login_url": self.sign_in_url,
            })
            .to_string(),
            Answer::Forbidden => serde_json::json!({
                "error": "forbidden",
                "message": self.sign_in_url,
            })
            .to_string(),
            Answer::ServerError => serde_json::json!({
                "error": "server_error",
                "message": "Authentication is not configured on this route.",
            })
            .to_string(),
            Answer::Unavailable { html: true } => UNAVAILABLE_PAGE.to_owned(),
            Answer::Unavailable { html: false } => serde_json::json!({
                "error": "temporarily_unavailable",
                "message": "Sign-in cannot be checked right now. Try again shortly.",
            })
            .to_string(),
        }
    }
}

impl std::fmt::Display for Unauthenticated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not signed in")
    }
}

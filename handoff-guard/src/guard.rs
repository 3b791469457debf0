//! The front door: everything an app needs, built from two URLs, the
//! login service's and the app's own.
//!
//! From them [`Guard::builder`] derives the issuer and audience of the
//! handoff tokens, the JWKS, `/login` and `/renew` for people not signed
//! in, the code-redemption calls of the separate-sites delivery and the
//! revocation feed. Revocation is on by default: the app polls the login
//! service for sessions signed out there, authenticating with its service
//! account's ID token from the metadata server (Cloud Run's, by default),
//! so a sign-out reaches the app within the poll interval instead of at
//! the token's expiry. [`Guard::check`] says at start whether it can.
//!
//! The same [`Guard`] serves every framework: `configure` for actix-web,
//! the state and [`Guard::routes`] for axum, `gate()` for the tower layer.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::claims::{Audience, Issuer};
use crate::clock::{SharedClock, SystemClock};
use crate::gate::{BearerIdTokens, HandoffGate};
use crate::handoff_code::CodeRedemption;
use crate::jwks::RemoteJwksOptions;
use crate::metadata::{IdTokenSource, GOOGLE_METADATA_URL};
use crate::policy::AccessPolicy;
use crate::revocation::{RevocationFeed, RevokedSessions};
use crate::verifier::HandoffVerifier;

/// How often revoked sessions are fetched unless told otherwise.
pub const DEFAULT_REVOCATION_INTERVAL: Duration = Duration::from_secs(15);

/// How the login service hands this app its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Separate sites (the default Cloud Run URLs): a one-time code this
    /// app redeems at `/auth/handoff`, then its own `__Host-` cookie.
    Code,
    /// A shared parent domain: the login service sets this app's
    /// `__Secure-handoff-…` cookie for the domain.
    ParentDomainCookie,
    /// The login service sets `__Host-handoff` on this app's host itself
    /// (both behind one host).
    HostOnlyCookie,
}

/// A URL given to the builder that cannot serve.
#[derive(Debug, thiserror::Error)]
#[error("{what} {url:?}: {problem} (for example https://auth.example.com)")]
pub struct BuildError {
    what: &'static str,
    url: String,
    problem: &'static str,
}

/// Builds a [`Guard`]; see the module docs.
pub struct GuardBuilder {
    login_service: Url,
    app: Url,
    back_channel: Url,
    metadata: Url,
    delivery: Delivery,
    revocation: Option<Duration>,
    service_accounts: Vec<String>,
    /// People's ID tokens: the audiences (OAuth client ids) and who may call.
    people: Option<(Vec<String>, AccessPolicy)>,
    /// Who issues the ID tokens (service accounts' and people's), and
    /// where their keys are, when not Google.
    id_token_issuer: Option<(String, Url)>,
    clock: SharedClock,
}

/// The app's gate, and with code delivery its redemption routes.
#[derive(Clone)]
pub struct Guard {
    gate: Arc<HandoffGate>,
    redemption: Option<Arc<CodeRedemption>>,
    identity: Arc<IdTokenSource>,
    revocation: bool,
}

impl Guard {
    /// A builder for the app at `app` behind the login service at
    /// `login_service`: both `https` origins (plain `http` only to
    /// loopback, for local runs).
    pub fn builder(login_service: &str, app: &str) -> Result<GuardBuilder, BuildError> {
        Self::builder_with_loopback_names(login_service, app, &[])
    }

    /// [`Self::builder`], also taking plain `http` to the host names
    /// `loopback`, for a test harness whose clients resolve them to
    /// 127.0.0.1 (cookie domains need names). Never from configuration.
    pub fn builder_with_loopback_names(
        login_service: &str,
        app: &str,
        loopback: &[&str],
    ) -> Result<GuardBuilder, BuildError> {
        let login_service = origin("the login service's URL", login_service, loopback)?;
        let app = origin("this app's URL", app, loopback)?;
        Ok(GuardBuilder {
            back_channel: login_service.clone(),
            login_service,
            app,
            metadata: Url::parse(GOOGLE_METADATA_URL).expect("a valid constant URL"),
            delivery: Delivery::Code,
            revocation: Some(DEFAULT_REVOCATION_INTERVAL),
            service_accounts: Vec::new(),
            people: None,
            id_token_issuer: None,
            clock: Arc::new(SystemClock),
        })
    }

    /// The gate: give it to the tower layer, or read it in a handler.
    pub fn gate(&self) -> &Arc<HandoffGate> {
        &self.gate
    }

    /// The code-redemption client and routes (code delivery only).
    pub fn redemption(&self) -> Option<&Arc<CodeRedemption>> {
        self.redemption.as_ref()
    }

    /// Whether this app can do what it was built to: fetch the login
    /// service's keys and, with revocation on, get its own ID token to
    /// read the revocation feed and redeem codes. An error says what does
    /// not work and what follows; call it at start and log it.
    pub async fn check(&self) -> Result<(), String> {
        self.gate
            .verifier()
            .prefetch()
            .await
            .map_err(|e| format!("the login service's keys cannot be fetched ({e}): no one can sign in until they can"))?;
        if self.revocation || self.redemption.is_some() {
            self.identity.token().await.map_err(|e| {
                format!(
                    "this app cannot get its service account's ID token ({e}): sessions signed out at the login service stay valid here until their tokens expire, and sign-in codes cannot be redeemed"
                )
            })?;
        }
        Ok(())
    }

    /// Registers the gate (and the code-redemption routes) on an actix-web
    /// app: `App::new().configure(guard.actix())`.
    #[cfg(feature = "actix")]
    pub fn actix(&self) -> impl Fn(&mut actix_web::web::ServiceConfig) + Clone {
        let gate = actix_web::web::Data::from(self.gate.clone());
        let redemption = self.redemption.clone().map(actix_web::web::Data::from);
        move |cfg| {
            cfg.app_data(gate.clone());
            if let Some(redemption) = &redemption {
                cfg.app_data(redemption.clone());
                crate::handoff_code::configure(cfg);
            }
        }
    }

    /// The code-redemption routes on axum (none unless code delivery), for
    /// a router whose state is the [`Guard`]:
    /// `Router::new().route(…).merge(guard.routes()).with_state(guard)`.
    #[cfg(feature = "axum")]
    pub fn routes(&self) -> axum::Router<Guard> {
        match self.redemption {
            Some(_) => crate::axum::code_redemption_routes(),
            None => axum::Router::new(),
        }
    }
}

#[cfg(feature = "axum")]
impl axum::extract::FromRef<Guard> for Arc<HandoffGate> {
    fn from_ref(guard: &Guard) -> Self {
        guard.gate.clone()
    }
}

#[cfg(feature = "axum")]
impl axum::extract::FromRef<Guard> for Option<Arc<CodeRedemption>> {
    fn from_ref(guard: &Guard) -> Self {
        guard.redemption.clone()
    }
}

impl GuardBuilder {
    /// Cookie delivery on a shared parent domain (both services under one
    /// site); the default is code delivery, which works across sites.
    pub fn parent_domain_cookie(mut self) -> Self {
        self.delivery = Delivery::ParentDomainCookie;
        self
    }

    /// Cookie delivery on this app's own host (the login service and the
    /// app behind one host).
    pub fn host_only_cookie(mut self) -> Self {
        self.delivery = Delivery::HostOnlyCookie;
        self
    }

    /// Also admits these Google service accounts (Cloud Scheduler, Cloud
    /// Tasks, another service) with Google-signed ID tokens whose audience
    /// is this app's URL, as [`crate::ServiceCaller`]s.
    pub fn service_accounts<I, E>(mut self, emails: I) -> Self
    where
        I: IntoIterator<Item = E>,
        E: Into<String>,
    {
        self.service_accounts
            .extend(emails.into_iter().map(|e| e.into().to_ascii_lowercase()));
        self
    }

    /// Also admits people with a Google-signed ID token whose audience is
    /// one of `audiences` (the OAuth client ids of a Chrome extension or
    /// another client that signs people in itself and calls this app with
    /// the ID token as a Bearer token), and whom `people` admits; as a
    /// [`crate::SignedInUser`] whose [`crate::Via`] is `IdToken`, with no
    /// session. A token of another audience, even Google-signed, is refused.
    /// Each call replaces the audiences and policy of the one before.
    pub fn person_id_tokens<I, A>(mut self, audiences: I, people: AccessPolicy) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<String>,
    {
        let audiences: Vec<String> = audiences.into_iter().map(Into::into).collect();
        self.people = (!audiences.is_empty()).then_some((audiences, people));
        self
    }

    /// Verifies the ID tokens this guard admits ([`Self::service_accounts`]'
    /// and [`Self::person_id_tokens`]') as issued by `issuer` with the keys
    /// published at `jwks_url`, instead of by Google with Google's keys:
    /// for a stand-in of Google where Google's tokens cannot be had (an
    /// emulator, a test deployment). A real deployment never needs it.
    pub fn id_token_issuer(mut self, issuer: &str, jwks_url: Url) -> Self {
        self.id_token_issuer = Some((issuer.to_owned(), jwks_url));
        self
    }

    /// Turns revocation polling off. A session signed out at the login
    /// service (sign-out, the sessions page, an operator, the provider's
    /// back-channel logout) then stays valid at this app until its
    /// handoff token expires, minutes later, and a copied token works
    /// until then.
    pub fn without_revocation(mut self) -> Self {
        self.revocation = None;
        self
    }

    /// Polls for revoked sessions every `interval` instead of
    /// [`DEFAULT_REVOCATION_INTERVAL`].
    pub fn revocation_every(mut self, interval: Duration) -> Self {
        self.revocation = Some(interval);
        self
    }

    /// Reaches the login service server to server (its keys, the
    /// revocation feed, code redemption) at `url`, a private address,
    /// instead of its public URL.
    pub fn back_channel(mut self, url: Url) -> Self {
        self.back_channel = url;
        self
    }

    /// Gets this app's ID tokens from the metadata server at `url`
    /// instead of Google's.
    pub fn metadata_server(mut self, url: Url) -> Self {
        self.metadata = url;
        self
    }

    /// Checks lifetimes and dates binding verifiers by `clock`.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The guard.
    pub fn build(self) -> Guard {
        let issuer = Issuer::new(self.login_service.as_str().trim_end_matches('/'));
        let audience = Audience::new(self.app.origin().ascii_serialization());
        let route = |path: &str| {
            let mut url = self.login_service.clone();
            url.set_path(path);
            url
        };
        // Keys, like every call server to server, over the back channel.
        let mut jwks = self.back_channel.clone();
        jwks.set_path("/.well-known/jwks.json");
        let verifier = HandoffVerifier::remote(
            issuer.clone(),
            audience.clone(),
            jwks,
            RemoteJwksOptions::default(),
        )
        .with_clock(self.clock.clone());
        let mut gate = HandoffGate::new(verifier, route("/login"), self.app.clone())
            .renewing_at(route("/renew"));
        gate = match self.delivery {
            Delivery::Code => gate.binding_codes(),
            Delivery::ParentDomainCookie => gate.parent_domain_cookie(),
            Delivery::HostOnlyCookie => gate,
        };
        if !self.service_accounts.is_empty() || self.people.is_some() {
            let (issuers, keys) = match &self.id_token_issuer {
                None => crate::id_token::google_issuer_and_keys(),
                Some((issuer, keys)) => (vec![issuer.clone()], keys.clone()),
            };
            gate = gate.accepting_id_tokens(BearerIdTokens::of(
                &issuers,
                keys,
                &self.app,
                &self.service_accounts,
                self.people.clone(),
            ));
        }
        let identity = Arc::new(IdTokenSource::new(&self.metadata, &issuer));
        if let Some(interval) = self.revocation {
            let mut feed_url = self.back_channel.clone();
            feed_url.set_path("/sessions/revoked");
            let feed = RevocationFeed::new(
                feed_url,
                identity.clone(),
                interval,
                Arc::new(RevokedSessions::default()),
                self.clock.clone(),
            );
            gate = gate.refusing_revoked_from(feed);
        }
        let redemption = (self.delivery == Delivery::Code).then(|| {
            Arc::new(
                CodeRedemption::new(
                    &self.back_channel,
                    &self.login_service,
                    audience.clone(),
                    identity.clone(),
                )
                .with_clock(self.clock.clone()),
            )
        });
        Guard {
            gate: Arc::new(gate),
            redemption,
            identity,
            revocation: self.revocation.is_some(),
        }
    }
}

/// `raw` as an origin URL: `https`, or `http` to loopback; no path, query,
/// fragment or user name.
fn origin(what: &'static str, raw: &str, loopback_names: &[&str]) -> Result<Url, BuildError> {
    let refuse = |problem| BuildError {
        what,
        url: raw.to_owned(),
        problem,
    };
    let url = Url::parse(raw).map_err(|_| refuse("not a URL"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(host)) => host == "localhost" || loopback_names.contains(&host),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(refuse("plain http is only for loopback addresses")),
        _ => return Err(refuse("not an http(s) URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("a URL with a user name or password"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("an origin has no path, query or fragment"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_url_is_derived_from_the_two_origins() {
        let guard = Guard::builder("https://auth.example.com", "https://app.example.com")
            .unwrap()
            .build();
        let gate = guard.gate();
        assert!(
            gate.revocation_feed().is_some(),
            "revocation is on by default"
        );
        assert!(guard.redemption().is_some(), "code delivery by default");
        assert_eq!(gate.cookie_name(), "__Host-handoff");
        let off = Guard::builder("https://auth.example.com", "https://app.example.com")
            .unwrap()
            .without_revocation()
            .parent_domain_cookie()
            .build();
        assert!(off.gate().revocation_feed().is_none());
        assert!(off.redemption().is_none());
        assert!(off.gate().cookie_name().starts_with("__Secure-handoff-"));
    }

    #[test]
    fn only_https_origins_or_loopback_http_are_taken() {
        for ok in [
            "https://auth.example.com",
            "http://127.0.0.1:8080",
            "http://localhost:3000",
        ] {
            assert!(
                Guard::builder(ok, "https://app.example.com").is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "http://auth.example.com",
            "http://localhost.example.com",
            "https://auth.example.com/login",
            "https://user@auth.example.com",
            "ftp://auth.example.com",
            "auth.example.com",
        ] {
            let error = Guard::builder(bad, "https://app.example.com")
                .err()
                .expect(bad);
            assert!(error.to_string().contains("login service"), "{error}");
        }
    }
}

//! Issuing the handoff token for one app and the cookie that carries it.

use std::time::Duration;

use actix_web::cookie::Cookie;
use handoff_guard::login_service::{HandoffSigner, SignError};
use handoff_guard::SharedClock;
use handoff_guard::{HandoffClaims, Issuer};

use crate::apps::{AppRegistry, Delivery};
use crate::policy::Identity;

pub struct HandoffIssuer {
    signer: HandoffSigner,
    issuer: Issuer,
    ttl: Duration,
    delivery: Delivery,
    clock: SharedClock,
}

impl HandoffIssuer {
    pub fn new(
        signer: HandoffSigner,
        issuer: Issuer,
        ttl: Duration,
        delivery: Delivery,
        clock: SharedClock,
    ) -> Self {
        Self {
            signer,
            issuer,
            ttl,
            delivery,
            clock,
        }
    }

    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A token for `audience` (the app's origin) under session `sid`.
    pub fn issue(
        &self,
        identity: &Identity,
        audience: &str,
        sid: &str,
    ) -> Result<String, SignError> {
        let email = identity.email.as_deref().unwrap_or_default();
        let now = self.clock.unix_seconds();
        let claims = HandoffClaims {
            iss: self.issuer.clone(),
            aud: audience.into(),
            sub: identity.subject.as_str().into(),
            email: email.to_owned(),
            name: identity.name.clone(),
            sid: sid.into(),
            iat: now,
            nbf: now,
            exp: now + self.ttl.as_secs(),
            jti: service_kit::random::url_safe_token(16),
        };
        self.signer.sign(&claims)
    }

    /// The cookie carrying `token` for the app `audience` (cookie delivery).
    pub fn cookie(&self, token: String, audience: &str) -> Cookie<'static> {
        handoff_guard::login_service::handoff_cookie(
            token,
            self.ttl,
            &self.cookie_scope(),
            audience,
        )
    }

    /// Clears the cookies this service sets, one per app on a parent
    /// domain (with code delivery there are none, but clearing a host-only
    /// one costs nothing).
    pub fn removal_cookies(&self, apps: &AppRegistry) -> Vec<Cookie<'static>> {
        let scope = self.cookie_scope();
        let mut cookies: Vec<Cookie<'static>> = Vec::new();
        for app in apps.apps() {
            let cookie = handoff_guard::login_service::removal_cookie(&scope, app.audience());
            if !cookies.iter().any(|c| c.name() == cookie.name()) {
                cookies.push(cookie);
            }
        }
        cookies
    }

    fn cookie_scope(&self) -> handoff_guard::CookieScope {
        match &self.delivery {
            Delivery::Cookie {
                domain: Some(domain),
            } => handoff_guard::CookieScope::ParentDomain {
                domain: domain.clone(),
            },
            Delivery::Cookie { domain: None } | Delivery::Code => {
                handoff_guard::CookieScope::HostOnly
            }
        }
    }

    /// Checks a token this service issued for `audience` (expired ones
    /// included, within the leeway: an app signing out may hold one that
    /// just ran out).
    pub async fn verify_for(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<handoff_guard::HandoffClaims, handoff_guard::VerifyError> {
        let keys = handoff_guard::KeySet::from_jwks(self.signer.jwks());
        handoff_guard::HandoffVerifier::new(
            self.issuer.clone(),
            handoff_guard::Audience::new(audience),
            handoff_guard::KeySource::Static(keys),
        )
        .with_clock(self.clock.clone())
        .verify(token)
        .await
    }

    pub fn signer(&self) -> &HandoffSigner {
        &self.signer
    }
}

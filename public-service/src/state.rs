//! What every request handler shares, built once at start.

use std::sync::Arc;
use std::time::Duration;

use actix_web::cookie::Key;
use handoff_guard::login_service::ServiceCallers;
use handoff_guard::SharedClock;
use url::Url;

use crate::apps::AppRegistry;
use crate::broker_rules::BrokerRules;
use crate::handoff::HandoffIssuer;
use crate::housekeeping::Housekeeping;
use crate::oidc::OidcClient;
use crate::policy::AccessPolicy;
use crate::sessions::Sessions;
use crate::store::Storage;
use crate::token_broker::TokenBroker;

#[derive(Debug, Clone, Copy)]
pub struct SignOutSettings {
    /// Revoke the refresh token at the provider and forget the grant.
    pub revoke_grant: bool,
    /// Send the browser through the provider's end-session endpoint.
    pub end_provider_session: bool,
}

pub struct AppState {
    pub oidc: Arc<OidcClient>,
    pub apps: AppRegistry,
    pub policy: AccessPolicy,
    pub handoff: HandoffIssuer,
    pub store: Arc<dyn Storage>,
    pub housekeeping: Arc<Housekeeping>,
    pub readiness: crate::readiness::Readiness,
    pub sessions: Sessions,
    pub broker: TokenBroker,
    /// What each broker caller may get.
    pub broker_rules: BrokerRules,
    /// `BROKER_REQUIRES_SESSION`: tokens only for users signed in now.
    pub broker_requires_session: bool,
    /// Who may call the token broker; `None` disables it.
    pub callers: Option<ServiceCallers>,
    /// The apps' service accounts, for the apps' back-channel routes;
    /// `None` disables those.
    pub app_callers: Option<ServiceCallers>,
    pub cookie_key: Key,
    pub login_timeout: Duration,
    pub code_ttl: Duration,
    pub optional_scopes: Vec<String>,
    pub sign_out: SignOutSettings,
    /// This service's external URL.
    pub public_url: Url,
    pub clock: SharedClock,
    pub provider_name: String,
    pub dev_mode: bool,
}

impl AppState {
    /// What signing in needs.
    pub fn sign_in(&self) -> crate::flows::sign_in::SignInDeps<'_, crate::oidc::OidcClient> {
        self.sign_in_with(&self.oidc)
    }

    /// What signing in needs, with `provider` as the provider.
    pub fn sign_in_with<'a, P>(
        &'a self,
        provider: &'a P,
    ) -> crate::flows::sign_in::SignInDeps<'a, P> {
        crate::flows::sign_in::SignInDeps {
            provider,
            policy: &self.policy,
            apps: &self.apps,
            grants: &self.broker,
            sessions: &self.sessions,
            clock: &self.clock,
            cookie_key: &self.cookie_key,
            login_timeout: self.login_timeout,
        }
    }

    /// What signing out needs.
    pub fn sign_out(&self) -> crate::flows::sign_out::SignOut<'_> {
        crate::flows::sign_out::SignOut {
            sessions: &self.sessions,
            store: &*self.store,
            grants: &self.broker,
            provider: &self.oidc,
            issuer: &self.handoff,
            apps: &self.apps,
            settings: self.sign_out,
            signed_out_page: self.url("/signed-out"),
        }
    }

    /// What redeeming a one-time code needs.
    pub fn hand_off(&self) -> crate::flows::hand_off::HandOff<'_> {
        crate::flows::hand_off::HandOff {
            apps: &self.apps,
            codes: &*self.store,
            sessions: &self.sessions,
            issuer: &self.handoff,
            clock: &self.clock,
        }
    }

    /// An absolute URL on this service.
    pub fn url(&self, path: &str) -> Url {
        let mut url = self.public_url.clone();
        url.set_path(path);
        url.set_query(None);
        url
    }
}

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
    /// An absolute URL on this service.
    pub fn url(&self, path: &str) -> Url {
        let mut url = self.public_url.clone();
        url.set_path(path);
        url.set_query(None);
        url
    }
}

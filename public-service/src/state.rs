//! What every request handler shares, built once at start.

use std::time::Duration;

use actix_web::cookie::Key;
use shared::clock::SharedClock;

use crate::apps::AppRegistry;
use crate::handoff::HandoffIssuer;
use crate::oidc::OidcClient;
use crate::policy::AccessPolicy;

pub struct AppState {
    pub oidc: OidcClient,
    pub apps: AppRegistry,
    pub policy: AccessPolicy,
    pub handoff: HandoffIssuer,
    pub cookie_key: Key,
    pub login_timeout: Duration,
    pub clock: SharedClock,
    pub provider_name: String,
    pub dev_mode: bool,
}

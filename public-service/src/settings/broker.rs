//! The token broker: `BROKER_ALLOWED_CALLERS` and their rules,
//! `CALLER_TOKEN_ISSUERS`, `CALLER_TOKEN_JWKS_URL` and
//! `CALLER_TOKEN_AUDIENCE` (the callers' ID tokens, Google's unless set),
//! `BROKER_REQUIRES_SESSION` and `BROKER_NARROWS_SCOPES`.

use service_kit::config::{ConfigError, Env};
use url::Url;

use crate::broker_rules::BrokerRules;
use crate::oidc::ProviderSettings;
use crate::token_broker::BrokerSettings;

pub(super) fn broker_from_env(
    env: &Env,
    issuer: String,
    provider: &ProviderSettings,
) -> Result<BrokerSettings, ConfigError> {
    let mut caller_issuers = env.list("CALLER_TOKEN_ISSUERS");
    if caller_issuers.is_empty() {
        caller_issuers = handoff_guard::GOOGLE_ISSUERS
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
    }
    let caller_jwks_url = match env.optional_url("CALLER_TOKEN_JWKS_URL")? {
        Some(url) => url,
        None => Url::parse(handoff_guard::GOOGLE_JWKS_URL).expect("a valid constant URL"),
    };
    let allowed_callers = env.list("BROKER_ALLOWED_CALLERS");
    let mut known_scopes = provider.scopes.clone();
    for scope in &provider.optional_scopes {
        if !known_scopes.iter().any(|k| crate::scopes::same(k, scope)) {
            known_scopes.push(scope.clone());
        }
    }
    let rules = BrokerRules::parse(
        &allowed_callers,
        &env.list(crate::broker_rules::SCOPES_VAR),
        &env.list(crate::broker_rules::USERS_VAR),
        &env.list(crate::broker_rules::WHOLE_GRANT_VAR),
        &known_scopes,
    )?;
    Ok(BrokerSettings {
        allowed_callers,
        caller_issuers,
        caller_jwks_url,
        caller_audience: env.optional("CALLER_TOKEN_AUDIENCE").unwrap_or(issuer),
        rules,
        requires_session: env.flag_or("BROKER_REQUIRES_SESSION", false)?,
        narrows_scopes: env.flag_or("BROKER_NARROWS_SCOPES", true)?,
    })
}

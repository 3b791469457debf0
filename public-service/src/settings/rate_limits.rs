//! Per-client request rates: `RATE_LIMIT_SIGN_IN_PER_MINUTE`,
//! `RATE_LIMIT_BACK_CHANNEL_PER_MINUTE`, `RATE_LIMIT_BROKER_PER_MINUTE`,
//! and `TRUSTED_PROXY_HOPS`, which says whose address a client is.

use service_kit::config::{ConfigError, Env};

/// Per-client request rates, each with a burst of half a minute's worth.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// `/login`, `/callback`, `/renew`, per client address.
    pub sign_in_per_minute: u32,
    /// `/handoff/redeem`, per calling app (its service account), and
    /// `/backchannel-logout`, per client address (the provider's).
    pub back_channel_per_minute: u32,
    /// `/broker/token`, per calling service account.
    pub broker_per_minute: u32,
    /// Proxies in front of the service whose `X-Forwarded-For` entries are
    /// trusted (Cloud Run: 1).
    pub trusted_proxy_hops: usize,
}

impl RateLimits {
    pub(super) fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            sign_in_per_minute: env.positive_or("RATE_LIMIT_SIGN_IN_PER_MINUTE", 60)?,
            back_channel_per_minute: env.positive_or("RATE_LIMIT_BACK_CHANNEL_PER_MINUTE", 600)?,
            broker_per_minute: env.positive_or("RATE_LIMIT_BROKER_PER_MINUTE", 600)?,
            trusted_proxy_hops: env.parse_or("TRUSTED_PROXY_HOPS", 0)?,
        })
    }
}

//! Typed settings of the public service, read once from the environment.
//!
//! Tests build [`Settings`] directly; `from_env` is the only place that
//! knows variable names (so every error names its variable), each
//! component's variables read, and documented, in a module of their own:
//! `provider` (the OpenID provider), `handoff` (keys, lifetime, delivery),
//! `database` (the store and the key ring sealing refresh tokens),
//! `sessions`, `broker` and `rate_limits`. Each variable is documented in
//! the README.

mod broker;
mod database;
mod handoff;
mod provider;
mod rate_limits;
mod sessions;
#[cfg(test)]
mod tests;

use std::time::Duration;

use actix_web::cookie::Key;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::ExposeSecret;
use service_kit::config::{ConfigError, Env, Required, UrlRule};
use url::Url;

use crate::apps::{AppRegistry, Delivery};
pub use crate::delivery::HandoffSettings;
pub use crate::oidc::{ClientAuthMethod, IdTokenAlgorithm, OfflineAccess, ProviderSettings};
use crate::policy::AccessPolicy;
pub use crate::sessions::SessionSettings;
pub use crate::state::SignOutSettings;
pub use crate::token_broker::BrokerSettings;
use crate::token_cipher::TokenCipher;
pub use database::DatabaseSettings;
pub(crate) use database::{database_from_env, token_cipher_from_env};
pub(crate) use handoff::{previous_keys_from_env, signing_key_from_env};
pub(crate) use provider::provider_from_env;
pub use rate_limits::RateLimits;

pub struct Settings {
    pub bind_address: String,
    pub port: u16,
    /// The external URL of this service; the handoff token's issuer.
    pub public_url: Url,
    pub provider: ProviderSettings,
    pub apps: AppRegistry,
    pub policy: AccessPolicy,
    pub handoff: HandoffSettings,
    /// Encrypts the login-transaction cookie (AES-256-GCM, derived key).
    pub cookie_key: Key,
    pub login_timeout: Duration,
    pub database: DatabaseSettings,
    /// Seals provider tokens at rest.
    pub token_cipher: TokenCipher,
    pub sessions: SessionSettings,
    pub sign_out: SignOutSettings,
    pub broker: BrokerSettings,
    pub rate_limits: RateLimits,
    pub dev_mode: bool,
    pub workers: usize,
    /// Who may read `/metrics`.
    pub metrics: service_kit::metrics::MetricsAccess,
}

/// What the service cannot start without, each with an example value;
/// `DEV_MODE=true` makes ephemeral keys and an in-memory database instead.
fn required(dev_mode: bool) -> Vec<Required<'static>> {
    let mut required = vec![
        Required::var(&["PUBLIC_URL"], "https://auth.example.com"),
        Required::var(&["APP_ORIGINS"], "https://app.example.com"),
        Required::var(
            &["OIDC_CLIENT_ID"],
            "1234567890-abc.apps.googleusercontent.com",
        ),
        Required::secret(&["OIDC_CLIENT_SECRET"], "GOCSPX-…"),
        Required::var(
            &[
                "ALLOWED_EMAILS",
                "ALLOWED_DOMAINS",
                "ALLOWED_HOSTED_DOMAINS",
                "ALLOW_ANY_VERIFIED_EMAIL",
            ],
            "alice@example.com,bob@example.com",
        ),
    ];
    if !dev_mode {
        required.extend([
            Required::secret(&["DATABASE_URL"], "sqlite:///var/lib/auth.db"),
            Required::secret(&["TOKEN_ENCRYPTION_KEYS"], "k1:$(openssl rand -base64 32)"),
            Required::secret(&["SIGNING_KEY"], "\"$(openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt)\""),
            Required::secret(&["COOKIE_SECRET"], "$(openssl rand -base64 48)"),
        ]);
    }
    required
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let dev_mode = env.flag_or("DEV_MODE", false)?;
        env.check_required(&required(dev_mode))?;
        let public_url = env.url("PUBLIC_URL")?;
        let delivery = handoff::delivery_from_env(env)?;
        // Each origin is an https URL (or plain http to loopback) before
        // the registry checks it is an origin the delivery can reach.
        env.url_list("APP_ORIGINS", UrlRule::default())?;
        let apps = AppRegistry::parse(&env.list("APP_ORIGINS"), &delivery, &public_url)
            .map_err(|e| ConfigError::new("APP_ORIGINS", e))?
            .with_service_accounts(&env.list("APP_SERVICE_ACCOUNTS"))
            .map_err(|e| ConfigError::new("APP_SERVICE_ACCOUNTS", e))?;
        if delivery == Delivery::Code {
            if let Some(app) = apps.apps().iter().find(|a| a.service_account().is_none()) {
                return Err(ConfigError::new(
                    "APP_SERVICE_ACCOUNTS",
                    format!(
                        "{:?} has no service account; with HANDOFF_DELIVERY=code each app redeems its codes as <app origin>=<service account e-mail>",
                        app.audience()
                    ),
                ));
            }
        }
        let policy = service_kit::access::access_policy(env)?;
        let mut provider = provider_from_env(env)?;
        provider.hosted_domain_needed = policy.uses_hosted_domains();
        let issuer = public_url.as_str().trim_end_matches('/').to_owned();
        let broker = broker::broker_from_env(env, issuer, &provider)?;
        Ok(Self {
            bind_address: env
                .optional("BIND_ADDRESS")
                .unwrap_or_else(|| "0.0.0.0".into()),
            port: env.parse_or("PORT", 8080)?,
            provider,
            apps,
            policy,
            handoff: HandoffSettings {
                signing_key: signing_key_from_env(env, dev_mode)?,
                previous_keys: previous_keys_from_env(env)?,
                ttl: handoff::handoff_ttl(env)?,
                delivery,
                code_ttl: crate::delivery::CODE_TTL,
            },
            cookie_key: cookie_key_from_env(env, dev_mode)?,
            login_timeout: env.seconds_or("LOGIN_TIMEOUT", Duration::from_secs(600))?,
            database: database_from_env(env, dev_mode)?,
            token_cipher: token_cipher_from_env(env, dev_mode)?,
            sessions: sessions::sessions_from_env(env)?,
            sign_out: SignOutSettings {
                revoke_grant: env.flag_or("SIGN_OUT_REVOKES_GRANT", false)?,
                end_provider_session: env.flag_or("SIGN_OUT_AT_PROVIDER", false)?,
            },
            broker,
            rate_limits: RateLimits::from_env(env)?,
            dev_mode,
            workers: env.parse_or("WORKERS", default_workers())?,
            metrics: service_kit::metrics::MetricsAccess::from_env(env)?,
            public_url,
        })
    }

    /// The handoff token's `iss`: the public URL without a trailing slash.
    pub fn issuer(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }

    pub fn redirect_url(&self) -> Url {
        let mut url = self.public_url.clone();
        url.set_path("/callback");
        url.set_query(None);
        url
    }
}

fn cookie_key_from_env(env: &Env, dev_mode: bool) -> Result<Key, ConfigError> {
    let Some(secret) = env.secret("COOKIE_SECRET")? else {
        if dev_mode {
            return Ok(Key::generate());
        }
        return Err(ConfigError::new(
            "COOKIE_SECRET",
            "is required (at least 32 random bytes, base64; e.g. `openssl rand -base64 48`)",
        ));
    };
    let bytes = STANDARD
        .decode(secret.expose_secret().as_bytes())
        .map_err(|_| ConfigError::new("COOKIE_SECRET", "is not valid base64"))?;
    if bytes.len() < 32 {
        return Err(ConfigError::new(
            "COOKIE_SECRET",
            "must decode to at least 32 bytes",
        ));
    }
    Ok(Key::derive_from(&bytes))
}

fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

//! Typed settings of the private app, read once from the environment.

use shared::config::{ConfigError, Env};
use shared::jwks::{KeySet, RemoteJwksOptions};
use url::Url;

pub struct Settings {
    pub bind_address: String,
    pub port: u16,
    /// This app's external origin: the handoff token's audience.
    pub app_url: Url,
    /// The public login service's URL: the handoff token's issuer.
    pub auth_url: Url,
    pub keys: KeySettings,
    pub workers: usize,
}

pub enum KeySettings {
    /// Fetched from the public service, cached, re-fetched on unknown `kid`.
    Remote {
        jwks_url: Url,
        options: RemoteJwksOptions,
    },
    /// A JWKS file shipped with the deployment.
    Static(KeySet),
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let app_url = origin_only("APP_URL", env.url("APP_URL")?)?;
        let auth_url = env.url("AUTH_URL")?;
        Ok(Self {
            bind_address: env
                .optional("BIND_ADDRESS")
                .unwrap_or_else(|| "0.0.0.0".into()),
            port: env.parse_or("PORT", 8080)?,
            keys: key_settings(env, &auth_url)?,
            app_url,
            auth_url,
            workers: env.parse_or("WORKERS", default_workers())?,
        })
    }

    /// The audience handoff tokens for this app carry: its origin.
    pub fn audience(&self) -> String {
        self.app_url.origin().ascii_serialization()
    }

    pub fn issuer(&self) -> String {
        self.auth_url.as_str().trim_end_matches('/').to_owned()
    }

    pub fn login_url(&self) -> Url {
        self.auth_route("/login")
    }

    /// Where a browser whose handoff token expired gets a new one.
    pub fn renew_url(&self) -> Url {
        self.auth_route("/renew")
    }

    pub fn logout_url(&self) -> Url {
        self.auth_route("/logout")
    }

    fn auth_route(&self, path: &str) -> Url {
        let mut url = self.auth_url.clone();
        url.set_path(path);
        url.set_query(None);
        url
    }
}

fn origin_only(name: &str, url: Url) -> Result<Url, ConfigError> {
    if url.path() != "/" || url.query().is_some() {
        return Err(ConfigError::new(
            name,
            "must be an origin (scheme, host, port) without a path",
        ));
    }
    Ok(url)
}

fn key_settings(env: &Env, auth_url: &Url) -> Result<KeySettings, ConfigError> {
    if let Some(path) = env.optional("HANDOFF_JWKS_FILE") {
        let json = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::new("HANDOFF_JWKS_FILE", format!("cannot read {path:?}: {e}"))
        })?;
        let keys =
            KeySet::from_json(&json).map_err(|e| ConfigError::new("HANDOFF_JWKS_FILE", e))?;
        if keys.is_empty() {
            return Err(ConfigError::new(
                "HANDOFF_JWKS_FILE",
                "holds no ES256 (P-256) key with a kid",
            ));
        }
        return Ok(KeySettings::Static(keys));
    }
    let jwks_url = match env.optional_url("HANDOFF_JWKS_URL")? {
        Some(url) => url,
        None => auth_url
            .join("/.well-known/jwks.json")
            .map_err(|e| ConfigError::new("AUTH_URL", e))?,
    };
    let defaults = RemoteJwksOptions::default();
    Ok(KeySettings::Remote {
        jwks_url,
        options: RemoteJwksOptions {
            min_refetch_interval: env
                .seconds_or("JWKS_REFETCH_INTERVAL", defaults.min_refetch_interval)?,
            max_age: env.seconds_or("JWKS_MAX_AGE", defaults.max_age)?,
            timeout: env.seconds_or("JWKS_TIMEOUT", defaults.timeout)?,
            ..defaults
        },
    })
}

fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

//! Typed settings of the public service, read once from the environment.
//!
//! Tests build [`Settings`] directly; `from_env` is the only place that
//! knows variable names. Each variable is documented in the README.

use std::time::Duration;

use actix_web::cookie::Key;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use shared::config::{ConfigError, Env};
use shared::keys::SigningKey;
use url::Url;

use crate::apps::AppRegistry;
use crate::policy::AccessPolicy;

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
    pub dev_mode: bool,
    pub workers: usize,
}

pub struct ProviderSettings {
    pub issuer_url: Url,
    /// Shown on the start page's button ("Sign in with Google").
    pub display_name: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub auth_method: ClientAuthMethod,
    pub scopes: Vec<String>,
    /// Whole-request timeout of every back-channel call to the provider.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// The least time between two JWKS fetches caused by an unknown `kid`.
    pub jwks_refetch_interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
}

pub struct HandoffSettings {
    pub signing_key: SigningKey,
    pub previous_keys: Vec<SigningKey>,
    pub ttl: Duration,
    /// `Some(parent)`: the cookie is set for the parent domain shared with
    /// the apps; `None`: a host-only cookie (apps on the same host).
    pub cookie_domain: Option<String>,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let dev_mode = env.flag_or("DEV_MODE", false)?;
        let public_url = env.url("PUBLIC_URL")?;
        let cookie_domain = env
            .optional("HANDOFF_COOKIE_DOMAIN")
            .map(|d| d.to_ascii_lowercase());
        let apps = AppRegistry::parse(
            &env.list("APP_ORIGINS"),
            cookie_domain.as_deref(),
            &public_url,
        )
        .map_err(|e| ConfigError::new("APP_ORIGINS", e))?;
        let policy = AccessPolicy::from_env(env)?;
        Ok(Self {
            bind_address: env
                .optional("BIND_ADDRESS")
                .unwrap_or_else(|| "0.0.0.0".into()),
            port: env.parse_or("PORT", 8080)?,
            provider: provider_from_env(env)?,
            apps,
            policy,
            handoff: HandoffSettings {
                signing_key: signing_key_from_env(env, dev_mode)?,
                previous_keys: previous_keys_from_env(env)?,
                ttl: handoff_ttl(env)?,
                cookie_domain,
            },
            cookie_key: cookie_key_from_env(env, dev_mode)?,
            login_timeout: env.seconds_or("LOGIN_TIMEOUT", Duration::from_secs(600))?,
            dev_mode,
            workers: env.parse_or("WORKERS", default_workers())?,
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

fn provider_from_env(env: &Env) -> Result<ProviderSettings, ConfigError> {
    let issuer_url = match env.optional_url("OIDC_ISSUER_URL")? {
        Some(url) => url,
        None => Url::parse("https://accounts.google.com").expect("a valid constant URL"),
    };
    let auth_method = match env.optional("OIDC_CLIENT_AUTH_METHOD").as_deref() {
        None | Some("client_secret_basic") => ClientAuthMethod::ClientSecretBasic,
        Some("client_secret_post") => ClientAuthMethod::ClientSecretPost,
        Some(other) => {
            return Err(ConfigError::new(
                "OIDC_CLIENT_AUTH_METHOD",
                format!("expected client_secret_basic or client_secret_post, got {other:?}"),
            ))
        }
    };
    let mut scopes = vec![
        "openid".to_owned(),
        "email".to_owned(),
        "profile".to_owned(),
    ];
    for extra in env.list("OIDC_SCOPES") {
        if !scopes.contains(&extra) {
            scopes.push(extra);
        }
    }
    let display_name = env.optional("PROVIDER_NAME").unwrap_or_else(|| {
        if issuer_url.host_str() == Some("accounts.google.com") {
            "Google".to_owned()
        } else {
            issuer_url.host_str().unwrap_or("your provider").to_owned()
        }
    });
    Ok(ProviderSettings {
        display_name,
        issuer_url,
        client_id: env.required("OIDC_CLIENT_ID")?,
        client_secret: env.required_secret("OIDC_CLIENT_SECRET")?,
        auth_method,
        scopes,
        timeout: env.seconds_or("PROVIDER_TIMEOUT", Duration::from_secs(10))?,
        connect_timeout: env.seconds_or("PROVIDER_CONNECT_TIMEOUT", Duration::from_secs(3))?,
        jwks_refetch_interval: env
            .seconds_or("PROVIDER_JWKS_REFETCH_INTERVAL", Duration::from_secs(30))?,
    })
}

fn handoff_ttl(env: &Env) -> Result<Duration, ConfigError> {
    let ttl = env.seconds_or("HANDOFF_TTL", Duration::from_secs(600))?;
    if ttl < Duration::from_secs(30) || ttl > Duration::from_secs(3600) {
        return Err(ConfigError::new(
            "HANDOFF_TTL",
            "must be between 30s and 60m: handoff tokens are short-lived",
        ));
    }
    Ok(ttl)
}

fn signing_key_from_env(env: &Env, dev_mode: bool) -> Result<SigningKey, ConfigError> {
    match env.secret("SIGNING_KEY")? {
        Some(pem) => SigningKey::from_pem(&pem).map_err(|e| ConfigError::new("SIGNING_KEY", e)),
        None if dev_mode => Ok(SigningKey::generate()),
        None => Err(ConfigError::new(
            "SIGNING_KEY",
            "is required (a P-256 private key PEM, or SIGNING_KEY_FILE); DEV_MODE=true uses an ephemeral key",
        )),
    }
}

/// Keys that no longer sign but stay in the JWKS until tokens they signed expire.
fn previous_keys_from_env(env: &Env) -> Result<Vec<SigningKey>, ConfigError> {
    let Some(pems) = env.secret("PREVIOUS_SIGNING_KEYS")? else {
        return Ok(Vec::new());
    };
    split_pems(pems.expose_secret())
        .into_iter()
        .map(|pem| SigningKey::from_pem(&SecretString::from(pem)))
        .collect::<Result<_, _>>()
        .map_err(|e| ConfigError::new("PREVIOUS_SIGNING_KEYS", e))
}

/// Concatenated PEM blocks, one per key.
fn split_pems(all: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in all.lines().map(str::trim).filter(|l| !l.is_empty()) {
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END") {
            blocks.push(std::mem::take(&mut current));
        }
    }
    blocks
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

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::{EncodePrivateKey, LineEnding};

    fn pem() -> String {
        p256::SecretKey::random(&mut rand::rngs::OsRng)
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap()
            .to_string()
    }

    fn base() -> Vec<(&'static str, String)> {
        vec![
            ("PUBLIC_URL", "https://auth.example.com".into()),
            ("OIDC_CLIENT_ID", "id".into()),
            ("OIDC_CLIENT_SECRET", "secret".into()),
            ("APP_ORIGINS", "https://app.example.com".into()),
            ("HANDOFF_COOKIE_DOMAIN", "example.com".into()),
            ("ALLOWED_DOMAINS", "example.com".into()),
            ("SIGNING_KEY", pem()),
            ("COOKIE_SECRET", STANDARD.encode([7u8; 32])),
        ]
    }

    fn error_for(overrides: &[(&'static str, &str)]) -> ConfigError {
        let mut vars = base();
        vars.retain(|(k, _)| !overrides.iter().any(|(o, _)| o == k));
        vars.extend(
            overrides
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (*k, v.to_string())),
        );
        match Settings::from_env(&Env::from_map(vars)) {
            Ok(_) => panic!("{overrides:?} was accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_complete_environment_parses_with_google_defaults() {
        let settings = Settings::from_env(&Env::from_map(base())).unwrap();
        assert_eq!(settings.port, 8080);
        assert_eq!(settings.issuer(), "https://auth.example.com");
        assert_eq!(
            settings.redirect_url().as_str(),
            "https://auth.example.com/callback"
        );
        assert_eq!(settings.provider.display_name, "Google");
        assert_eq!(settings.handoff.ttl, Duration::from_secs(600));
    }

    #[test]
    fn each_bad_setting_is_named() {
        assert_eq!(error_for(&[("PUBLIC_URL", "")]).name, "PUBLIC_URL");
        assert_eq!(error_for(&[("PORT", "eighty")]).name, "PORT");
        assert_eq!(
            error_for(&[("APP_ORIGINS", "https://app.elsewhere.org")]).name,
            "APP_ORIGINS"
        );
        assert_eq!(error_for(&[("ALLOWED_DOMAINS", "")]).name, "ALLOWED_EMAILS");
        assert_eq!(
            error_for(&[("SIGNING_KEY", "not a pem")]).name,
            "SIGNING_KEY"
        );
        assert_eq!(
            error_for(&[("COOKIE_SECRET", "c2hvcnQ=")]).name,
            "COOKIE_SECRET"
        );
        assert_eq!(error_for(&[("HANDOFF_TTL", "1d")]).name, "HANDOFF_TTL");
        assert_eq!(
            error_for(&[("OIDC_CLIENT_AUTH_METHOD", "private_key_jwt")]).name,
            "OIDC_CLIENT_AUTH_METHOD"
        );
    }

    #[test]
    fn dev_mode_makes_keys_optional() {
        let mut vars = base();
        vars.retain(|(k, _)| *k != "SIGNING_KEY" && *k != "COOKIE_SECRET");
        assert!(Settings::from_env(&Env::from_map(vars.clone())).is_err());
        vars.push(("DEV_MODE", "true".into()));
        assert!(Settings::from_env(&Env::from_map(vars)).unwrap().dev_mode);
    }

    #[test]
    fn previous_signing_keys_are_read_from_concatenated_pems() {
        let mut vars = base();
        vars.push(("PREVIOUS_SIGNING_KEYS", format!("{}\n{}", pem(), pem())));
        let settings = Settings::from_env(&Env::from_map(vars)).unwrap();
        assert_eq!(settings.handoff.previous_keys.len(), 2);
    }
}

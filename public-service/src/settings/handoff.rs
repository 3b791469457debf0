//! Handoff tokens and how they reach an app: `SIGNING_KEY`,
//! `PREVIOUS_SIGNING_KEYS`, `HANDOFF_TTL`, `HANDOFF_DELIVERY` and
//! `HANDOFF_COOKIE_DOMAIN`.

use std::time::Duration;

use handoff_guard::login_service::SigningKey;
use secrecy::{ExposeSecret, SecretString};
use service_kit::config::{ConfigError, Env};

use crate::apps::Delivery;

pub(super) fn delivery_from_env(env: &Env) -> Result<Delivery, ConfigError> {
    let domain = env
        .optional("HANDOFF_COOKIE_DOMAIN")
        .map(|d| d.trim_start_matches('.').to_ascii_lowercase());
    match env.optional("HANDOFF_DELIVERY").as_deref() {
        None | Some("cookie") => Ok(Delivery::Cookie { domain }),
        Some("code") if domain.is_some() => Err(ConfigError::new(
            "HANDOFF_COOKIE_DOMAIN",
            "is for HANDOFF_DELIVERY=cookie; with code delivery each app sets its own host-only cookie",
        )),
        Some("code") => Ok(Delivery::Code),
        Some(other) => Err(ConfigError::new(
            "HANDOFF_DELIVERY",
            format!("expected cookie or code, got {other:?}"),
        )),
    }
}

pub(super) fn handoff_ttl(env: &Env) -> Result<Duration, ConfigError> {
    let ttl = env.seconds_or("HANDOFF_TTL", Duration::from_secs(600))?;
    if ttl < Duration::from_secs(30) || ttl > Duration::from_secs(3600) {
        return Err(ConfigError::new(
            "HANDOFF_TTL",
            "must be between 30s and 60m: handoff tokens are short-lived",
        ));
    }
    Ok(ttl)
}

pub(crate) fn signing_key_from_env(env: &Env, dev_mode: bool) -> Result<SigningKey, ConfigError> {
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
pub(crate) fn previous_keys_from_env(env: &Env) -> Result<Vec<SigningKey>, ConfigError> {
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

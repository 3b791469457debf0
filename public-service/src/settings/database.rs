//! Where grants and sessions are kept: `DATABASE_URL`,
//! `DATABASE_MAX_CONNECTIONS`, `DATABASE_TIMEOUT`, for Firestore
//! `FIRESTORE_EMULATOR_HOST` and `METADATA_URL`, and the key ring that
//! seals the refresh tokens stored there, `TOKEN_ENCRYPTION_KEYS`.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use service_kit::config::{ConfigError, Env};

use crate::store::firestore::config as firestore;
use crate::store::FirestoreAccess;
use crate::token_cipher::TokenCipher;

pub struct DatabaseSettings {
    /// `sqlite:…`, `postgres://…` or `firestore://…`; may hold a password.
    pub url: SecretString,
    pub max_connections: u32,
    /// The longest a statement waits, connecting included: while the
    /// database is down, requests that need it fail after this long.
    pub timeout: Duration,
    /// How a `firestore://` store is reached (the emulator, or the
    /// metadata server for credentials).
    pub firestore: FirestoreAccess,
}

pub(crate) fn database_from_env(
    env: &Env,
    dev_mode: bool,
) -> Result<DatabaseSettings, ConfigError> {
    let url = match env.secret("DATABASE_URL")? {
        Some(url) => url,
        None if dev_mode => SecretString::from("sqlite::memory:"),
        None => {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "is required (sqlite://<file> for one instance, postgres://… or firestore://PROJECT for several); DEV_MODE=true uses an in-memory database",
            ))
        }
    };
    let raw = url.expose_secret();
    let known = ["sqlite:", "postgres://", "postgresql://", "firestore://"];
    if !known.iter().any(|prefix| raw.starts_with(prefix)) {
        return Err(ConfigError::new(
            "DATABASE_URL",
            "must start with sqlite:, postgres://, postgresql:// or firestore://",
        ));
    }
    if firestore::is_firestore_url(raw) {
        if let Err(reason) = firestore::parse(raw) {
            return Err(ConfigError::new(
                "DATABASE_URL",
                format!(
                    "is not a Firestore database ({reason}); {}",
                    firestore::EXAMPLE
                ),
            ));
        }
    }
    if let Err(reason) = crate::store::check_url(raw) {
        return Err(ConfigError::new(
            "DATABASE_URL",
            format!("cannot be opened ({reason}); for example postgres://USER:PASSWORD@localhost/DB?host=/cloudsql/PROJECT:REGION:INSTANCE for Cloud SQL, or sqlite:///var/lib/auth.db"),
        ));
    }
    let max_connections = env.parse_or("DATABASE_MAX_CONNECTIONS", 5u32)?;
    if max_connections == 0 {
        return Err(ConfigError::new(
            "DATABASE_MAX_CONNECTIONS",
            "must be at least 1",
        ));
    }
    let timeout = env.seconds_or("DATABASE_TIMEOUT", Duration::from_secs(5))?;
    if timeout.is_zero() {
        return Err(ConfigError::new("DATABASE_TIMEOUT", "must be at least 1s"));
    }
    Ok(DatabaseSettings {
        url,
        max_connections,
        timeout,
        firestore: firestore_access(env)?,
    })
}

/// `FIRESTORE_EMULATOR_HOST` (`host:port`, the variable Google's own
/// clients read) and `METADATA_URL` (where the service account's access
/// tokens come from; Google's metadata server unless set).
fn firestore_access(env: &Env) -> Result<FirestoreAccess, ConfigError> {
    let emulator_host = env.optional("FIRESTORE_EMULATOR_HOST");
    if let Some(host) = &emulator_host {
        firestore::check_emulator_host(host)
            .map_err(|reason| ConfigError::new("FIRESTORE_EMULATOR_HOST", reason))?;
    }
    let mut access = FirestoreAccess {
        emulator_host,
        ..FirestoreAccess::default()
    };
    if let Some(url) =
        env.optional_url_with("METADATA_URL", service_kit::config::METADATA_SERVER)?
    {
        access.metadata_url = url;
    }
    Ok(access)
}

pub(crate) fn token_cipher_from_env(env: &Env, dev_mode: bool) -> Result<TokenCipher, ConfigError> {
    match env.secret("TOKEN_ENCRYPTION_KEYS")? {
        Some(ring) => TokenCipher::from_key_ring(&ring)
            .map_err(|e| ConfigError::new("TOKEN_ENCRYPTION_KEYS", e)),
        None if dev_mode => Ok(TokenCipher::ephemeral()),
        None => Err(ConfigError::new(
            "TOKEN_ENCRYPTION_KEYS",
            "is required (<key id>:<base64 of 32 random bytes>, newest first; e.g. k1:$(openssl rand -base64 32))",
        )),
    }
}

//! What the admin commands need from the service's environment, each part
//! read only by the commands that use it (`keys status` needs no provider,
//! `sessions list` no keys), with the service's own readers so a missing
//! or malformed variable is named the same way.

use std::sync::Arc;

use handoff_guard::login_service::HandoffSigner;
use handoff_guard::SharedClock;
use secrecy::ExposeSecret;
use service_kit::config::Env;
use url::Url;

use super::AdminError;
use crate::oidc::OidcClient;
use crate::settings;
use crate::store::{KnownUser, Storage, StoreOptions, UserDirectory, WhenUnreachable};
use crate::token_cipher::TokenCipher;

/// The store, migrated; a database that cannot be reached fails the
/// command (a job is retried by its scheduler, not by waiting here).
pub async fn store(env: &Env) -> Result<Arc<dyn Storage>, AdminError> {
    let database = settings::database_from_env(env, false)?;
    let store = crate::store::open(
        database.url.expose_secret(),
        StoreOptions {
            max_connections: database.max_connections,
            timeout: database.timeout,
        },
        &database.firestore,
        WhenUnreachable::Fail,
    )
    .await?;
    Ok(store)
}

pub fn token_cipher(env: &Env) -> Result<TokenCipher, AdminError> {
    Ok(settings::token_cipher_from_env(env, false)?)
}

/// The handoff keys as the service publishes them in its JWKS.
pub fn signer(env: &Env) -> Result<HandoffSigner, AdminError> {
    let active = settings::signing_key_from_env(env, false)?;
    let previous = settings::previous_keys_from_env(env)?;
    Ok(HandoffSigner::new(active, previous))
}

/// The relying party, for revocation at the provider.
pub fn oidc(env: &Env, clock: &SharedClock) -> Result<Arc<OidcClient>, AdminError> {
    let provider = settings::provider_from_env(env)?;
    // Revocation sends no redirect URI; the client only needs one to exist.
    let unused_redirect = Url::parse("http://localhost/callback").expect("a valid constant URL");
    OidcClient::new(&provider, &unused_redirect, clock.clone())
        .map(Arc::new)
        .map_err(|e| AdminError::Usage(format!("the provider settings are unusable: {e}")))
}

/// The one user `user` (an e-mail or a subject) names.
pub async fn resolve_user(store: &dyn UserDirectory, user: &str) -> Result<KnownUser, AdminError> {
    let mut matches = store.users_matching(user).await?;
    match matches.len() {
        0 => Err(AdminError::UnknownUser(user.to_owned())),
        1 => Ok(matches.remove(0)),
        _ => Err(AdminError::AmbiguousUser {
            user: user.to_owned(),
            subjects: matches.into_iter().map(|m| m.subject).collect(),
        }),
    }
}

/// Rows of cells as an aligned plain-text table, headings first.
pub fn table(headings: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headings.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = line(headings.to_vec());
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

/// Unix seconds as a UTC time, for people reading a table.
pub fn when(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| seconds.to_string())
}

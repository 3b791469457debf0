//! `admin keys status`: which token key seals how many stored tokens, and
//! which handoff signing keys the JWKS publishes. Needs `DATABASE_URL`,
//! `TOKEN_ENCRYPTION_KEYS`, `SIGNING_KEY` (and `PREVIOUS_SIGNING_KEYS`
//! when set); not the provider.
//!
//! Fails (exit 1) when a stored token names a key id that is not in the
//! ring: those tokens cannot be opened, and the key must come back.

use serde_json::json;
use service_kit::config::Env;

use super::context::{self, table};
use super::{AdminError, Console};
use crate::store::KeyUsage;

pub async fn status(env: &Env, json: bool, console: &mut Console<'_>) -> Result<(), AdminError> {
    let cipher = context::token_cipher(env)?;
    let signer = context::signer(env)?;
    let store = context::store(env).await?;
    let mut usage = store.key_usage().await?;
    let configured: Vec<String> = cipher.key_ids().map(str::to_owned).collect();
    let mut rows = Vec::new();
    for (position, id) in configured.iter().enumerate() {
        let counts = usage.remove(id).unwrap_or_default();
        let state = match (position, counts == KeyUsage::default()) {
            (0, _) => "seals (newest)",
            (_, true) => "opens; seals nothing: can be removed",
            (_, false) => "opens; still in use (run grants reseal)",
        };
        rows.push((id.clone(), state, counts));
    }
    // What is left names keys the ring does not have.
    let unconfigured: Vec<String> = usage.keys().cloned().collect();
    for (id, counts) in usage {
        rows.push((id, "NOT CONFIGURED: cannot open", counts));
    }
    let signing: Vec<(String, String, &str)> = signer
        .jwks()
        .keys
        .iter()
        .map(|jwk| {
            let kid = jwk.common.key_id.clone().unwrap_or_default();
            let alg = jwk
                .common
                .key_algorithm
                .as_ref()
                .map(|a| format!("{a:?}"))
                .unwrap_or_else(|| "ES256".into());
            let role = if kid == signer.active_kid() {
                "signs"
            } else {
                "published (previous)"
            };
            (kid, alg, role)
        })
        .collect();
    if json {
        let token_keys: Vec<_> = rows
            .iter()
            .map(|(id, state, c)| {
                json!({
                    "key_id": id, "configured": configured.contains(id),
                    "sealing": configured.first() == Some(id), "state": state,
                    "refresh_tokens": c.refresh_tokens, "access_tokens": c.access_tokens,
                })
            })
            .collect();
        let signing_keys: Vec<_> = signing
            .iter()
            .map(|(kid, alg, role)| json!({ "kid": kid, "alg": alg, "signs": *role == "signs" }))
            .collect();
        let answer = json!({ "token_keys": token_keys, "signing_keys": signing_keys });
        writeln!(console.out, "{answer}")?;
    } else {
        writeln!(
            console.out,
            "Token encryption keys (TOKEN_ENCRYPTION_KEYS, newest first):"
        )?;
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|(id, state, c)| {
                vec![
                    id.clone(),
                    c.refresh_tokens.to_string(),
                    c.access_tokens.to_string(),
                    (*state).to_owned(),
                ]
            })
            .collect();
        let headings = ["KEY ID", "REFRESH TOKENS", "ACCESS TOKENS", "STATE"];
        write!(console.out, "{}", table(&headings, &cells))?;
        writeln!(
            console.out,
            "\nHandoff signing keys (published at /.well-known/jwks.json):"
        )?;
        let cells: Vec<Vec<String>> = signing
            .iter()
            .map(|(kid, alg, role)| vec![kid.clone(), alg.clone(), (*role).to_owned()])
            .collect();
        write!(console.out, "{}", table(&["KID", "ALG", "ROLE"], &cells))?;
    }
    if unconfigured.is_empty() {
        Ok(())
    } else {
        Err(AdminError::UnconfiguredKeys(unconfigured))
    }
}

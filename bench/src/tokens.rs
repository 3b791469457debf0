//! Handoff tokens minted by the driver with the public service's own
//! signing key (the stack gives it by configuration), for the rows no
//! single sign-in can feed: many users in rotation, and tokens the app's
//! verified-token cache has never seen, valid and forged.
//!
//! Each token is a copy of the real sign-in's claims (issuer, audience,
//! session, lifetime) with its own `jti`, so the app verifies it exactly
//! as it verifies the real one. A forged token is a minted token's header
//! and claims with another minted token's signature: well formed, signed
//! for the trusted key's `kid`, and refused only after the full signature
//! check, as an attacker's token would be.

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use handoff_guard::login_service::HandoffSigner;
use handoff_guard::login_service::SigningKey;
use handoff_guard::HandoffClaims;
use secrecy::SecretString;

/// Users in the rotating-tokens row, each with a token of its own: all in
/// the verified-token cache after the first round.
pub const ROTATING_USERS: usize = 100;

pub struct Minter {
    signer: HandoffSigner,
    template: HandoffClaims,
}

impl Minter {
    /// `pem`: the public service's `SIGNING_KEY`; `real_token`: the
    /// handoff token of a real sign-in, whose claims are copied.
    pub fn new(pem: &str, real_token: &str) -> anyhow::Result<Self> {
        let key = SigningKey::from_pem(&SecretString::from(pem.to_owned()))
            .context("the bench's signing key")?;
        Ok(Self {
            signer: HandoffSigner::new(key, Vec::new()),
            template: claims_of(real_token)?,
        })
    }

    /// One token per user, `users` different people under one session.
    pub fn users(&self, users: usize) -> anyhow::Result<Vec<String>> {
        (0..users)
            .map(|i| {
                let claims = HandoffClaims {
                    sub: format!("bench-user-{i}").into(),
                    email: format!("bench-user-{i}@example.com"),
                    jti: format!("bench-user-{i}"),
                    ..self.template.clone()
                };
                Ok(self.signer.sign(&claims)?)
            })
            .collect()
    }

    /// `count` tokens of the signed-in person, all different (by `jti`),
    /// signed on every core this process may use.
    pub fn fresh(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_thread = count.div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let range = (t * per_thread)..((t + 1) * per_thread).min(count);
                    scope.spawn(move || {
                        range
                            .map(|i| {
                                let claims = HandoffClaims {
                                    jti: format!("bench-fresh-{i}"),
                                    ..self.template.clone()
                                };
                                Ok(self.signer.sign(&claims)?)
                            })
                            .collect::<anyhow::Result<Vec<String>>>()
                    })
                })
                .collect();
            let mut all = Vec::with_capacity(count);
            for handle in handles {
                let minted = handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("a minting thread panicked"))??;
                all.extend(minted);
            }
            Ok(all)
        })
    }
}

/// Each token's header and claims with the next one's signature: none of
/// them verifies, and all are different.
pub fn forged(valid: &[String]) -> anyhow::Result<Vec<String>> {
    let split = |token: &str| {
        token
            .rsplit_once('.')
            .map(|(signed, signature)| (signed.to_owned(), signature.to_owned()))
            .context("a minted token without a signature")
    };
    let parts = valid
        .iter()
        .map(|t| split(t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((0..parts.len())
        .map(|i| {
            let signature = &parts[(i + 1) % parts.len()].1;
            format!("{}.{signature}", parts[i].0)
        })
        .collect())
}

/// The claims of a token, read without verifying (it came from the
/// public service in this run).
fn claims_of(token: &str) -> anyhow::Result<HandoffClaims> {
    let payload = token
        .split('.')
        .nth(1)
        .context("the handoff cookie is not a JWT")?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .context("the handoff token's claims are not base64url")?;
    serde_json::from_slice(&json).context("the handoff token's claims")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_tokens_keep_their_claims_and_take_another_signature() {
        let valid = vec!["h.a.s1".to_owned(), "h.b.s2".to_owned()];
        assert_eq!(forged(&valid).unwrap(), ["h.a.s2", "h.b.s1"]);
    }
}

//! `admin grants revoke --user …`: needs `DATABASE_URL`,
//! `TOKEN_ENCRYPTION_KEYS` and the provider settings (`OIDC_CLIENT_ID`,
//! `OIDC_CLIENT_SECRET`, `OIDC_ISSUER_URL`).
//!
//! The refresh token is revoked at the provider first (RFC 7009, the
//! endpoint discovery names; Google's is documented at
//! <https://developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke>),
//! then the grant here, the way sign-out with `SIGN_OUT_REVOKES_GRANT`
//! does. If the provider cannot be reached or refuses, nothing changes
//! here unless `--even-if-provider-fails`: the stored token is the only
//! means left to revoke it at the provider, so it is not thrown away
//! silently.

use handoff_guard::SharedClock;
use serde_json::{json, Value};
use service_kit::config::Env;

use super::audit::AuditLine;
use super::{context, AdminError, Console};
use crate::store::GrantStore;
use crate::token_broker::refresh_context;

pub struct Revoke<'a> {
    pub user: &'a str,
    pub reason: Option<&'a str>,
    pub even_if_provider_fails: bool,
}

/// What happened to the refresh token at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtProvider {
    Revoked,
    /// Discovery names no revocation endpoint.
    NoRevocationEndpoint,
    /// The grant holds no refresh token (revoked already, or offline
    /// access off).
    NoRefreshToken,
    Failed(String),
}

pub struct GrantOutcome {
    pub at_provider: AtProvider,
    /// Whether this command marked the grant revoked here.
    pub revoked_here: bool,
}

impl GrantOutcome {
    fn provider_word(&self) -> &'static str {
        match self.at_provider {
            AtProvider::Revoked => "revoked",
            AtProvider::NoRevocationEndpoint => "no_revocation_endpoint",
            AtProvider::NoRefreshToken => "no_refresh_token",
            AtProvider::Failed(_) => "failed",
        }
    }

    pub fn to_json(&self) -> Value {
        json!({ "at_provider": self.provider_word(), "revoked_here": self.revoked_here })
    }

    pub fn describe(&self, console: &mut Console<'_>) -> Result<(), AdminError> {
        let provider = match &self.at_provider {
            AtProvider::Revoked => "refresh token revoked at the provider".to_owned(),
            AtProvider::NoRevocationEndpoint => {
                "the provider has no revocation endpoint: remove the app's access in the user's account".to_owned()
            }
            AtProvider::NoRefreshToken => "no refresh token was stored".to_owned(),
            AtProvider::Failed(reason) => format!(
                "NOT revoked at the provider ({reason}): it may stay valid there until the user removes the app's access"
            ),
        };
        let here = if self.revoked_here {
            "grant revoked here"
        } else {
            "no live grant here"
        };
        writeln!(console.out, "{provider}; {here}")?;
        Ok(())
    }
}

pub async fn revoke_command(
    env: &Env,
    clock: &SharedClock,
    revoke: &Revoke<'_>,
    json: bool,
    console: &mut Console<'_>,
) -> Result<(), AdminError> {
    let store = context::store(env).await?;
    let known = context::resolve_user(&*store, revoke.user).await?;
    let outcome = revoke_grant(env, clock, &*store, &known.subject, revoke, console).await?;
    if json {
        let answer = json!({ "subject": known.subject, "grant": outcome.to_json() });
        writeln!(console.out, "{answer}")?;
        Ok(())
    } else {
        outcome.describe(console)
    }
}

/// Revokes `subject`'s grant at the provider and here, writing its audit
/// line. A sign-in that stores a new refresh token meanwhile is noticed
/// (the version moved) and that token is revoked too.
pub async fn revoke_grant(
    env: &Env,
    clock: &SharedClock,
    store: &dyn GrantStore,
    subject: &str,
    revoke: &Revoke<'_>,
    console: &mut Console<'_>,
) -> Result<GrantOutcome, AdminError> {
    const ATTEMPTS: usize = 3;
    let audit = |outcome: &str, details: Value, console: &mut Console<'_>| {
        AuditLine {
            action: "grants.revoke",
            reason: revoke.reason,
            subject: Some(subject),
            outcome,
            details,
        }
        .write(console.audit)
    };
    let mut last: Option<GrantOutcome> = None;
    for _ in 0..ATTEMPTS {
        let grant = match store.grant(subject).await {
            Ok(grant) => grant,
            Err(e) => {
                // An earlier try may have revoked the token at the provider.
                if let Some(outcome) = &last {
                    audit("failed", outcome.to_json(), console)?;
                }
                return Err(e.into());
            }
        };
        let Some(grant) = grant else {
            let outcome = GrantOutcome {
                at_provider: AtProvider::NoRefreshToken,
                revoked_here: false,
            };
            audit("ok", outcome.to_json(), console)?;
            return Ok(outcome);
        };
        let at_provider = match &grant.refresh_token {
            None => AtProvider::NoRefreshToken,
            Some(sealed) => {
                let cipher = context::token_cipher(env)?;
                match cipher.open(sealed, &refresh_context(subject)) {
                    Err(e) => AtProvider::Failed(e.to_string()),
                    Ok(token) => {
                        let oidc = context::oidc(env, clock)?;
                        match oidc.revoke_refresh_token(&token).await {
                            Ok(true) => AtProvider::Revoked,
                            Ok(false) => AtProvider::NoRevocationEndpoint,
                            Err(e) => AtProvider::Failed(e.to_string()),
                        }
                    }
                }
            }
        };
        if let AtProvider::Failed(reason) = &at_provider {
            if !revoke.even_if_provider_fails {
                let outcome = GrantOutcome {
                    at_provider: at_provider.clone(),
                    revoked_here: false,
                };
                audit("provider_failed", outcome.to_json(), console)?;
                return Err(AdminError::ProviderFailed(reason.clone()));
            }
        }
        let revoked_here = match store
            .revoke_grant(subject, Some(grant.version), clock.unix_seconds())
            .await
        {
            Ok(revoked_here) => revoked_here,
            Err(e) => {
                // The provider may have revoked the token already: that is
                // a change, and the audit line says so.
                let outcome = GrantOutcome {
                    at_provider,
                    revoked_here: false,
                };
                audit("failed", outcome.to_json(), console)?;
                return Err(e.into());
            }
        };
        let outcome = GrantOutcome {
            at_provider,
            revoked_here,
        };
        let already_revoked = grant.revoked_at.is_some();
        if revoked_here || already_revoked {
            let word = match outcome.at_provider {
                AtProvider::Failed(_) => "revoked_here_only",
                _ => "ok",
            };
            audit(word, outcome.to_json(), console)?;
            return Ok(outcome);
        }
        // The grant changed between the read and the write: read it again.
        last = Some(outcome);
    }
    let outcome = last.unwrap_or(GrantOutcome {
        at_provider: AtProvider::NoRefreshToken,
        revoked_here: false,
    });
    audit("changed_concurrently", outcome.to_json(), console)?;
    Err(AdminError::Incomplete(format!(
        "the grant of {subject} changed {ATTEMPTS} times while it was being revoked; run the command again"
    )))
}

//! The token broker: fresh provider access tokens for signed-in users,
//! minted from their stored refresh tokens, for trusted backends.
//!
//! Three layers keep the provider from being asked more than needed:
//! 1. an in-memory cache per instance, trusted for [`RECHECK_AFTER`] before
//!    the grant row is looked at again (so a revocation by another
//!    instance is seen within that delay);
//! 2. a per-user async lock, so concurrent callers on one instance wait
//!    for one refresh instead of each starting one;
//! 3. the grant's lease ([`crate::grants::Lease`]), so instances sharing
//!    a database refresh one at a time, and the access token stored in the
//!    grant, so the others reuse the result.
//!
//! A rotated refresh token is stored by the same write that releases the
//! lease, before the access token is handed out; nothing else can use the
//! old one meanwhile. `invalid_grant` marks the grant revoked (unless a
//! sign-in replaced the token in between) and callers get
//! [`BrokerError::ConsentRequired`].
//!
//! Each request says which scopes it wants ([`Wanted`]) and who may be
//! served ([`TokenRequest::admit`]: the access policy and the caller's
//! rules, judged on every call against the grant's e-mail and `hd`). A
//! token wanted for fewer scopes than the grant holds is asked of the
//! provider narrowed to them (RFC 6749 §6, `scope` on the refresh); such
//! tokens live in this instance's memory only, keyed by the scopes asked,
//! while the grant row keeps the token that carries the whole grant.
//!
//! Narrowing is a request the provider may ignore (or that
//! `BROKER_NARROWS_SCOPES=false` never makes), and then the token carries
//! the whole grant under a narrower key. So what a token carries, as the
//! provider reported it, is judged against the caller's rules
//! ([`TokenRequest::handed_to`]) every time one is handed out, from
//! memory, from the grant row or fresh: a token carrying a scope the caller
//! may not have is refused ([`BrokerError::TooBroad`]), never handed out.
//!
//! Here: the public face ([`TokenBroker`], what a request wants, the
//! errors); `cache` is layers 1 and 2, `refresh` layer 3 and the provider
//! call, `provider` what the broker needs of the provider. Grants
//! themselves (sealing, sign-ins, revocation, the lease) are
//! [`crate::grants`].

mod cache;
mod provider;
mod refresh;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use handoff_guard::SharedClock;
use secrecy::SecretString;
use url::Url;

use crate::broker_rules::{BrokerRules, CallerRules};
use crate::grants::Grants;
use crate::oidc::ProviderTokens;
use crate::policy::Identity;
use crate::scopes::ScopeSet;
use crate::store::{GrantStore, StoreError};
use crate::token_cipher::TokenCipher;

pub(crate) use crate::grants::{access_context, refresh_context};
pub use provider::TokenProvider;

pub struct BrokerSettings {
    /// Service-account e-mails allowed to call the token broker; empty
    /// disables it.
    pub allowed_callers: Vec<String>,
    pub caller_issuers: Vec<String>,
    pub caller_jwks_url: Url,
    /// The audience callers' ID tokens must name: this service's URL.
    pub caller_audience: String,
    /// The scopes and users each caller may get.
    pub rules: BrokerRules,
    /// A token only for a user with a live (valid) session.
    pub requires_session: bool,
    /// Ask the provider for a token carrying only the scopes wanted
    /// (RFC 6749 §6), instead of every scope of the grant. Off, tokens
    /// carry the whole grant, and only callers allowed all of it (or
    /// accepting it, `BROKER_WHOLE_GRANT_CALLERS`) get one.
    pub narrows_scopes: bool,
}

/// An access token is handed out only if it lives at least this long.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// How long a cached token is served before the grant row is re-read.
pub const RECHECK_AFTER: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct AccessToken {
    pub token: SecretString,
    pub expires_at: u64,
    /// What the token carries, as the provider reported it (or as asked,
    /// when it did not say), in canonical spelling ([`crate::scopes`]).
    pub scopes: Vec<String>,
}

/// The scopes a caller wants a token for.
#[derive(Debug, Clone)]
pub enum Wanted {
    /// Every scope the grant holds (renewal's check).
    Whole,
    /// All of these; the user must consent to those the grant lacks.
    All(Vec<String>),
    /// Those of these the grant holds (at least one).
    AnyOf(Vec<String>),
}

/// Who a grant is for, as the policy and the caller's rules judge them.
pub struct Holder<'a> {
    pub subject: &'a str,
    pub email: &'a str,
    pub hosted_domain: Option<&'a str>,
}

/// Why this caller gets no token for this user, whatever the grant holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The access policy no longer admits the user.
    UserNotAllowed,
    /// The caller's user filter does not name the user.
    SubjectNotAllowed,
}

pub struct TokenRequest<'a> {
    pub subject: &'a str,
    pub wanted: Wanted,
    /// Judged on every call, before any token is handed out or minted.
    pub admit: &'a (dyn Fn(&Holder<'_>) -> Result<(), Refusal> + Sync),
    /// The caller the token is for, whose rules bound what it may carry;
    /// `None`: the token stays here (renewal's check of the grant).
    pub handed_to: Option<&'a CallerRules>,
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The user must sign in (again) and consent: no grant, a revoked
    /// one, or one lacking `missing_scopes`.
    #[error("the user's consent is required")]
    ConsentRequired { missing_scopes: Vec<String> },
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// The provider's token carries `extra_scopes` (canonical names),
    /// which the caller may not have: it did not narrow the token.
    #[error("the token carries scopes beyond the caller's: {extra_scopes:?}")]
    TooBroad { extra_scopes: Vec<String> },
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

pub struct TokenBroker {
    grants: Grants,
    provider: Arc<dyn TokenProvider>,
    /// Held by the refresher for at most the provider timeout and a margin.
    lease_ttl: Duration,
    /// Ask for tokens narrowed to the scopes wanted.
    narrows_scopes: bool,
    clock: SharedClock,
    cache: cache::Cache,
}

impl TokenBroker {
    pub fn new(
        store: Arc<dyn GrantStore>,
        provider: Arc<dyn TokenProvider>,
        cipher: TokenCipher,
        clock: SharedClock,
        provider_timeout: Duration,
        narrows_scopes: bool,
    ) -> Self {
        Self {
            grants: Grants::new(store, cipher, clock.clone()),
            provider,
            lease_ttl: provider_timeout + Duration::from_secs(5),
            narrows_scopes,
            clock,
            cache: cache::Cache::default(),
        }
    }

    /// Stores what a sign-in brought: the (new) refresh token, the access
    /// token, the granted scopes.
    pub async fn record_sign_in(
        &self,
        identity: &Identity,
        email: &str,
        tokens: &ProviderTokens,
    ) -> Result<(), StoreError> {
        self.grants.record_sign_in(identity, email, tokens).await?;
        self.forget(&identity.subject);
        Ok(())
    }

    /// Whether the user has a grant a refresh can be attempted with.
    pub async fn has_usable_grant(&self, subject: &str) -> Result<bool, StoreError> {
        self.grants.has_usable_grant(subject).await
    }

    /// A token valid for at least [`EXPIRY_MARGIN`] for what `request`
    /// wants, if `request.admit` lets the grant's holder be served and the
    /// token carries nothing beyond `request.handed_to`'s scopes.
    pub async fn access_token(
        &self,
        request: &TokenRequest<'_>,
    ) -> Result<AccessToken, BrokerError> {
        let token = match self.cached(request) {
            Some(answer) => answer?,
            None => self.fetch(request, false).await?,
        };
        // The one way out, whichever layer the token came from.
        if let Some(rules) = request.handed_to {
            let extra_scopes = rules.scopes_beyond(&token.scopes);
            if !extra_scopes.is_empty() {
                return Err(BrokerError::TooBroad { extra_scopes });
            }
        }
        Ok(token)
    }

    /// Refreshes at the provider now, whatever is cached: proves the grant
    /// still works (renewal with `RENEWAL_CHECKS_GRANT`).
    pub async fn check_grant(&self, subject: &str) -> Result<(), BrokerError> {
        let request = TokenRequest {
            subject,
            wanted: Wanted::Whole,
            admit: &|_| Ok(()),
            handed_to: None,
        };
        self.fetch(&request, true).await.map(|_| ())
    }

    /// Revokes the user's refresh token at the provider (when it has a
    /// revocation endpoint) and forgets the grant here.
    pub async fn revoke(&self, subject: &str) -> Result<(), BrokerError> {
        let grant = self.grants.grant(subject).await?;
        match grant
            .as_ref()
            .and_then(|g| self.grants.open_refresh_token(g))
        {
            Some(Ok(refresh_token)) => {
                match self.provider.revoke_refresh_token(&refresh_token).await {
                    Ok(true) => tracing::info!("refresh token revoked at the provider"),
                    Ok(false) => tracing::info!("the provider has no revocation endpoint"),
                    Err(e) => tracing::warn!(reason = %e, "revocation at the provider failed"),
                }
            }
            Some(Err(e)) => tracing::warn!(reason = %e, "stored refresh token does not open"),
            None => {}
        }
        self.grants.revoke(subject, None).await?;
        self.forget(subject);
        Ok(())
    }

    /// The scopes to ask the provider for: what is wanted of what the
    /// grant holds, or the whole grant when narrowing is off.
    fn plan(&self, granted: &ScopeSet, wanted: &Wanted) -> Result<ScopeSet, BrokerError> {
        let asked: ScopeSet = match wanted {
            Wanted::Whole => return Ok(granted.clone()),
            Wanted::All(scopes) => {
                let missing = granted.missing(scopes);
                if !missing.is_empty() {
                    return Err(BrokerError::ConsentRequired {
                        missing_scopes: missing,
                    });
                }
                scopes.iter().collect()
            }
            Wanted::AnyOf(scopes) => {
                let held: ScopeSet = scopes.iter().filter(|s| granted.contains(s)).collect();
                if held.is_empty() {
                    return Err(BrokerError::ConsentRequired {
                        missing_scopes: scopes.clone(),
                    });
                }
                held
            }
        };
        Ok(if self.narrows_scopes {
            asked
        } else {
            granted.clone()
        })
    }
}

fn consent_required() -> BrokerError {
    BrokerError::ConsentRequired {
        missing_scopes: Vec::new(),
    }
}

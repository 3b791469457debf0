//! The token broker: fresh provider access tokens for signed-in users,
//! minted from their stored refresh tokens, for trusted backends.
//!
//! Three layers keep the provider from being asked more than needed:
//! 1. an in-memory cache per instance, trusted for [`RECHECK_AFTER`] before
//!    the grant row is looked at again (so a revocation by another
//!    instance is seen within that delay);
//! 2. a per-user async lock, so concurrent callers on one instance wait
//!    for one refresh instead of each starting one;
//! 3. the grant row's lease ([`crate::store`]), so instances sharing a
//!    database refresh one at a time, and the access token stored in the
//!    row, so the others reuse the result.
//!
//! A rotated refresh token is stored by the same write that releases the
//! lease, before the access token is handed out; nothing else can use the
//! old one meanwhile. `invalid_grant` marks the grant revoked (unless a
//! sign-in replaced the token in between) and callers get
//! [`BrokerError::ConsentRequired`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use shared::clock::SharedClock;

use crate::oidc::{OidcClient, ProviderTokens, RefreshError};
use crate::policy::Identity;
use crate::scopes::{canonicalised, ScopeSet};
use crate::store::{FreshTokens, GrantRecord, SignInGrant, Store, StoreError};
use crate::token_cipher::TokenCipher;

/// An access token is handed out only if it lives at least this long.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// How long a cached token is served before the grant row is re-read.
pub const RECHECK_AFTER: Duration = Duration::from_secs(10);
/// Assumed lifetime when the provider does not say.
const DEFAULT_LIFETIME: u64 = 3600;
/// Entries kept in memory before expired ones are dropped.
const CACHE_CAPACITY: usize = 10_000;
const LEASE_POLL: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub struct AccessToken {
    pub token: SecretString,
    pub expires_at: u64,
    /// In canonical spelling ([`crate::scopes`]).
    pub scopes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The user must sign in (again) and consent: no grant, a revoked
    /// one, or one lacking `missing_scopes`.
    #[error("the user's consent is required")]
    ConsentRequired { missing_scopes: Vec<String> },
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

struct Cached {
    token: AccessToken,
    checked_at: u64,
}

pub struct TokenBroker {
    store: Store,
    oidc: Arc<OidcClient>,
    cipher: TokenCipher,
    clock: SharedClock,
    /// Held by the refresher for at most the provider timeout and a margin.
    lease_ttl: Duration,
    cache: Mutex<HashMap<String, Cached>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl TokenBroker {
    pub fn new(
        store: Store,
        oidc: Arc<OidcClient>,
        cipher: TokenCipher,
        clock: SharedClock,
        provider_timeout: Duration,
    ) -> Self {
        Self {
            store,
            oidc,
            cipher,
            clock,
            lease_ttl: provider_timeout + Duration::from_secs(5),
            cache: Mutex::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
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
        let subject = &identity.subject;
        let existing = self.store.grant(subject).await?;
        let mut scopes = canonicalised(&tokens.scopes);
        if tokens.refresh_token.is_none() {
            // The stored refresh token still carries what it carried.
            if let Some(existing) = &existing {
                scopes.extend(existing.scopes.iter().cloned());
                scopes = canonicalised(&scopes);
            }
        }
        let now = self.clock.unix_seconds();
        let expires_at = now + tokens.expires_in.unwrap_or(DEFAULT_LIFETIME);
        let grant = SignInGrant {
            subject: subject.clone(),
            email: email.to_owned(),
            scopes,
            refresh_token: tokens.refresh_token.as_ref().map(|t| {
                self.cipher
                    .seal(t.expose_secret(), &refresh_context(subject))
            }),
            access_token: Some((
                self.cipher.seal(
                    tokens.access_token.expose_secret(),
                    &access_context(subject),
                ),
                expires_at,
            )),
        };
        self.store.record_sign_in(&grant, now).await?;
        self.forget(subject);
        Ok(())
    }

    /// Whether the user has a grant a refresh can be attempted with.
    pub async fn has_usable_grant(&self, subject: &str) -> Result<bool, StoreError> {
        Ok(self
            .store
            .grant(subject)
            .await?
            .is_some_and(|g| g.is_usable()))
    }

    /// A token valid for at least [`EXPIRY_MARGIN`] carrying `scopes`.
    pub async fn access_token(
        &self,
        subject: &str,
        scopes: &[String],
    ) -> Result<AccessToken, BrokerError> {
        if let Some(token) = self.cached(subject, scopes) {
            return Ok(token);
        }
        self.fetch(subject, scopes, false).await
    }

    /// Refreshes at the provider now, whatever is cached: proves the grant
    /// still works (renewal with `RENEWAL_CHECKS_GRANT`).
    pub async fn check_grant(&self, subject: &str) -> Result<(), BrokerError> {
        self.fetch(subject, &[], true).await.map(|_| ())
    }

    /// Revokes the user's refresh token at the provider (when it has a
    /// revocation endpoint) and forgets the grant here.
    pub async fn revoke(&self, subject: &str) -> Result<(), BrokerError> {
        let grant = self.store.grant(subject).await?;
        if let Some(sealed) = grant.as_ref().and_then(|g| g.refresh_token.as_ref()) {
            match self.cipher.open(sealed, &refresh_context(subject)) {
                Ok(refresh_token) => match self.oidc.revoke_refresh_token(&refresh_token).await {
                    Ok(true) => tracing::info!("refresh token revoked at the provider"),
                    Ok(false) => tracing::info!("the provider has no revocation endpoint"),
                    Err(e) => tracing::warn!(reason = %e, "revocation at the provider failed"),
                },
                Err(e) => tracing::warn!(reason = %e, "stored refresh token does not open"),
            }
        }
        self.store
            .revoke_grant(subject, None, self.clock.unix_seconds())
            .await?;
        self.forget(subject);
        Ok(())
    }

    fn cached(&self, subject: &str, scopes: &[String]) -> Option<AccessToken> {
        let now = self.clock.unix_seconds();
        let cache = self.cache();
        let entry = cache.get(subject)?;
        let usable = entry.token.expires_at > now + EXPIRY_MARGIN.as_secs()
            && now < entry.checked_at + RECHECK_AFTER.as_secs()
            && entry
                .token
                .scopes
                .iter()
                .collect::<ScopeSet>()
                .contains_all(scopes);
        usable.then(|| entry.token.clone())
    }

    async fn fetch(
        &self,
        subject: &str,
        scopes: &[String],
        mut force: bool,
    ) -> Result<AccessToken, BrokerError> {
        let lock = self.lock_for(subject);
        let _single_flight = lock.lock().await;
        if !force {
            if let Some(token) = self.cached(subject, scopes) {
                return Ok(token);
            }
        }
        let result = self.fetch_locked(subject, scopes, &mut force).await;
        drop(_single_flight);
        self.release_lock(subject, &lock);
        result
    }

    async fn fetch_locked(
        &self,
        subject: &str,
        scopes: &[String],
        force: &mut bool,
    ) -> Result<AccessToken, BrokerError> {
        let give_up_at = Instant::now() + self.lease_ttl;
        let mut retried_after_replacement = false;
        loop {
            let now = self.clock.unix_seconds();
            let grant = self.usable_grant(subject, scopes).await?;
            if !*force {
                if let Some(token) = self.stored_access_token(&grant, now) {
                    return Ok(self.remember(subject, token));
                }
            }
            let lease_id = shared::random::url_safe_token(16);
            let until = now + self.lease_ttl.as_secs();
            match self
                .store
                .take_refresh_lease(subject, &lease_id, now, until)
                .await?
            {
                Some(leased) => {
                    if !*force {
                        if let Some(token) = self.stored_access_token(&leased, now) {
                            // Another instance finished a refresh between our
                            // read and our lease: use its result.
                            self.release(subject, &lease_id).await;
                            return Ok(self.remember(subject, token));
                        }
                    }
                    match self.refresh_under_lease(&leased, &lease_id).await {
                        Err(Replaced) if !retried_after_replacement => {
                            retried_after_replacement = true;
                            continue;
                        }
                        Err(Replaced) => {
                            return Err(BrokerError::Unavailable(
                                "the grant changed twice during one refresh".into(),
                            ))
                        }
                        Ok(result) => return result,
                    }
                }
                None => {
                    // Another instance holds the lease: wait for its result.
                    if Instant::now() >= give_up_at {
                        return Err(BrokerError::Unavailable(
                            "another instance is still refreshing this grant".into(),
                        ));
                    }
                    *force = false;
                    tokio::time::sleep(LEASE_POLL).await;
                }
            }
        }
    }

    async fn usable_grant(
        &self,
        subject: &str,
        scopes: &[String],
    ) -> Result<GrantRecord, BrokerError> {
        let Some(grant) = self.store.grant(subject).await? else {
            return Err(BrokerError::ConsentRequired {
                missing_scopes: scopes.to_vec(),
            });
        };
        if !grant.is_usable() {
            self.forget(subject);
            return Err(BrokerError::ConsentRequired {
                missing_scopes: scopes.to_vec(),
            });
        }
        if !grant.has_scopes(scopes) {
            return Err(BrokerError::ConsentRequired {
                missing_scopes: grant.scope_set().missing(scopes),
            });
        }
        Ok(grant)
    }

    fn stored_access_token(&self, grant: &GrantRecord, now: u64) -> Option<AccessToken> {
        let (sealed, expires_at) = grant.access_token.as_ref()?;
        if *expires_at <= now + EXPIRY_MARGIN.as_secs() {
            return None;
        }
        let token = self
            .cipher
            .open(sealed, &access_context(&grant.subject))
            .ok()?;
        Some(AccessToken {
            token,
            expires_at: *expires_at,
            scopes: grant.scopes.clone(),
        })
    }

    /// Refreshes with the leased grant's refresh token. `Err(Replaced)`:
    /// the provider refused a token that a sign-in has since replaced; try
    /// again with the new one.
    async fn refresh_under_lease(
        &self,
        leased: &GrantRecord,
        lease_id: &str,
    ) -> Result<Result<AccessToken, BrokerError>, Replaced> {
        let subject = leased.subject.as_str();
        let Some(sealed) = leased.refresh_token.as_ref() else {
            self.release(subject, lease_id).await;
            return Ok(Err(consent_required()));
        };
        let refresh_token = match self.cipher.open(sealed, &refresh_context(subject)) {
            Ok(token) => token,
            Err(e) => {
                tracing::error!(reason = %e, "a stored refresh token does not open; the user must consent again");
                self.release(subject, lease_id).await;
                return Ok(Err(consent_required()));
            }
        };
        let refreshed = self.oidc.refresh(&refresh_token, &leased.scopes).await;
        let outcome = match &refreshed {
            Ok(_) => "ok",
            Err(RefreshError::InvalidGrant) => "invalid_grant",
            Err(RefreshError::Provider(_)) => "failed",
        };
        shared::metrics::count(
            "token_refreshes_total",
            "Access-token refreshes at the provider, by outcome.",
            &[("outcome", outcome)],
        );
        match refreshed {
            Ok(tokens) => Ok(self
                .store_refresh(leased, lease_id, sealed, &refresh_token, tokens)
                .await),
            Err(RefreshError::InvalidGrant) => {
                let now = self.clock.unix_seconds();
                match self
                    .store
                    .revoke_grant(subject, Some(leased.version), now)
                    .await
                {
                    Ok(true) => {
                        tracing::warn!("the provider refused the refresh token (invalid_grant); grant marked revoked");
                        self.forget(subject);
                        Ok(Err(consent_required()))
                    }
                    Ok(false) => {
                        self.release(subject, lease_id).await;
                        Err(Replaced)
                    }
                    Err(e) => {
                        self.release(subject, lease_id).await;
                        Ok(Err(e.into()))
                    }
                }
            }
            Err(RefreshError::Provider(e)) => {
                tracing::warn!(reason = %e, "token refresh failed");
                self.release(subject, lease_id).await;
                Ok(Err(BrokerError::Unavailable(e.to_string())))
            }
        }
    }

    async fn store_refresh(
        &self,
        leased: &GrantRecord,
        lease_id: &str,
        sealed: &crate::token_cipher::Sealed,
        used: &SecretString,
        tokens: ProviderTokens,
    ) -> Result<AccessToken, BrokerError> {
        let subject = leased.subject.as_str();
        let now = self.clock.unix_seconds();
        let expires_at = now + tokens.expires_in.unwrap_or(DEFAULT_LIFETIME);
        let context = refresh_context(subject);
        let rotated = tokens
            .refresh_token
            .as_ref()
            .map(|t| self.cipher.seal(t.expose_secret(), &context));
        // Re-seal under the newest key while we hold the plaintext anyway.
        let refresh_token = rotated.clone().or_else(|| {
            self.cipher
                .is_stale(sealed)
                .then(|| self.cipher.seal(used.expose_secret(), &context))
        });
        let scopes = if tokens.scopes.is_empty() {
            leased.scopes.clone()
        } else {
            canonicalised(&tokens.scopes)
        };
        let fresh = FreshTokens {
            access_token: self.cipher.seal(
                tokens.access_token.expose_secret(),
                &access_context(subject),
            ),
            expires_at,
            scopes: scopes.clone(),
            refresh_token,
        };
        let finished = self
            .store
            .finish_refresh(subject, lease_id, leased.version, &fresh, now)
            .await?;
        if !finished {
            // The lease ran out under us (a very slow provider or database).
            // The rotated token is the only valid one now: keep it if no
            // newer token arrived meanwhile.
            if let Some(rotated) = &rotated {
                let kept = self
                    .store
                    .replace_refresh_token(subject, leased.version, rotated, now)
                    .await?;
                if !kept {
                    tracing::error!("a rotated refresh token could not be stored; the grant may need consent again");
                }
            }
        }
        tracing::info!(rotated = rotated.is_some(), "access token refreshed");
        Ok(self.remember(
            subject,
            AccessToken {
                token: tokens.access_token,
                expires_at,
                scopes,
            },
        ))
    }

    async fn release(&self, subject: &str, lease_id: &str) {
        if let Err(e) = self.store.release_refresh_lease(subject, lease_id).await {
            tracing::warn!(reason = %e, "refresh lease not released; it will expire");
        }
    }

    fn remember(&self, subject: &str, token: AccessToken) -> AccessToken {
        let now = self.clock.unix_seconds();
        let mut cache = self.cache();
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, c| c.token.expires_at > now);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(
            subject.to_owned(),
            Cached {
                token: token.clone(),
                checked_at: now,
            },
        );
        token
    }

    pub fn forget(&self, subject: &str) {
        self.cache().remove(subject);
    }

    fn lock_for(&self, subject: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks().entry(subject.to_owned()).or_default().clone()
    }

    fn release_lock(&self, subject: &str, lock: &Arc<tokio::sync::Mutex<()>>) {
        let mut locks = self.locks();
        // Two references: the map's and ours; nobody else is waiting.
        if Arc::strong_count(lock) == 2 {
            locks.remove(subject);
        }
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn locks(&self) -> MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        self.locks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The refresh token that was refused had been replaced meanwhile.
struct Replaced;

fn consent_required() -> BrokerError {
    BrokerError::ConsentRequired {
        missing_scopes: Vec::new(),
    }
}

fn refresh_context(subject: &str) -> String {
    format!("refresh_token:{subject}")
}

fn access_context(subject: &str) -> String {
    format!("access_token:{subject}")
}

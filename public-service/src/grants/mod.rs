//! Users' grants as the service keeps them: the refresh token sealed with
//! [`TokenCipher`] (bound to its user and column), the last access token
//! of the whole grant, the scopes, and the lease that lets one holder at a
//! time refresh it ([`Lease`]).
//!
//! A sign-in records what it brought ([`Grants::record_sign_in`]); the
//! token broker reads, leases and refreshes; sign-out and `invalid_grant`
//! revoke. Storage is any [`GrantStore`]; plaintext tokens never reach it.

mod lease;

use std::sync::Arc;
use std::time::Duration;

use handoff_guard::SharedClock;
use secrecy::{ExposeSecret, SecretString};

use crate::oidc::ProviderTokens;
use crate::policy::Identity;
use crate::scopes::canonicalised;
use crate::store::{GrantRecord, GrantStore, LeasePurpose, SignInGrant, StoreError};
use crate::token_cipher::{CipherError, Sealed, TokenCipher};

pub use lease::Lease;

/// Assumed lifetime of an access token when the provider does not say.
pub const DEFAULT_LIFETIME: u64 = 3600;

pub struct Grants {
    store: Arc<dyn GrantStore>,
    cipher: TokenCipher,
    clock: SharedClock,
}

impl Grants {
    pub fn new(store: Arc<dyn GrantStore>, cipher: TokenCipher, clock: SharedClock) -> Self {
        Self {
            store,
            cipher,
            clock,
        }
    }

    /// The grant as stored, or `None`.
    pub async fn grant(&self, subject: &str) -> Result<Option<GrantRecord>, StoreError> {
        self.store.grant(subject).await
    }

    /// Whether the user has a grant a refresh can be attempted with.
    pub async fn has_usable_grant(&self, subject: &str) -> Result<bool, StoreError> {
        Ok(self.grant(subject).await?.is_some_and(|g| g.is_usable()))
    }

    /// Stores what a sign-in brought: the (new) refresh token, the access
    /// token, the granted scopes, the e-mail and `hd`.
    pub async fn record_sign_in(
        &self,
        identity: &Identity,
        email: &str,
        tokens: &ProviderTokens,
    ) -> Result<(), StoreError> {
        let subject = &identity.subject;
        let mut scopes = canonicalised(&tokens.scopes);
        if tokens.refresh_token.is_none() {
            // The stored refresh token still carries what it carried.
            if let Some(existing) = self.store.grant(subject).await? {
                scopes.extend(existing.scopes.iter().cloned());
                scopes = canonicalised(&scopes);
            }
        }
        let now = self.clock.unix_seconds();
        let expires_at = now + tokens.expires_in.unwrap_or(DEFAULT_LIFETIME);
        let grant = SignInGrant {
            subject: subject.clone(),
            email: email.to_owned(),
            hosted_domain: identity.hosted_domain.clone(),
            scopes,
            refresh_token: tokens
                .refresh_token
                .as_ref()
                .map(|t| self.seal_refresh_token(subject, t)),
            access_token: Some((
                self.seal_access_token(subject, &tokens.access_token),
                expires_at,
            )),
        };
        self.store.record_sign_in(&grant, now).await
    }

    /// Takes the grant's refresh lease for `ttl`, if the grant is usable
    /// and nobody holds it; the guard carries the grant as leased.
    pub async fn lease(&self, subject: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let lease_id = service_kit::random::url_safe_token(16);
        let now = self.clock.unix_seconds();
        let until = now + ttl.as_secs();
        let leased = self
            .store
            .take_lease(subject, &lease_id, LeasePurpose::Refresh, now, until)
            .await?;
        Ok(leased.map(|grant| Lease::new(self.store.clone(), grant, lease_id)))
    }

    /// Marks the grant revoked and forgets its tokens; with `read_version`,
    /// only if its refresh token is still the one read. Whether this call
    /// revoked it.
    pub async fn revoke(
        &self,
        subject: &str,
        read_version: Option<i64>,
    ) -> Result<bool, StoreError> {
        let now = self.clock.unix_seconds();
        self.store.revoke_grant(subject, read_version, now).await
    }

    /// Stores a rotated refresh token outside a lease (the lease was lost),
    /// only if nothing replaced the token since `read_version`.
    pub async fn replace_refresh_token(
        &self,
        subject: &str,
        read_version: i64,
        refresh_token: &Sealed,
    ) -> Result<bool, StoreError> {
        let now = self.clock.unix_seconds();
        self.store
            .replace_refresh_token(subject, read_version, refresh_token, now)
            .await
    }

    /// The grant's refresh token in plain text; `None` if it holds none.
    pub fn open_refresh_token(
        &self,
        grant: &GrantRecord,
    ) -> Option<Result<SecretString, CipherError>> {
        let sealed = grant.refresh_token.as_ref()?;
        Some(self.cipher.open(sealed, &refresh_context(&grant.subject)))
    }

    /// The stored access token of the whole grant and its expiry, if it
    /// lives longer than `margin` from now and opens.
    pub fn stored_access_token(
        &self,
        grant: &GrantRecord,
        margin: Duration,
    ) -> Option<(SecretString, u64)> {
        let (sealed, expires_at) = grant.access_token.as_ref()?;
        if *expires_at <= self.clock.unix_seconds() + margin.as_secs() {
            return None;
        }
        let token = self
            .cipher
            .open(sealed, &access_context(&grant.subject))
            .ok()?;
        Some((token, *expires_at))
    }

    pub fn seal_refresh_token(&self, subject: &str, token: &SecretString) -> Sealed {
        self.cipher
            .seal(token.expose_secret(), &refresh_context(subject))
    }

    pub fn seal_access_token(&self, subject: &str, token: &SecretString) -> Sealed {
        self.cipher
            .seal(token.expose_secret(), &access_context(subject))
    }

    /// Whether `sealed` is under a key older than the newest.
    pub fn is_stale(&self, sealed: &Sealed) -> bool {
        self.cipher.is_stale(sealed)
    }
}

/// What a sealed refresh token is bound to: its user and column.
pub(crate) fn refresh_context(subject: &str) -> String {
    format!("refresh_token:{subject}")
}

/// What a sealed access token is bound to: its user and column.
pub(crate) fn access_context(subject: &str) -> String {
    format!("access_token:{subject}")
}

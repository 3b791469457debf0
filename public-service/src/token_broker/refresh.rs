//! Layer 3: the grant as stored, its lease, and the refresh at the
//! provider. Whoever holds the grant's [`Lease`] refreshes; the others
//! wait and reuse the access token its commit stored.
//!
//! A rotated refresh token is stored by the commit that frees the lease,
//! before the access token is handed out. `invalid_grant` revokes the
//! grant only if its refresh token is still the one refused: a sign-in
//! that replaced it meanwhile wins, and the refresh is tried once more with
//! the new token.

use std::time::Instant;

use secrecy::SecretString;

use super::{
    consent_required, AccessToken, BrokerError, Holder, TokenBroker, TokenRequest, Wanted,
    EXPIRY_MARGIN,
};
use crate::grants::{Lease, DEFAULT_LIFETIME};
use crate::oidc::{ProviderTokens, RefreshError};
use crate::scopes::{canonicalised, ScopeSet};
use crate::store::{FreshTokens, GrantRecord};

/// How often a caller waiting for another's lease looks at the grant.
const LEASE_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// The refresh token that was refused had been replaced meanwhile.
struct Replaced;

impl TokenBroker {
    /// One caller per user on this instance at a time (layer 2); `force`:
    /// refresh at the provider whatever is cached or stored.
    pub(super) async fn fetch(
        &self,
        request: &TokenRequest<'_>,
        force: bool,
    ) -> Result<AccessToken, BrokerError> {
        self.single_flight(request.subject, async {
            if !force {
                if let Some(answer) = self.cached(request) {
                    return answer;
                }
            }
            self.fetch_locked(request, force).await
        })
        .await
    }

    async fn fetch_locked(
        &self,
        request: &TokenRequest<'_>,
        mut force: bool,
    ) -> Result<AccessToken, BrokerError> {
        let subject = request.subject;
        let give_up_at = Instant::now() + self.lease_ttl;
        let mut retried_after_replacement = false;
        loop {
            let now = self.clock.unix_seconds();
            let grant = self.usable_grant(subject, &request.wanted).await?;
            (request.admit)(&holder_of(&grant)).map_err(BrokerError::Refused)?;
            let granted = grant.scope_set();
            let asked = self.plan(&granted, &request.wanted)?;
            let whole = asked == granted;
            if !force {
                if let Some(token) = self.rearmed(&grant, &asked, now) {
                    return Ok(token);
                }
                if whole {
                    if let Some(token) = self.stored_access_token(&grant) {
                        return Ok(self.remember(&grant, grant.version, &granted, &asked, token));
                    }
                }
            }
            let Some(lease) = self.grants.lease(subject, self.lease_ttl).await? else {
                // Another caller holds the lease: wait for its result.
                if Instant::now() >= give_up_at {
                    return Err(BrokerError::Unavailable(
                        "another instance is still refreshing this grant".into(),
                    ));
                }
                force = false;
                tokio::time::sleep(LEASE_POLL).await;
                continue;
            };
            if !force && whole {
                if let Some(token) = self.stored_access_token(lease.grant()) {
                    // Another caller finished a refresh between our read
                    // and our lease: use its result.
                    let leased = lease.grant();
                    let token =
                        self.remember(leased, leased.version, &leased.scope_set(), &asked, token);
                    lease.release().await;
                    return Ok(token);
                }
            }
            match self.refresh_under_lease(lease, &asked, whole).await {
                Err(Replaced) if !retried_after_replacement => retried_after_replacement = true,
                Err(Replaced) => {
                    return Err(BrokerError::Unavailable(
                        "the grant changed twice during one refresh".into(),
                    ))
                }
                Ok(result) => return result,
            }
        }
    }

    async fn usable_grant(
        &self,
        subject: &str,
        wanted: &Wanted,
    ) -> Result<GrantRecord, BrokerError> {
        let missing = || BrokerError::ConsentRequired {
            missing_scopes: match wanted {
                Wanted::All(scopes) => scopes.clone(),
                Wanted::Whole | Wanted::AnyOf(_) => Vec::new(),
            },
        };
        let Some(grant) = self.grants.grant(subject).await? else {
            return Err(missing());
        };
        if !grant.is_usable() {
            self.forget(subject);
            return Err(missing());
        }
        Ok(grant)
    }

    fn stored_access_token(&self, grant: &GrantRecord) -> Option<AccessToken> {
        let (token, expires_at) = self.grants.stored_access_token(grant, EXPIRY_MARGIN)?;
        Some(AccessToken {
            token,
            expires_at,
            scopes: grant.scopes.clone(),
        })
    }

    /// Refreshes with the leased grant's refresh token; every path
    /// consumes the lease. `Err(Replaced)`: the provider refused a token
    /// that a sign-in has since replaced; try again with the new one.
    /// `whole`: `asked` is the whole grant, and the result is stored with
    /// it; otherwise the provider is asked for `asked` only.
    async fn refresh_under_lease(
        &self,
        lease: Lease,
        asked: &ScopeSet,
        whole: bool,
    ) -> Result<Result<AccessToken, BrokerError>, Replaced> {
        let leased = lease.grant().clone();
        let subject = leased.subject.as_str();
        let refresh_token = match self.grants.open_refresh_token(&leased) {
            Some(Ok(token)) => token,
            Some(Err(e)) => {
                tracing::error!(reason = %e, "a stored refresh token does not open; the user must consent again");
                lease.release().await;
                return Ok(Err(consent_required()));
            }
            None => {
                lease.release().await;
                return Ok(Err(consent_required()));
            }
        };
        let narrowed_to = (!whole).then(|| asked.to_vec());
        let refreshed = self
            .provider
            .refresh(&refresh_token, narrowed_to.as_deref(), &leased.scopes)
            .await;
        let outcome = match &refreshed {
            Ok(_) => "ok",
            Err(RefreshError::InvalidGrant) => "invalid_grant",
            Err(RefreshError::Provider(_)) => "failed",
        };
        service_kit::metrics::count(
            "token_refreshes_total",
            "Access-token refreshes at the provider, by outcome.",
            &[("outcome", outcome)],
        );
        match refreshed {
            Ok(tokens) => Ok(self
                .store_refresh(lease, &leased, &refresh_token, tokens, asked, whole)
                .await),
            Err(RefreshError::InvalidGrant) => {
                let revoked = self.grants.revoke(subject, Some(leased.version)).await;
                // A revocation frees the lease with the grant; this frees
                // it when the grant was not revoked (or it failed).
                lease.release().await;
                match revoked {
                    Ok(true) => {
                        tracing::warn!("the provider refused the refresh token (invalid_grant); grant marked revoked");
                        self.forget(subject);
                        Ok(Err(consent_required()))
                    }
                    Ok(false) => Err(Replaced),
                    Err(e) => Ok(Err(e.into())),
                }
            }
            Err(RefreshError::Provider(e)) => {
                tracing::warn!(reason = %e, "token refresh failed");
                lease.release().await;
                Ok(Err(BrokerError::Unavailable(e.to_string())))
            }
        }
    }

    /// Commits what the provider returned under the lease, and keeps the
    /// access token in memory. `used`: the refresh token as opened.
    async fn store_refresh(
        &self,
        lease: Lease,
        leased: &GrantRecord,
        used: &SecretString,
        tokens: ProviderTokens,
        asked: &ScopeSet,
        whole: bool,
    ) -> Result<AccessToken, BrokerError> {
        let subject = leased.subject.as_str();
        let now = self.clock.unix_seconds();
        let expires_at = now + tokens.expires_in.unwrap_or(DEFAULT_LIFETIME);
        let rotated = tokens
            .refresh_token
            .as_ref()
            .map(|t| self.grants.seal_refresh_token(subject, t));
        // Re-seal under the newest key while we hold the plaintext anyway.
        let stale = leased
            .refresh_token
            .as_ref()
            .is_some_and(|s| self.grants.is_stale(s));
        let refresh_token = rotated
            .clone()
            .or_else(|| stale.then(|| self.grants.seal_refresh_token(subject, used)));
        // RFC 6749 §5.1: a response without `scope` carries what was asked.
        let carried = if tokens.scopes.is_empty() {
            asked.to_vec()
        } else {
            canonicalised(&tokens.scopes)
        };
        if !whole && !carried.iter().collect::<ScopeSet>().eq(asked) {
            tracing::warn!(
                asked = %asked.to_scope_string(),
                carried = %carried.join(" "),
                "the provider did not narrow the token to the scopes asked for; callers not allowed all it carries are refused it"
            );
        }
        let fresh = FreshTokens {
            access_token: whole.then(|| {
                (
                    self.grants.seal_access_token(subject, &tokens.access_token),
                    expires_at,
                )
            }),
            scopes: whole.then(|| carried.clone()),
            refresh_token: refresh_token.clone(),
        };
        // An error here drops the lease, which frees it.
        let committed = lease.commit(&fresh, now).await?;
        // The grant's version after this write, for the tokens kept in memory.
        let mut version = leased.version + i64::from(committed && refresh_token.is_some());
        if !committed {
            // The lease ran out under us (a very slow provider or database).
            // The rotated token is the only valid one now: keep it if no
            // newer token arrived meanwhile.
            if let Some(rotated) = &rotated {
                if self
                    .grants
                    .replace_refresh_token(subject, leased.version, rotated)
                    .await?
                {
                    version = leased.version + 1;
                } else {
                    tracing::error!("a rotated refresh token could not be stored; the grant may need consent again");
                }
            }
        }
        tracing::info!(
            rotated = rotated.is_some(),
            narrowed = !whole,
            "access token refreshed"
        );
        let granted = if whole {
            carried.iter().collect()
        } else {
            leased.scope_set()
        };
        let token = AccessToken {
            token: tokens.access_token,
            expires_at,
            scopes: carried,
        };
        Ok(self.remember(leased, version, &granted, asked, token))
    }
}

fn holder_of(grant: &GrantRecord) -> Holder<'_> {
    Holder {
        subject: &grant.subject,
        email: &grant.email,
        hosted_domain: grant.hosted_domain.as_deref(),
    }
}

//! The provider ends sessions, server to server (OpenID Connect
//! Back-Channel Logout 1.0,
//! <https://openid.net/specs/openid-connect-backchannel-1_0.html>).
//!
//! Off unless discovery advertises `backchannel_logout_supported`
//! (section 2.1; Google does not) and `BACKCHANNEL_LOGOUT` is not `off`.
//! The logout token is verified as [`crate::oidc::logout_token`] says
//! (section 2.6); its `jti` is recorded and the sessions it names revoked
//! in one transaction, so a replay changes nothing, and the revocations
//! reach the apps through the revoked-sessions feed (section 2.7). The
//! grant stays: a logout ends sessions, not the offline access a person
//! gave.

use handoff_guard::SharedClock;

use crate::oidc::logout_token::{LogoutToken, LogoutTokenError};
use crate::oidc::{OidcClient, ProviderError};
use crate::store::{LogoutTarget, LogoutTokenStore, StoreError};

/// The provider, as back-channel logout uses it.
// Generic inside this crate only; see `flows::sign_in::Provider`.
#[allow(async_fn_in_trait)]
pub trait LogoutTokens {
    async fn backchannel_logout_enabled(&self) -> Result<bool, ProviderError>;
    /// The verified token, or why it is refused (`Ok`) or could not be
    /// checked (`Err`).
    async fn verify_logout_token(
        &self,
        jwt: &str,
    ) -> Result<LogoutToken, Result<LogoutTokenError, ProviderError>>;
}

impl LogoutTokens for OidcClient {
    async fn backchannel_logout_enabled(&self) -> Result<bool, ProviderError> {
        OidcClient::backchannel_logout_enabled(self).await
    }
    async fn verify_logout_token(
        &self,
        jwt: &str,
    ) -> Result<LogoutToken, Result<LogoutTokenError, ProviderError>> {
        OidcClient::verify_logout_token(self, jwt).await
    }
}

/// What back-channel logout needs.
pub struct BackChannelLogout<'a, P> {
    pub provider: &'a P,
    pub store: &'a dyn LogoutTokenStore,
    pub clock: &'a SharedClock,
}

#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error("back-channel logout is not enabled")]
    Disabled,
    #[error("{0}")]
    Unreadable(&'static str),
    #[error("logout token refused: {0}")]
    Refused(LogoutTokenError),
    #[error("the logout token's jti was seen before")]
    Replayed,
    #[error("the provider's metadata or keys are unavailable: {0}")]
    Provider(#[from] ProviderError),
    #[error("storage unavailable: {0}")]
    Store(#[from] StoreError),
}

/// Ends the sessions `logout_token` names; answers how many ended.
pub async fn end_sessions<P: LogoutTokens>(
    deps: &BackChannelLogout<'_, P>,
    logout_token: Result<String, &'static str>,
) -> Result<u64, LogoutError> {
    if !deps.provider.backchannel_logout_enabled().await? {
        return Err(LogoutError::Disabled);
    }
    let token = logout_token.map_err(LogoutError::Unreadable)?;
    let verified = deps
        .provider
        .verify_logout_token(&token)
        .await
        .map_err(|e| match e {
            Ok(refused) => LogoutError::Refused(refused),
            Err(unavailable) => LogoutError::Provider(unavailable),
        })?;
    let target = LogoutTarget {
        subject: verified.subject.as_deref(),
        provider_sid: verified.provider_sid.as_deref(),
    };
    let ended = deps
        .store
        .take_logout_token(
            &verified.jti,
            verified.remember_until,
            target,
            deps.clock.unix_seconds(),
        )
        .await?
        .ok_or(LogoutError::Replayed)?;
    tracing::info!(
        sessions = ended,
        by_sid = target.provider_sid.is_some(),
        by_sub = target.subject.is_some(),
        "sessions ended by the provider's back-channel logout"
    );
    Ok(ended)
}

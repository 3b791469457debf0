//! What the broker needs of the provider: a refresh and a revocation.
//! [`OidcClient`] is the one in service; the broker's tests bring one
//! that answers as they say, and counts.

use std::future::Future;
use std::pin::Pin;

use secrecy::SecretString;

use crate::oidc::{OidcClient, ProviderError, ProviderTokens, RefreshError};

pub type Answer<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait TokenProvider: Send + Sync {
    /// New tokens for `refresh_token`, narrowed to `narrowed_to` when
    /// given; `granted_scopes`: what they carry when the provider does not
    /// say and nothing narrower was asked.
    fn refresh<'a>(
        &'a self,
        refresh_token: &'a SecretString,
        narrowed_to: Option<&'a [String]>,
        granted_scopes: &'a [String],
    ) -> Answer<'a, Result<ProviderTokens, RefreshError>>;

    /// Revokes `refresh_token` at the provider; whether it has a
    /// revocation endpoint to send it to.
    fn revoke_refresh_token<'a>(
        &'a self,
        refresh_token: &'a SecretString,
    ) -> Answer<'a, Result<bool, ProviderError>>;
}

impl TokenProvider for OidcClient {
    fn refresh<'a>(
        &'a self,
        refresh_token: &'a SecretString,
        narrowed_to: Option<&'a [String]>,
        granted_scopes: &'a [String],
    ) -> Answer<'a, Result<ProviderTokens, RefreshError>> {
        Box::pin(OidcClient::refresh(
            self,
            refresh_token,
            narrowed_to,
            granted_scopes,
        ))
    }

    fn revoke_refresh_token<'a>(
        &'a self,
        refresh_token: &'a SecretString,
    ) -> Answer<'a, Result<bool, ProviderError>> {
        Box::pin(OidcClient::revoke_refresh_token(self, refresh_token))
    }
}

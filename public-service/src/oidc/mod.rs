//! The OpenID Connect relying party, through `openidconnect`: the façade
//! [`OidcClient`] the routes, the token broker and the admin commands use,
//! and the types they exchange with it. Its parts:
//!
//! - [`discovery`]: the provider's metadata, found once, and its keys, kept
//!   by the library's JWKS cache with its freshness rules.
//! - [`id_token_rules`]: what makes an ID token ours, without I/O.
//! - [`protocol`]: the calls to the provider (authorization request, code
//!   exchange, refresh, revocation, end-session URL, logout tokens).
//! - [`errors`]: what those calls end in, and its wording.
//! - [`config`] (the settings), [`logout_token`] (Back-Channel Logout
//!   tokens) and [`userinfo`].
//!
//! When the ID token lacks what the access policy needs (`email`,
//! `email_verified`, and `hd` if the policy uses hosted domains), UserInfo
//! fills the gaps ([`userinfo`]), as OpenID Connect Core 5.4 lets a
//! provider return scope claims from UserInfo only. The authorization
//! response's `iss` is checked as RFC 9207 says ([`OidcClient::check_response_issuer`]).

use std::sync::Arc;
use std::time::Duration;

use handoff_guard::SharedClock;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeVerifier, ProviderMetadata, RedirectUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::policy::Identity;

mod config;
mod discovery;
mod errors;
mod id_token_rules;
pub mod logout_token;
mod protocol;
pub mod userinfo;

pub use config::{ClientAuthMethod, IdTokenAlgorithm, OfflineAccess, ProviderSettings};
pub use discovery::{JWKS_DEFAULT_FRESH, JWKS_MAX_FRESH, JWKS_MIN_FRESH};
pub use errors::{ProviderError, RefreshError};

use discovery::{Discovered, Registration};

/// Discovery fields `CoreProviderMetadata` does not parse but sign-out needs.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct LogoutMetadata {
    pub revocation_endpoint: Option<Url>,
    pub end_session_endpoint: Option<Url>,
    /// RFC 9207: authorization responses carry `iss`.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// OpenID Connect Back-Channel Logout 1.0 section 2.1: the provider
    /// can post logout tokens to our `backchannel_logout_uri`.
    #[serde(default)]
    pub backchannel_logout_supported: Option<bool>,
    /// Section 2.1: its logout tokens (and ID tokens) carry `sid`.
    #[serde(default)]
    pub backchannel_logout_session_supported: Option<bool>,
}
impl AdditionalProviderMetadata for LogoutMetadata {}

pub type Metadata = ProviderMetadata<
    LogoutMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The client built from discovery: what [`userinfo::fetch`] asks with.
pub type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How one sign-in should ask the provider.
#[derive(Debug, Default, Clone)]
pub struct AuthorizationOptions {
    /// Scopes beyond the configured ones (incremental authorization).
    pub extra_scopes: Vec<String>,
    /// Ask for the consent screen: the only way to get a new refresh token
    /// from Google for a user who already consented.
    pub force_consent: bool,
    pub login_hint: Option<String>,
}

/// Tokens from the token endpoint; secrets stay wrapped.
pub struct ProviderTokens {
    pub access_token: SecretString,
    /// Seconds; `None` when the provider did not say.
    pub expires_in: Option<u64>,
    pub refresh_token: Option<SecretString>,
    /// The scopes granted, as the provider reported them (or as requested
    /// when it did not).
    pub scopes: Vec<String>,
}

/// A completed code exchange.
pub struct SignIn {
    pub identity: Identity,
    pub tokens: ProviderTokens,
    /// The provider's session id (the ID token's `sid`), which its
    /// back-channel logout tokens name.
    pub provider_sid: Option<String>,
}

/// Everything the login route needs to send the browser to the provider.
pub struct AuthorizationRequest {
    pub url: Url,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub pkce_verifier: PkceCodeVerifier,
}

/// Which of the claims the access policy looks at the ID token carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Present {
    pub email: bool,
    pub email_verified: bool,
    pub name: bool,
    pub hosted_domain: bool,
}

/// The relying party: one per service, shared by every request.
pub struct OidcClient {
    issuer: IssuerUrl,
    registration: Registration,
    scopes: Vec<String>,
    offline: OfflineAccess,
    extra_auth_params: Vec<(String, String)>,
    /// Every call to the provider, the key fetches included.
    http: reqwest::Client,
    /// Single flight: one caller discovers, the others wait for it; a
    /// failure leaves it empty for the next caller.
    discovered: tokio::sync::OnceCell<Discovered>,
    jwks_refetch_interval: Duration,
    clock: SharedClock,
    algorithms: Vec<IdTokenAlgorithm>,
    hosted_domain_needed: bool,
    /// `BACKCHANNEL_LOGOUT` is not `off`.
    backchannel_logout: bool,
}

impl OidcClient {
    pub fn new(
        settings: &ProviderSettings,
        redirect_url: &Url,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            // Following redirects on a back-channel call opens the door to SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(handoff_guard::login_service::POOL_IDLE_TIMEOUT)
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .build()?;
        Ok(Self {
            // Issuers are compared as strings: Google's has no trailing slash,
            // which `Url` would add.
            issuer: IssuerUrl::new(
                settings
                    .issuer_url
                    .as_str()
                    .trim_end_matches('/')
                    .to_owned(),
            )?,
            registration: Registration {
                client_id: ClientId::new(settings.client_id.clone()),
                client_secret: ClientSecret::new(settings.client_secret.expose_secret().to_owned()),
                redirect_url: RedirectUrl::from_url(redirect_url.clone()),
                auth_method: settings.auth_method,
            },
            scopes: settings.scopes.clone(),
            offline: settings.offline,
            extra_auth_params: settings.extra_auth_params.clone(),
            http,
            discovered: tokio::sync::OnceCell::new(),
            jwks_refetch_interval: settings.jwks_refetch_interval,
            clock,
            algorithms: settings.id_token_algorithms.clone(),
            hosted_domain_needed: settings.hosted_domain_needed,
            backchannel_logout: settings.backchannel_logout,
        })
    }

    pub fn is_discovered(&self) -> bool {
        self.discovered.initialized()
    }

    /// The provider metadata, discovering it first if needed. Its `jwks`
    /// is empty: the provider's keys are kept apart ([`discovery`]).
    pub async fn metadata(&self) -> Result<Arc<Metadata>, ProviderError> {
        Ok(self.discovered().await?.metadata.clone())
    }

    pub fn offline_access(&self) -> OfflineAccess {
        self.offline
    }

    /// The configured scopes followed by `extra` ones not already among
    /// them (in any spelling), as the operator wrote them.
    pub fn requested_scopes(&self, extra: &[String]) -> Vec<String> {
        let mut scopes = self.scopes.clone();
        for scope in extra {
            if !scopes.iter().any(|s| crate::scopes::same(s, scope)) {
                scopes.push(scope.clone());
            }
        }
        scopes
    }

    /// The scopes every sign-in asks for, as configured.
    pub fn configured_scopes(&self) -> &[String] {
        &self.scopes
    }

    async fn discovered(&self) -> Result<&Discovered, ProviderError> {
        self.discovered
            .get_or_try_init(|| {
                discovery::discover(
                    &self.issuer,
                    &self.http,
                    self.jwks_refetch_interval,
                    self.clock.clone(),
                )
            })
            .await
    }

    /// The ID token algorithms of the configuration the provider
    /// advertises.
    fn allowed_algorithms(&self, metadata: &Metadata) -> Vec<CoreJwsSigningAlgorithm> {
        let advertised = metadata.id_token_signing_alg_values_supported().as_slice();
        id_token_rules::allowed_algorithms(&self.algorithms, advertised)
    }
}

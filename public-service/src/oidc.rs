// Over 400 lines: the relying party is one state machine over openidconnect (discovery, auth URL, exchange, ID-token rules, refresh, revocation); its types live in oidc/config.rs, UserInfo in oidc/userinfo.rs.
//! The OpenID Connect relying party: discovery, the authorization URL, the
//! code exchange and id_token validation, all through `openidconnect`.
//!
//! Discovery happens at start when the provider answers, otherwise on first
//! use (a provider outage at boot must not crash-loop the service). The
//! provider's JWKS is cached with the metadata and re-fetched when an
//! id_token names a `kid` we do not know, and before use once the copy is
//! older than the JWKS answer's `Cache-Control: max-age` (clamped to
//! [`JWKS_MIN_FRESH`]..one day, [`JWKS_DEFAULT_FRESH`] without one), so a
//! key the provider retired stops counting without a restart; fetches
//! happen at most once per interval either way.
//!
//! What `openidconnect` 4.0 leaves to the caller is done here: an ID token
//! is accepted only if signed with an algorithm both on
//! `OIDC_ID_TOKEN_ALGORITHMS` (RS256 by default; never `none` or an HMAC)
//! and advertised by the provider, `iat` must not lie in the future, `azp`
//! must be our client id when present (and present when there are several
//! audiences), and `at_hash` must match when present.
//!
//! When the ID token lacks what the access policy needs (`email`,
//! `email_verified`, and `hd` if the policy uses hosted domains), UserInfo
//! fills the gaps ([`userinfo`]), as OpenID Connect Core 5.4 lets a
//! provider return scope claims from UserInfo only. The authorization
//! response's `iss` is checked as RFC 9207 says ([`OidcClient::check_response_issuer`]).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use handoff_guard::SharedClock;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType,
    CoreClient, CoreClientAuthMethod, CoreGrantType, CoreIdToken, CoreIdTokenClaims,
    CoreIdTokenVerifier, CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType,
    CoreSubjectIdentifierType, CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, AdditionalProviderMetadata, AuthType, AuthorizationCode,
    ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, LoginHint, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, ProviderMetadata, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    SignatureVerificationError, TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::policy::Identity;

/// Tolerated clock skew for `iat` in the future.
const IAT_FUTURE_LEEWAY: Duration = Duration::from_secs(60);

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

mod config;
pub mod logout_token;
pub mod userinfo;

pub use config::{ClientAuthMethod, IdTokenAlgorithm, OfflineAccess, ProviderSettings};

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

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    #[error("provider discovery failed: {0}")]
    Discovery(String),
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the provider refused the authorization code: {0}")]
    CodeRejected(String),
    #[error("the provider answered something unexpected: {0}")]
    BadResponse(String),
    #[error("the id_token is invalid: {0}")]
    InvalidIdToken(String),
    /// RFC 9207: the authorization response names another issuer, or none
    /// though the provider promised one (a mix-up attack, or a misrouted
    /// response).
    #[error("the authorization response's issuer is wrong: {0}")]
    WrongResponseIssuer(&'static str),
}

/// What a refresh at the provider can end in, besides new tokens.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The grant is gone: revoked by the user, expired, or rotated away.
    #[error("the provider answered invalid_grant")]
    InvalidGrant,
    #[error("{0}")]
    Provider(#[from] ProviderError),
}

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

pub struct OidcClient {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect_url: RedirectUrl,
    auth_method: ClientAuthMethod,
    scopes: Vec<String>,
    offline: OfflineAccess,
    extra_auth_params: Vec<(String, String)>,
    http: reqwest::Client,
    metadata: RwLock<Option<Arc<Metadata>>>,
    /// The client built from `metadata`, with the metadata it was built from.
    client: RwLock<Option<(Arc<Metadata>, Arc<DiscoveredClient>)>>,
    // Single flight for discovery and JWKS fetches; holds the time of the
    // last re-fetch caused by an unknown `kid` (discovery does not count, so
    // a rotation right after start is picked up at once).
    refresh: tokio::sync::Mutex<Option<Instant>>,
    jwks_refetch_interval: Duration,
    /// Until when (clock seconds) the cached JWKS counts as fresh.
    jwks_fresh_until: std::sync::atomic::AtomicU64,
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
            client_id: ClientId::new(settings.client_id.clone()),
            client_secret: ClientSecret::new(settings.client_secret.expose_secret().to_owned()),
            redirect_url: RedirectUrl::from_url(redirect_url.clone()),
            auth_method: settings.auth_method,
            scopes: settings.scopes.clone(),
            offline: settings.offline,
            extra_auth_params: settings.extra_auth_params.clone(),
            http,
            metadata: RwLock::new(None),
            client: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(None),
            jwks_refetch_interval: settings.jwks_refetch_interval,
            jwks_fresh_until: std::sync::atomic::AtomicU64::new(0),
            clock,
            algorithms: settings.id_token_algorithms.clone(),
            hosted_domain_needed: settings.hosted_domain_needed,
            backchannel_logout: settings.backchannel_logout,
        })
    }

    pub fn is_discovered(&self) -> bool {
        self.cached_metadata().is_some()
    }

    /// The provider metadata, discovering it first if needed.
    pub async fn metadata(&self) -> Result<Arc<Metadata>, ProviderError> {
        if let Some(metadata) = self.cached_metadata() {
            return Ok(metadata);
        }
        let _single_flight = self.refresh.lock().await;
        if let Some(metadata) = self.cached_metadata() {
            return Ok(metadata);
        }
        let metadata = Metadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| ProviderError::Discovery(describe_discovery_error(&e)))?;
        let keys = without_short_rsa_keys(metadata.jwks());
        let metadata = Arc::new(metadata.set_jwks(keys));
        *self.write_metadata() = Some(metadata.clone());
        // Discovery's copy of the keys came without its headers.
        self.keys_fresh_for(JWKS_MIN_FRESH);
        tracing::info!(issuer = %self.issuer.as_str(), keys = metadata.jwks().keys().len(), "provider discovered");
        Ok(metadata)
    }

    pub fn offline_access(&self) -> OfflineAccess {
        self.offline
    }

    pub async fn authorization_request(
        &self,
        options: &AuthorizationOptions,
    ) -> Result<AuthorizationRequest, ProviderError> {
        let client = self.client(&self.metadata().await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = CsrfToken::new(service_kit::random::url_safe_token(32));
        let nonce = Nonce::new(service_kit::random::url_safe_token(32));
        let (state_for_url, nonce_for_url) = (state.clone(), nonce.clone());
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || state_for_url,
                move || nonce_for_url,
            )
            .set_pkce_challenge(challenge);
        for scope in self.requested_scopes(&options.extra_scopes) {
            if scope != "openid" {
                request = request.add_scope(Scope::new(scope));
            }
        }
        match self.offline {
            OfflineAccess::Google => {
                request = request
                    .add_extra_param("access_type", "offline")
                    .add_extra_param("include_granted_scopes", "true");
            }
            OfflineAccess::OfflineAccessScope => {
                request = request.add_scope(Scope::new("offline_access".into()));
            }
            OfflineAccess::Off => {}
        }
        for (name, value) in &self.extra_auth_params {
            request = request.add_extra_param(name.as_str(), value.as_str());
        }
        if options.force_consent {
            request = request.add_prompt(CoreAuthPrompt::Consent);
        }
        if let Some(hint) = &options.login_hint {
            request = request.set_login_hint(LoginHint::new(hint.clone()));
        }
        let (url, _, _) = request.url();
        Ok(AuthorizationRequest {
            url,
            state,
            nonce,
            pkce_verifier: verifier,
        })
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

    /// Exchanges the code and returns the identity from the validated
    /// id_token with the tokens that came with it.
    pub async fn exchange(
        &self,
        code: String,
        pkce_verifier: PkceCodeVerifier,
        nonce: &Nonce,
        requested_scopes: &[String],
    ) -> Result<SignIn, ProviderError> {
        let mut metadata = self.metadata().await?;
        if self.jwks_expired() {
            // A failed or skipped re-fetch leaves the copy we have: an
            // outage of the key server does not stop sign-ins.
            match self.refresh_jwks("its max-age passed").await {
                Ok(true) => metadata = self.metadata().await?,
                Ok(false) => {}
                Err(e) => tracing::warn!(reason = %e, "using the provider keys we have"),
            }
        }
        let client = self.client(&metadata);
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| ProviderError::BadResponse(e.to_string()))?
            .set_pkce_verifier(pkce_verifier)
            .request_async(&self.http)
            .await
            .map_err(classify_token_error)?;
        let (identity, complete) = match self.validate(&client, &response, nonce) {
            Err(ProviderError::InvalidIdToken(reason)) if reason == NO_MATCHING_KEY => {
                // The provider may have rotated its keys: look again, once.
                if !self.refresh_jwks("an unknown kid").await? {
                    return Err(ProviderError::InvalidIdToken(reason));
                }
                let client = self.client(&self.metadata().await?);
                self.validate(&client, &response, nonce)?
            }
            other => other?,
        };
        let identity = match (complete, client.user_info_url().is_some()) {
            (IdTokenClaims::Complete, _) | (_, false) => identity,
            (IdTokenClaims::Lacking(present), true) => {
                let extra =
                    userinfo::fetch(&client, &self.http, response.access_token(), &identity)
                        .await?;
                userinfo::merge(identity, present, extra)
            }
        };
        Ok(SignIn {
            identity,
            tokens: tokens_of(&response, requested_scopes),
            provider_sid: response.id_token().and_then(provider_session_id),
        })
    }

    /// A new access token from a refresh token; with `narrowed_to`, one
    /// carrying only those scopes (each granted): RFC 6749 §6 lets a
    /// refresh ask for a `scope` narrower than the grant's. Google's own
    /// client library sends it so, documenting that "all scopes must be
    /// authorized for the refresh token" (`refresh_grant` in
    /// googleapis/google-auth-library-python, `google/oauth2/_client.py`);
    /// Google's guide lists only the required parameters
    /// (<https://developers.google.com/identity/protocols/oauth2/web-server#offline>).
    /// `granted_scopes`: what the token carries when the provider does
    /// not say and nothing narrower was asked.
    pub async fn refresh(
        &self,
        refresh_token: &SecretString,
        narrowed_to: Option<&[String]>,
        granted_scopes: &[String],
    ) -> Result<ProviderTokens, RefreshError> {
        let metadata = self.metadata().await?;
        let client = self.client(&metadata);
        let refresh_token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let mut request = client
            .exchange_refresh_token(&refresh_token)
            .map_err(|e| ProviderError::BadResponse(e.to_string()))?;
        for scope in narrowed_to.unwrap_or_default() {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let response =
            request
                .request_async(&self.http)
                .await
                .map_err(|e| match classify_token_error(e) {
                    ProviderError::CodeRejected(_) => RefreshError::InvalidGrant,
                    other => RefreshError::Provider(other),
                })?;
        Ok(tokens_of(&response, narrowed_to.unwrap_or(granted_scopes)))
    }

    /// Revokes a refresh token at the provider's revocation endpoint
    /// (RFC 7009), when discovery named one. Returns whether a revocation
    /// was sent. The endpoint must be HTTPS, except on a loopback host
    /// (local runs and tests).
    pub async fn revoke_refresh_token(
        &self,
        refresh_token: &SecretString,
    ) -> Result<bool, ProviderError> {
        let metadata = self.metadata().await?;
        let Some(endpoint) = metadata.additional_metadata().revocation_endpoint.clone() else {
            return Ok(false);
        };
        let loopback = matches!(
            endpoint.host_str(),
            Some("localhost" | "127.0.0.1" | "[::1]")
        );
        if endpoint.scheme() != "https" && !loopback {
            return Err(ProviderError::BadResponse(
                "the revocation endpoint is not HTTPS".into(),
            ));
        }
        let mut form = vec![
            ("token", refresh_token.expose_secret()),
            ("token_type_hint", "refresh_token"),
        ];
        let mut request = self.http.post(endpoint);
        match self.auth_method {
            ClientAuthMethod::ClientSecretBasic => {
                request = request.basic_auth(
                    form_encode(self.client_id.as_str()),
                    Some(form_encode(self.client_secret.secret())),
                );
            }
            ClientAuthMethod::ClientSecretPost => {
                form.push(("client_id", self.client_id.as_str()));
                form.push(("client_secret", self.client_secret.secret()));
            }
        }
        let response = request.form(&form).send().await.map_err(|e| {
            ProviderError::Unreachable(if e.is_timeout() {
                "timed out".into()
            } else {
                "request failed".into()
            })
        })?;
        #[derive(Deserialize)]
        struct ErrorBody {
            error: String,
        }
        match response.status().as_u16() {
            200 => Ok(true),
            // Some providers (Google among them) answer 400 `invalid_token`
            // for a token that is already dead: the outcome we want.
            400 => match response.json::<ErrorBody>().await {
                Ok(body) if body.error == "invalid_token" => Ok(true),
                _ => Err(ProviderError::BadResponse("revocation refused".into())),
            },
            status => Err(ProviderError::BadResponse(format!(
                "revocation answered {status}"
            ))),
        }
    }

    /// The provider's end-session URL sending the browser back to
    /// `post_logout_redirect` with `state`, when discovery named an
    /// end-session endpoint (OpenID Connect RP-Initiated Logout 1.0).
    /// Providers match `post_logout_redirect_uri` exactly against the
    /// registered ones, so it carries no query of its own: what the page
    /// needs travels in `state`, which comes back unchanged.
    pub async fn end_session_url(&self, post_logout_redirect: &Url, state: &str) -> Option<Url> {
        let metadata = self.metadata().await.ok()?;
        let mut url = metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()?;
        url.query_pairs_mut()
            .append_pair("client_id", self.client_id.as_str())
            .append_pair("post_logout_redirect_uri", post_logout_redirect.as_str())
            .append_pair("state", state);
        Some(url)
    }

    /// RFC 9207: an authorization response's `iss` must be our issuer, and
    /// must be there when the provider says it sends one
    /// (`authorization_response_iss_parameter_supported`).
    pub async fn check_response_issuer(&self, iss: Option<&str>) -> Result<(), ProviderError> {
        let metadata = self.metadata().await?;
        let promised = metadata
            .additional_metadata()
            .authorization_response_iss_parameter_supported
            == Some(true);
        match iss {
            // Exact string comparison (RFC 9207 section 2.4).
            Some(iss) if iss == self.issuer.as_str() => Ok(()),
            Some(_) => Err(ProviderError::WrongResponseIssuer("another issuer")),
            None if promised => Err(ProviderError::WrongResponseIssuer("missing")),
            None => Ok(()),
        }
    }

    /// Whether logout tokens are taken: the provider advertises
    /// `backchannel_logout_supported` (Back-Channel Logout 1.0 section 2.1;
    /// Google does not) and `BACKCHANNEL_LOGOUT` is not `off`.
    pub async fn backchannel_logout_enabled(&self) -> Result<bool, ProviderError> {
        if !self.backchannel_logout {
            return Ok(false);
        }
        let metadata = self.metadata().await?;
        Ok(metadata.additional_metadata().backchannel_logout_supported == Some(true))
    }

    /// Verifies a logout token with the keys and algorithms ID tokens are
    /// verified with ([`logout_token`]), re-fetching the JWKS as for ID
    /// tokens: once its max-age passed, and on an unknown `kid` at most
    /// once per interval (so forged tokens cannot make us hammer the
    /// provider). `Err(Ok(_))`: the token is refused; `Err(Err(_))`: the
    /// provider could not be asked.
    pub async fn verify_logout_token(
        &self,
        jwt: &str,
    ) -> Result<logout_token::LogoutToken, Result<logout_token::LogoutTokenError, ProviderError>>
    {
        let mut metadata = self.metadata().await.map_err(Err)?;
        if self.jwks_expired() {
            match self.refresh_jwks("its max-age passed").await {
                Ok(true) => metadata = self.metadata().await.map_err(Err)?,
                Ok(false) => {}
                Err(e) => tracing::warn!(reason = %e, "using the provider keys we have"),
            }
        }
        let check = |metadata: &Metadata| {
            logout_token::verify(
                jwt,
                &logout_token::Expected {
                    keys: metadata.jwks(),
                    algorithms: &self.allowed_algorithms(),
                    issuer: self.issuer.as_str(),
                    client_id: self.client_id.as_str(),
                    now: self.clock.unix_seconds(),
                },
            )
        };
        match check(metadata.as_ref()) {
            Err(logout_token::LogoutTokenError::NoMatchingKey) => {
                if !self
                    .refresh_jwks("an unknown kid in a logout token")
                    .await
                    .map_err(Err)?
                {
                    return Err(Ok(logout_token::LogoutTokenError::NoMatchingKey));
                }
                let refreshed = self.metadata().await.map_err(Err)?;
                check(refreshed.as_ref()).map_err(Ok)
            }
            other => other.map_err(Ok),
        }
    }

    fn validate(
        &self,
        client: &DiscoveredClient,
        response: &CoreTokenResponse,
        nonce: &Nonce,
    ) -> Result<(Identity, IdTokenClaims), ProviderError> {
        let invalid = |reason: String| ProviderError::InvalidIdToken(reason);
        let id_token = response
            .id_token()
            .ok_or_else(|| invalid("the token response has no id_token".into()))?;
        let verifier = self.id_token_verifier(client);
        let claims = id_token
            .claims(&verifier, nonce)
            .map_err(|e| invalid(describe_claims_error(&e)))?;
        self.check_authorized_party(claims).map_err(invalid)?;
        check_access_token_hash(id_token, &verifier, claims, response).map_err(invalid)?;
        let identity = Identity {
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            hosted_domain: hosted_domain(id_token),
        };
        let present = Present {
            email: identity.email.is_some(),
            email_verified: claims.email_verified().is_some(),
            name: identity.name.is_some(),
            hosted_domain: identity.hosted_domain.is_some(),
        };
        let complete = present.email
            && present.email_verified
            && (present.hosted_domain || !self.hosted_domain_needed);
        let claims = match complete {
            true => IdTokenClaims::Complete,
            false => IdTokenClaims::Lacking(present),
        };
        Ok((identity, claims))
    }

    fn id_token_verifier<'a>(&self, client: &'a DiscoveredClient) -> CoreIdTokenVerifier<'a> {
        let now: DateTime<Utc> = self.clock.now().into();
        client
            .id_token_verifier()
            // The provider's advertised algorithms, only those on the allowlist.
            .set_allowed_algs(self.allowed_algorithms())
            .set_time_fn(move || now)
            .set_issue_time_verifier_fn(move |iat| {
                let latest = now + chrono::Duration::seconds(IAT_FUTURE_LEEWAY.as_secs() as i64);
                if iat > latest {
                    Err(format!("issued in the future ({iat})"))
                } else {
                    Ok(())
                }
            })
    }

    /// The allowlist's algorithms the provider advertises
    /// (`id_token_signing_alg_values_supported`), in the allowlist's order.
    fn allowed_algorithms(&self) -> Vec<CoreJwsSigningAlgorithm> {
        let advertised = self
            .cached_metadata()
            .map(|m| m.id_token_signing_alg_values_supported().clone())
            .unwrap_or_default();
        self.algorithms
            .iter()
            .map(|alg| core_algorithm(*alg))
            .filter(|alg| advertised.contains(alg))
            .collect()
    }

    fn check_authorized_party(&self, claims: &CoreIdTokenClaims) -> Result<(), String> {
        let azp = claims.authorized_party().map(|azp| azp.as_str());
        check_authorized_party(self.client_id.as_str(), azp, claims.audiences().len())
            .map_err(str::to_owned)
    }

    /// Re-fetches the JWKS unless that happened within the interval:
    /// `Ok(false)` when it did. A failed fetch is the provider's outage,
    /// not a verdict on the token. The answer's `Cache-Control: max-age`
    /// says how long the new copy counts as fresh (read as the app reads
    /// the JWKS it fetches, [`handoff_guard::login_service::cache_control_max_age`]).
    async fn refresh_jwks(&self, why: &'static str) -> Result<bool, ProviderError> {
        let mut last_fetch = self.refresh.lock().await;
        if last_fetch.is_some_and(|t| t.elapsed() < self.jwks_refetch_interval) {
            return Ok(false);
        }
        *last_fetch = Some(Instant::now());
        let Some(metadata) = self.cached_metadata() else {
            return Ok(false);
        };
        match self.fetch_jwks(metadata.jwks_uri().url()).await {
            Ok((jwks, max_age)) => {
                tracing::info!(
                    keys = jwks.keys().len(),
                    reason = why,
                    "provider JWKS re-fetched"
                );
                let fresh_for = max_age
                    .unwrap_or(JWKS_DEFAULT_FRESH)
                    .clamp(JWKS_MIN_FRESH, JWKS_MAX_FRESH);
                let updated = Metadata::clone(&metadata).set_jwks(jwks);
                *self.write_metadata() = Some(Arc::new(updated));
                self.keys_fresh_for(fresh_for);
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(reason = %e, "provider JWKS re-fetch failed");
                Err(e)
            }
        }
    }

    async fn fetch_jwks(
        &self,
        url: &Url,
    ) -> Result<(CoreJsonWebKeySet, Option<Duration>), ProviderError> {
        let unreachable = |e: reqwest::Error| {
            ProviderError::Unreachable(format!(
                "JWKS: {}",
                handoff_guard::login_service::describe_http_error(&e)
            ))
        };
        let response = self
            .http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(ProviderError::Unreachable(format!(
                "JWKS: status {}",
                response.status()
            )));
        }
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(handoff_guard::login_service::cache_control_max_age);
        let body = response.bytes().await.map_err(unreachable)?;
        let jwks = serde_json::from_slice(&body)
            .map_err(|e| ProviderError::BadResponse(format!("JWKS: {e}")))?;
        Ok((without_short_rsa_keys(&jwks), max_age))
    }

    fn keys_fresh_for(&self, fresh_for: Duration) {
        self.jwks_fresh_until.store(
            self.clock.unix_seconds() + fresh_for.as_secs(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    fn jwks_expired(&self) -> bool {
        self.clock.unix_seconds()
            >= self
                .jwks_fresh_until
                .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The client for `metadata`, built once per discovered (or refreshed)
    /// metadata: building it clones the whole document, key set included,
    /// which is too much work for every sign-in.
    fn client(&self, metadata: &Arc<Metadata>) -> Arc<DiscoveredClient> {
        if let Some((built_for, client)) = self
            .client
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
        {
            if Arc::ptr_eq(built_for, metadata) {
                return client.clone();
            }
        }
        let client = Arc::new(self.build_client(metadata));
        *self
            .client
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Some((metadata.clone(), client.clone()));
        client
    }

    fn build_client(&self, metadata: &Metadata) -> DiscoveredClient {
        let client = CoreClient::from_provider_metadata(
            metadata.clone(),
            self.client_id.clone(),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect_url.clone());
        match self.auth_method {
            ClientAuthMethod::ClientSecretBasic => client.set_auth_type(AuthType::BasicAuth),
            ClientAuthMethod::ClientSecretPost => client.set_auth_type(AuthType::RequestBody),
        }
    }

    fn cached_metadata(&self) -> Option<Arc<Metadata>> {
        self.metadata
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn write_metadata(&self) -> std::sync::RwLockWriteGuard<'_, Option<Arc<Metadata>>> {
        self.metadata
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

const NO_MATCHING_KEY: &str = "no published key matches the token";

/// The least time a fetched JWKS counts as fresh, whatever its headers
/// say (`no-store` included): the provider's keys are not fetched for
/// every sign-in.
pub const JWKS_MIN_FRESH: Duration = Duration::from_secs(60);
/// How long a JWKS answer without `max-age` counts as fresh.
pub const JWKS_DEFAULT_FRESH: Duration = Duration::from_secs(3600);
/// The longest, whatever its headers say (Google sends a few hours; its
/// <https://developers.google.com/identity/openid-connect/openid-connect#validatinganidtoken>
/// guide says the keys may be cached per the cache directives of the
/// response).
pub const JWKS_MAX_FRESH: Duration = Duration::from_secs(86_400);

/// The provider's keys less every RSA key whose modulus is under 2048 bits
/// or cannot be read, each named in a warning. `openidconnect` checks RSA
/// signatures with RustCrypto, which takes any length, and the same key set
/// checks logout tokens: dropped here, a 1024-bit key the provider
/// publishes verifies no token (docs/security.md, "RSA keys under 2048
/// bits"), as in `handoff_guard::jwks`.
fn without_short_rsa_keys(jwks: &CoreJsonWebKeySet) -> CoreJsonWebKeySet {
    let keys = jwks
        .keys()
        .iter()
        .filter(|key| {
            let Ok(serde_json::Value::Object(jwk)) = serde_json::to_value(key) else {
                return true;
            };
            if jwk.get("kty").and_then(serde_json::Value::as_str) != Some("RSA") {
                return true;
            }
            let bits = jwk
                .get("n")
                .and_then(serde_json::Value::as_str)
                .and_then(handoff_guard::login_service::rsa_modulus_bits_of_jwk);
            if bits.is_some_and(|bits| bits >= handoff_guard::login_service::MIN_RSA_MODULUS_BITS) {
                return true;
            }
            tracing::warn!(
                kid = jwk
                    .get("kid")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("(none)"),
                bits = bits.unwrap_or(0),
                "a provider key was left out: RSA keys under 2048 bits verify nothing"
            );
            false
        })
        .cloned()
        .collect();
    CoreJsonWebKeySet::new(keys)
}

/// The `azp` rule of our ID tokens (OpenID Connect Core 3.1.3.7): when
/// present it must be our client id, and with several audiences it must be
/// present. Logout tokens share it: Back-Channel Logout 1.0 section 2.6
/// validates their `aud` as an ID token's.
fn check_authorized_party(
    client_id: &str,
    azp: Option<&str>,
    audiences: usize,
) -> Result<(), &'static str> {
    match azp {
        Some(azp) if azp != client_id => Err("azp is another client"),
        None if audiences > 1 => Err("several audiences and no azp"),
        _ => Ok(()),
    }
}

fn core_algorithm(alg: IdTokenAlgorithm) -> CoreJwsSigningAlgorithm {
    match alg {
        IdTokenAlgorithm::Rs256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        IdTokenAlgorithm::Es256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        IdTokenAlgorithm::Ps256 => CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        IdTokenAlgorithm::EdDsa => CoreJwsSigningAlgorithm::EdDsa,
    }
}

/// Which of the claims the access policy looks at the ID token carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Present {
    pub email: bool,
    pub email_verified: bool,
    pub name: bool,
    pub hosted_domain: bool,
}

/// Whether the ID token is enough for the access policy.
enum IdTokenClaims {
    Complete,
    Lacking(Present),
}

/// `client_secret_basic` form-encodes id and secret before Base64 (RFC 6749 §2.3.1).
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn tokens_of(response: &CoreTokenResponse, requested_scopes: &[String]) -> ProviderTokens {
    let scopes = match response.scopes() {
        Some(granted) => granted.iter().map(|s| s.as_str().to_owned()).collect(),
        None => requested_scopes.to_vec(),
    };
    ProviderTokens {
        access_token: SecretString::from(response.access_token().secret().clone()),
        expires_in: response.expires_in().map(|d| d.as_secs()),
        refresh_token: response
            .refresh_token()
            .map(|t| SecretString::from(t.secret().clone())),
        scopes,
    }
}

fn check_access_token_hash(
    id_token: &CoreIdToken,
    verifier: &CoreIdTokenVerifier<'_>,
    claims: &CoreIdTokenClaims,
    response: &CoreTokenResponse,
) -> Result<(), String> {
    let Some(expected) = claims.access_token_hash() else {
        return Ok(());
    };
    let alg = id_token
        .signing_alg()
        .map_err(|_| "no signing algorithm".to_owned())?;
    let key = id_token
        .signing_key(verifier)
        .map_err(|_| "no signing key".to_owned())?;
    let actual = AccessTokenHash::from_token(response.access_token(), alg, key)
        .map_err(|_| "at_hash cannot be computed".to_owned())?;
    if actual != *expected {
        return Err("at_hash does not match the access token".into());
    }
    Ok(())
}

/// Google's `hd` claim, read from the payload of an id_token whose
/// signature and claims were already verified.
fn hosted_domain(id_token: &CoreIdToken) -> Option<String> {
    #[derive(Deserialize)]
    struct Hd {
        hd: Option<String>,
    }
    let jwt = id_token.to_string();
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Hd>(&bytes).ok()?.hd
}

/// The `sid` claim (OpenID Connect Back-Channel Logout 1.0 section 2.1)
/// of an ID token whose signature and claims were already verified.
fn provider_session_id(id_token: &CoreIdToken) -> Option<String> {
    #[derive(Deserialize)]
    struct Sid {
        sid: Option<String>,
    }
    let jwt = id_token.to_string();
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let sid = serde_json::from_slice::<Sid>(&bytes).ok()?.sid?;
    // The column holds what a logout token may name (255 characters at most).
    (!sid.is_empty() && sid.len() <= 255).then_some(sid)
}

fn describe_claims_error(e: &ClaimsVerificationError) -> String {
    match e {
        ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        ) => NO_MATCHING_KEY.to_owned(),
        ClaimsVerificationError::SignatureVerification(inner) => format!("signature: {inner}"),
        ClaimsVerificationError::Expired(_) => "expired or issued at a bad time".into(),
        ClaimsVerificationError::InvalidAudience(_) => "wrong audience".into(),
        ClaimsVerificationError::InvalidIssuer(_) => "wrong issuer".into(),
        ClaimsVerificationError::InvalidNonce(_) => "wrong nonce".into(),
        ClaimsVerificationError::InvalidSubject(_) => "bad subject".into(),
        other => format!("claims: {other}"),
    }
}

type TokenError = RequestTokenError<
    openidconnect::HttpClientError<reqwest::Error>,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
>;

fn classify_token_error(e: TokenError) -> ProviderError {
    use openidconnect::core::CoreErrorResponseType as Kind;
    match e {
        RequestTokenError::ServerResponse(response) => match response.error() {
            Kind::InvalidGrant => ProviderError::CodeRejected("invalid_grant".into()),
            Kind::InvalidClient | Kind::UnauthorizedClient => {
                ProviderError::BadResponse("the provider refused our client credentials".into())
            }
            Kind::Extension(code)
                if code == "temporarily_unavailable" || code == "server_error" =>
            {
                ProviderError::Unreachable(format!("provider error {code}"))
            }
            other => ProviderError::BadResponse(format!("provider error {}", other.as_ref())),
        },
        RequestTokenError::Request(inner) => {
            ProviderError::Unreachable(describe_http_error(&inner))
        }
        // The body of an unparsable response is never logged: it may hold tokens.
        RequestTokenError::Parse(_, _) => {
            ProviderError::BadResponse("unparsable token response".into())
        }
        RequestTokenError::Other(_) => {
            ProviderError::BadResponse("unexpected token response".into())
        }
    }
}

fn describe_http_error(e: &openidconnect::HttpClientError<reqwest::Error>) -> String {
    match e {
        openidconnect::HttpClientError::Reqwest(inner) if inner.is_timeout() => "timed out".into(),
        openidconnect::HttpClientError::Reqwest(inner) if inner.is_connect() => {
            "connection failed".into()
        }
        _ => "request failed".into(),
    }
}

fn describe_discovery_error(
    e: &openidconnect::DiscoveryError<openidconnect::HttpClientError<reqwest::Error>>,
) -> String {
    match e {
        openidconnect::DiscoveryError::Request(inner) => describe_http_error(inner),
        openidconnect::DiscoveryError::Response(status, _, _) => format!("status {status}"),
        openidconnect::DiscoveryError::Parse(_) => "unparsable document".into(),
        openidconnect::DiscoveryError::Validation(reason) => format!("invalid document: {reason}"),
        _ => "failed".into(),
    }
}

//! The calls to the provider: the authorization request, the code
//! exchange (its ID token checked by [`super::id_token_rules`] against the
//! keys [`super::discovery`] keeps), refresh, revocation (RFC 7009), the
//! end-session URL (RP-Initiated Logout 1.0), the authorization response's
//! `iss` (RFC 9207) and back-channel logout tokens. Each goes through the
//! one HTTP client: no redirects, `PROVIDER_TIMEOUT`.

use chrono::{DateTime, Utc};
use openidconnect::core::{CoreAuthPrompt, CoreAuthenticationFlow, CoreTokenResponse};
use openidconnect::{
    AuthorizationCode, CsrfToken, LoginHint, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RefreshToken, Scope,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::discovery::Registration;
use super::errors::{classify_token_error, jwks_unavailable, NO_MATCHING_KEY};
use super::id_token_rules::{self, ForPolicy, Verified};
use super::{
    logout_token, userinfo, AuthorizationOptions, AuthorizationRequest, ClientAuthMethod,
    OfflineAccess, OidcClient, ProviderError, ProviderTokens, RefreshError, SignIn,
};

impl OidcClient {
    pub async fn authorization_request(
        &self,
        options: &AuthorizationOptions,
    ) -> Result<AuthorizationRequest, ProviderError> {
        let client = self.discovered().await?.any_client(&self.registration);
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

    /// Exchanges the code and returns the identity from the validated
    /// id_token with the tokens that came with it.
    pub async fn exchange(
        &self,
        code: String,
        pkce_verifier: PkceCodeVerifier,
        nonce: &Nonce,
        requested_scopes: &[String],
    ) -> Result<SignIn, ProviderError> {
        let discovered = self.discovered().await?;
        let response = discovered
            .any_client(&self.registration)
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| ProviderError::BadResponse(e.to_string()))?
            .set_pkce_verifier(pkce_verifier)
            .request_async(&self.http)
            .await
            .map_err(classify_token_error)?;
        let expected = id_token_rules::Expected {
            client_id: &self.registration.client_id,
            client_secret: &self.registration.client_secret,
            issuer: &self.issuer,
            algorithms: self.allowed_algorithms(&discovered.metadata),
            nonce,
            now: DateTime::<Utc>::from(self.clock.now()),
            hosted_domain_needed: self.hosted_domain_needed,
        };
        // Stale keys are fetched again first; an unknown `kid` (the
        // provider may have rotated its keys) is looked for once more.
        let verdict = discovered
            .keys
            .find(
                |keys| match id_token_rules::verify(&response, keys, &expected) {
                    Err(reason) if reason == NO_MATCHING_KEY => None,
                    verdict => Some((keys.clone(), verdict)),
                },
            )
            .await
            .map_err(jwks_unavailable)?;
        let (keys, verified) = match verdict {
            Some((keys, Ok(verified))) => (keys, verified),
            Some((_, Err(reason))) => return Err(ProviderError::InvalidIdToken(reason)),
            None => return Err(ProviderError::InvalidIdToken(NO_MATCHING_KEY.into())),
        };
        let Verified {
            identity,
            provider_sid,
            for_policy,
        } = verified;
        let client = discovered.client(&keys, &self.registration);
        let identity = match (for_policy, client.user_info_url().is_some()) {
            (ForPolicy::Complete, _) | (_, false) => identity,
            (ForPolicy::Lacking(present), true) => {
                let extra =
                    userinfo::fetch(&client, &self.http, response.access_token(), &identity)
                        .await?;
                userinfo::merge(identity, present, extra)
            }
        };
        Ok(SignIn {
            identity,
            tokens: tokens_of(&response, requested_scopes),
            provider_sid,
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
        let client = self.discovered().await?.any_client(&self.registration);
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
        let Registration {
            client_id,
            client_secret,
            auth_method,
            ..
        } = &self.registration;
        match auth_method {
            ClientAuthMethod::ClientSecretBasic => {
                request = request.basic_auth(
                    form_encode(client_id.as_str()),
                    Some(form_encode(client_secret.secret())),
                );
            }
            ClientAuthMethod::ClientSecretPost => {
                form.push(("client_id", client_id.as_str()));
                form.push(("client_secret", client_secret.secret()));
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
            .append_pair("client_id", self.registration.client_id.as_str())
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
    /// verified with ([`logout_token`]), the keys fetched again as for ID
    /// tokens: once their max-age passed, and on an unknown `kid` at most
    /// once per interval (so forged tokens cannot make us hammer the
    /// provider). `Err(Ok(_))`: the token is refused; `Err(Err(_))`: the
    /// provider could not be asked.
    pub async fn verify_logout_token(
        &self,
        jwt: &str,
    ) -> Result<logout_token::LogoutToken, Result<logout_token::LogoutTokenError, ProviderError>>
    {
        let discovered = self.discovered().await.map_err(Err)?;
        let algorithms = self.allowed_algorithms(&discovered.metadata);
        let now = self.clock.unix_seconds();
        let verdict = discovered
            .keys
            .find(|keys| {
                let expected = logout_token::Expected {
                    keys,
                    algorithms: &algorithms,
                    issuer: self.issuer.as_str(),
                    client_id: self.registration.client_id.as_str(),
                    now,
                };
                match logout_token::verify(jwt, &expected) {
                    Err(logout_token::LogoutTokenError::NoMatchingKey) => None,
                    verdict => Some(verdict),
                }
            })
            .await;
        match verdict {
            Ok(Some(verdict)) => verdict.map_err(Ok),
            Ok(None) => Err(Ok(logout_token::LogoutTokenError::NoMatchingKey)),
            Err(e) => Err(Err(jwks_unavailable(e))),
        }
    }
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

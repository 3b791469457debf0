//! What a call to the provider can end in, and its wording. The texts
//! reach logs, never pages (the routes show a generic page per kind), and
//! never quote a token, a response body or a URL: an unparsable answer may
//! hold tokens.

use openidconnect::core::CoreErrorResponseType;
use openidconnect::{
    ClaimsVerificationError, DiscoveryError, HttpClientError, RequestTokenError,
    SignatureVerificationError, StandardErrorResponse,
};

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

/// Why an ID token was refused when no key of the provider's matches it:
/// the one refusal that is worth a fresh look at the provider's keys.
pub(super) const NO_MATCHING_KEY: &str = "no published key matches the token";

/// The provider's JWKS could not be had: unreachable (try again) or not a
/// key set (the provider is broken).
pub(super) fn jwks_unavailable(e: handoff_guard::JwksError) -> ProviderError {
    use handoff_guard::JwksError;
    match e {
        JwksError::Fetch(reason) => ProviderError::Unreachable(format!("JWKS: {reason}")),
        JwksError::Malformed => ProviderError::BadResponse("JWKS: not a key set".into()),
        other => ProviderError::Unreachable(format!("JWKS: {other}")),
    }
}

pub(super) fn describe_claims_error(e: &ClaimsVerificationError) -> String {
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

pub(super) type TokenError = RequestTokenError<
    HttpClientError<reqwest::Error>,
    StandardErrorResponse<CoreErrorResponseType>,
>;

pub(super) fn classify_token_error(e: TokenError) -> ProviderError {
    use CoreErrorResponseType as Kind;
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

pub(super) fn describe_http_error(e: &HttpClientError<reqwest::Error>) -> String {
    match e {
        HttpClientError::Reqwest(inner) if inner.is_timeout() => "timed out".into(),
        HttpClientError::Reqwest(inner) if inner.is_connect() => "connection failed".into(),
        _ => "request failed".into(),
    }
}

pub(super) fn describe_discovery_error(
    e: &DiscoveryError<HttpClientError<reqwest::Error>>,
) -> String {
    match e {
        DiscoveryError::Request(inner) => describe_http_error(inner),
        DiscoveryError::Response(status, _, _) => format!("status {status}"),
        DiscoveryError::Parse(_) => "unparsable document".into(),
        DiscoveryError::Validation(reason) => format!("invalid document: {reason}"),
        _ => "failed".into(),
    }
}

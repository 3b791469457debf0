//! What every token verifier here checks alike (handoff tokens and
//! provider ID tokens): the size and header of a token before it is
//! parsed, its lifetime against an injectable clock, where its keys come
//! from, and the one error every refusal is.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode_header, Algorithm, DecodingKey};

use crate::jwks::{JwksError, KeySet, RemoteJwks};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 4096;

/// Why a token was not accepted, from [`crate::HandoffVerifier`] and from
/// [`crate::id_token::IdTokenVerifier`] alike. Every variant but
/// [`Self::KeysUnavailable`] refuses the token; that one says it could not
/// be checked. The messages quote nothing of the token, so they may be
/// logged.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a JWT this library reads: empty, longer than [`MAX_TOKEN_LEN`],
    /// not three base64url parts, or a header that is not JSON or names
    /// `none` or an unknown algorithm.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// The header names another algorithm than the verifier's only one:
    /// ES256 for handoff tokens, RS256 for ID tokens (the message says
    /// ES256 for both).
    #[error("the token is not signed with ES256")]
    WrongAlgorithm,
    /// A handoff token whose header has no `kid`. The public service always
    /// names its key, so the verifier never guesses one.
    #[error("the token header has no kid")]
    MissingKeyId,
    /// No key of the set has the token's `kid` (even after the re-fetch an
    /// unknown `kid` may trigger), or the token names none and the set has
    /// more than one key: a stranger's key, or one retired since.
    #[error("the token was signed by a key that is not published")]
    UnknownKey,
    /// The signature does not verify with the key the token names: the
    /// token was altered or forged.
    #[error("the signature does not verify")]
    BadSignature,
    /// `exp` and the leeway have passed ([`LEEWAY`](crate::LEEWAY) for
    /// handoff tokens, [`crate::id_token::LEEWAY`] for ID tokens).
    #[error("the token has expired")]
    Expired,
    /// The token starts (`nbf` of a handoff token, `iat` of an ID token)
    /// further ahead than the leeway: the clocks of the two sides are far
    /// apart.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iss` is not an issuer the verifier was made with.
    #[error("the token was issued by someone else")]
    WrongIssuer,
    /// `aud` names no audience the verifier was made with: a token for
    /// another app.
    #[error("the token is meant for another audience")]
    WrongAudience,
    /// A claim the verifier requires is missing, or one has the wrong type
    /// (a string where a number belongs, say).
    #[error("the token lacks a required claim or has a malformed one")]
    BadClaims,
    /// The key to check the token with could not be had: fetching the JWKS
    /// failed and no cached key answers for the token (before the first
    /// fetch succeeds, none does). The token may be fine, so the answer is
    /// "try again" (the gate's `503` with `Retry-After`), never "sign in
    /// again", whose redirect would loop while the outage lasts.
    #[error("verification keys are unavailable: {0}")]
    KeysUnavailable(#[from] JwksError),
}

/// Where a verifier gets its keys.
pub enum KeySource {
    /// A fixed set, never refreshed: the signer's own JWKS in the same
    /// process, or a JWKS from configuration. A rotation needs a new
    /// verifier.
    Static(KeySet),
    /// A JWKS endpoint behind a cache (see [`RemoteJwks`]).
    Remote(Box<RemoteJwks>),
}

impl KeySource {
    /// The key named `kid` (or the sole key when `kid` is `None`).
    pub async fn key(&self, kid: Option<&str>) -> Result<Arc<DecodingKey>, VerifyError> {
        match self {
            KeySource::Static(set) => match kid {
                Some(kid) => set.get(kid),
                None => set.sole_key(),
            },
            KeySource::Remote(remote) => remote.key(kid).await?,
        }
        .ok_or(VerifyError::UnknownKey)
    }

    /// Warms a remote cache (readiness, tests); a static source is always warm.
    pub async fn prefetch(&self) -> Result<(), VerifyError> {
        match self {
            KeySource::Static(_) => Ok(()),
            KeySource::Remote(remote) => Ok(remote.refresh().await?),
        }
    }
}

/// Refuses an empty token or one longer than [`MAX_TOKEN_LEN`], before
/// it is hashed or parsed.
pub(crate) fn check_size(token: &str) -> Result<(), VerifyError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::Malformed);
    }
    Ok(())
}

/// The header of a token of bounded size, signed with `alg` and nothing
/// else (`decode_header` itself refuses `alg: none` and unknown names).
pub(crate) fn checked_header(
    token: &str,
    alg: Algorithm,
) -> Result<jsonwebtoken::Header, VerifyError> {
    check_size(token)?;
    let header = decode_header(token).map_err(|_| VerifyError::Malformed)?;
    if header.alg != alg {
        return Err(VerifyError::WrongAlgorithm);
    }
    Ok(header)
}

/// Refuses a token used more than `leeway` before `starts` or after `exp`
/// (checked here against an injectable clock, not by `jsonwebtoken`).
pub(crate) fn check_lifetime(
    starts: u64,
    exp: u64,
    now: u64,
    leeway: Duration,
) -> Result<(), VerifyError> {
    if exp.saturating_add(leeway.as_secs()) <= now {
        return Err(VerifyError::Expired);
    }
    if starts > now.saturating_add(leeway.as_secs()) {
        return Err(VerifyError::NotYetValid);
    }
    Ok(())
}

pub(crate) fn classify(e: jsonwebtoken::errors::Error) -> VerifyError {
    match e.kind() {
        ErrorKind::InvalidSignature => VerifyError::BadSignature,
        ErrorKind::ExpiredSignature => VerifyError::Expired,
        ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
        ErrorKind::InvalidIssuer => VerifyError::WrongIssuer,
        ErrorKind::InvalidAudience => VerifyError::WrongAudience,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            VerifyError::WrongAlgorithm
        }
        ErrorKind::MissingRequiredClaim(_)
        | ErrorKind::Json(_)
        | ErrorKind::InvalidClaimFormat(_) => VerifyError::BadClaims,
        _ => VerifyError::Malformed,
    }
}

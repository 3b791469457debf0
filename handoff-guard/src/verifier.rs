//! Verifying handoff tokens: ES256 only, the right issuer and audience,
//! within `nbf`..`exp`, signed by a published key.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use url::Url;

use crate::claims::HandoffClaims;
use crate::clock::{SharedClock, SystemClock};
use crate::jwks::{JwksError, KeySet, RemoteJwks, RemoteJwksOptions};
use crate::token_cache::{self, Verified, VerifiedTokens};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 4096;

/// Clock skew tolerated between the public service and the app.
pub const LEEWAY: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is not signed with ES256")]
    WrongAlgorithm,
    #[error("the token header has no kid")]
    MissingKeyId,
    #[error("the token was signed by a key that is not published")]
    UnknownKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token lacks a required claim or has a malformed one")]
    BadClaims,
    #[error("verification keys are unavailable: {0}")]
    KeysUnavailable(#[from] JwksError),
}

pub enum KeySource {
    Static(KeySet),
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

pub struct HandoffVerifier {
    keys: KeySource,
    validation: Validation,
    clock: SharedClock,
    verified: VerifiedTokens<HandoffClaims>,
}

impl HandoffVerifier {
    pub fn new(issuer: &str, audience: &str, keys: KeySource) -> Self {
        crate::crypto::install();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.algorithms = vec![Algorithm::ES256];
        // `exp` and `nbf` are checked below against the injectable clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp", "nbf"]);
        Self {
            keys,
            validation,
            clock: Arc::new(SystemClock),
            verified: VerifiedTokens::new(token_cache::DEFAULT_CAPACITY),
        }
    }

    /// Checks `exp` and `nbf` against `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The clock tokens are checked against (the gate dates the binding
    /// verifiers it issues by it too).
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Keeps at most `capacity` verified tokens (`0`: verify every time).
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.verified = VerifiedTokens::new(capacity);
        self
    }

    /// Keys from the public service's JWKS endpoint.
    pub fn remote(issuer: &str, audience: &str, jwks_url: Url, options: RemoteJwksOptions) -> Self {
        Self::new(
            issuer,
            audience,
            KeySource::Remote(Box::new(RemoteJwks::new(jwks_url, options))),
        )
    }

    pub async fn verify(&self, token: &str) -> Result<HandoffClaims, VerifyError> {
        self.verify_shared(token).await.map(Arc::unwrap_or_clone)
    }

    /// [`Self::verify`], answering a token seen before from the cache of
    /// verified tokens (see [`crate::token_cache`]) without copying it.
    pub async fn verify_shared(&self, token: &str) -> Result<Arc<HandoffClaims>, VerifyError> {
        check_size(token)?;
        let digest = token_cache::digest(token);
        let now = self.clock.unix_seconds();
        if let Some(answer) = self.verified.lookup(&digest, &self.keys, now, LEEWAY).await {
            return answer;
        }
        let header = checked_header(token, Algorithm::ES256)?;
        let kid = header.kid.ok_or(VerifyError::MissingKeyId)?;
        let key = self.keys.key(Some(&kid)).await?;
        let claims = decode::<HandoffClaims>(token, &key, &self.validation)
            .map_err(classify)?
            .claims;
        check_lifetime(claims.nbf, claims.exp, self.clock.unix_seconds(), LEEWAY)?;
        let claims = Arc::new(claims);
        self.verified.insert(
            digest,
            Verified {
                claims: claims.clone(),
                starts: claims.nbf,
                expires: claims.exp,
                kid: Some(kid.into()),
                key,
            },
        );
        Ok(claims)
    }

    /// How many verified tokens are cached.
    pub fn cached_tokens(&self) -> usize {
        self.verified.len()
    }

    /// Warms the remote key cache (readiness, tests). A static source is always warm.
    pub async fn prefetch(&self) -> Result<(), VerifyError> {
        self.keys.prefetch().await
    }

    /// Whether any verification key is at hand (fetched earlier or static).
    pub fn has_keys(&self) -> bool {
        match &self.keys {
            KeySource::Static(set) => !set.is_empty(),
            KeySource::Remote(remote) => remote.cached_key_count() > 0,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;
    use crate::signer::HandoffSigner;

    const ISS: &str = "https://auth.example.com";
    const AUD: &str = "https://app.example.com";

    fn claims(now: u64) -> HandoffClaims {
        HandoffClaims {
            iss: ISS.into(),
            aud: AUD.into(),
            sub: "1234".into(),
            email: "alice@example.com".into(),
            name: None,
            sid: "sid".into(),
            iat: now,
            nbf: now,
            exp: now + 600,
            jti: "jti".into(),
        }
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn verifier_for(signer: &HandoffSigner) -> HandoffVerifier {
        HandoffVerifier::new(
            ISS,
            AUD,
            KeySource::Static(KeySet::from_jwks(signer.jwks())),
        )
    }

    #[tokio::test]
    async fn a_token_from_the_signer_verifies() {
        let signer = HandoffSigner::new(SigningKey::generate(), vec![]);
        let token = signer.sign(&claims(now())).unwrap();
        let got = verifier_for(&signer).verify(&token).await.unwrap();
        assert_eq!(got.email, "alice@example.com");
    }

    #[tokio::test]
    async fn each_broken_property_has_its_own_reason() {
        let signer = HandoffSigner::new(SigningKey::generate(), vec![]);
        let verifier = verifier_for(&signer);
        let t = now();

        let mut c = claims(t);
        c.exp = t - 120;
        assert_eq!(
            verifier.verify(&signer.sign(&c).unwrap()).await,
            Err(VerifyError::Expired)
        );

        let mut c = claims(t);
        c.nbf = t + 600;
        assert_eq!(
            verifier.verify(&signer.sign(&c).unwrap()).await,
            Err(VerifyError::NotYetValid)
        );

        let mut c = claims(t);
        c.aud = "https://other.example.com".into();
        assert_eq!(
            verifier.verify(&signer.sign(&c).unwrap()).await,
            Err(VerifyError::WrongAudience)
        );

        let mut c = claims(t);
        c.iss = "https://evil.example.com".into();
        assert_eq!(
            verifier.verify(&signer.sign(&c).unwrap()).await,
            Err(VerifyError::WrongIssuer)
        );

        let stranger = HandoffSigner::new(SigningKey::generate(), vec![]);
        let token = stranger.sign(&claims(t)).unwrap();
        assert_eq!(verifier.verify(&token).await, Err(VerifyError::UnknownKey));

        assert_eq!(
            verifier.verify("not.a.jwt").await,
            Err(VerifyError::Malformed)
        );
        assert_eq!(
            verifier.verify(&"a".repeat(MAX_TOKEN_LEN + 1)).await,
            Err(VerifyError::Malformed)
        );
    }

    #[tokio::test]
    async fn a_previous_key_verifies_while_published_and_not_after() {
        use p256::pkcs8::{EncodePrivateKey, LineEnding};
        let pem = p256::SecretKey::random(&mut rand::rngs::OsRng)
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap()
            .to_string();
        let old = || SigningKey::from_pem(&secrecy::SecretString::from(pem.clone())).unwrap();
        let token = HandoffSigner::new(old(), vec![])
            .sign(&claims(now()))
            .unwrap();

        let overlap = HandoffSigner::new(SigningKey::generate(), vec![old()]);
        assert!(verifier_for(&overlap).verify(&token).await.is_ok());

        let retired = HandoffSigner::new(SigningKey::generate(), vec![]);
        assert_eq!(
            verifier_for(&retired).verify(&token).await,
            Err(VerifyError::UnknownKey)
        );
    }
}

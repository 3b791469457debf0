//! Verifying handoff tokens: ES256 only, the right issuer and audience,
//! within `nbf`..`exp`, signed by a published key.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use url::Url;

use crate::claims::{Audience, HandoffClaims, Issuer};
use crate::clock::{SharedClock, SystemClock};
use crate::jwks::{JwksError, KeySet, RemoteJwks, RemoteJwksOptions};
use crate::token_cache::{self, Verified, VerifiedTokens};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 4096;

/// Clock skew tolerated between the public service and the app.
pub const LEEWAY: Duration = Duration::from_secs(30);

/// Why a token was not accepted, from [`HandoffVerifier`] and from
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
    /// `exp` and the leeway have passed ([`LEEWAY`] for handoff tokens,
    /// [`crate::id_token::LEEWAY`] for ID tokens).
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

/// Checks an app's handoff tokens: ES256 only, signed by a published key,
/// the right `iss` and `aud`, within `nbf`..`exp` (with [`LEEWAY`]). A
/// token verified before is answered from its cache of verified tokens
/// until its `exp` (or sooner, when its key leaves the key set), so a
/// token costs one signature check, not one per request. It knows nothing
/// of revoked sessions: the gate checks those ([`crate::RevocationFeed`]).
/// Make one at start and share it: the caches are in it.
pub struct HandoffVerifier {
    keys: KeySource,
    validation: Validation,
    clock: SharedClock,
    verified: VerifiedTokens<HandoffClaims>,
}

impl HandoffVerifier {
    /// Accepts tokens whose `iss` is exactly `issuer` (the public service's
    /// URL, without a trailing slash) and whose `aud` is exactly `audience`
    /// (this app's origin, such as `https://app.example.com`), signed by a
    /// key of `keys`. It checks times by the wall clock
    /// ([`Self::with_clock`]) and keeps up to
    /// 10,000 verified tokens ([`Self::with_cache_capacity`]). Installs the
    /// library's signature backend (`ring` for ES256 and RS256, through
    /// `jsonwebtoken`'s `CryptoProvider`) unless the host chose one first.
    pub fn new(issuer: Issuer, audience: Audience, keys: KeySource) -> Self {
        crate::crypto::install();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.algorithms = vec![Algorithm::ES256];
        // `exp` and `nbf` are checked below against the injectable clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(&[issuer.as_str()]);
        validation.set_audience(&[audience.as_str()]);
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
    pub fn remote(
        issuer: Issuer,
        audience: Audience,
        jwks_url: Url,
        options: RemoteJwksOptions,
    ) -> Self {
        Self::new(
            issuer,
            audience,
            KeySource::Remote(Box::new(RemoteJwks::new(jwks_url, options))),
        )
    }

    /// The claims of `token` (the compact JWT alone, without `Bearer `), if
    /// it verifies. Only [`VerifyError::KeysUnavailable`] means it could
    /// not be checked; every other error refuses it. A remote key source
    /// may fetch its JWKS here (see [`crate::RemoteJwks`]).
    pub async fn verify(&self, token: &str) -> Result<HandoffClaims, VerifyError> {
        self.verify_shared(token).await.map(Arc::unwrap_or_clone)
    }

    /// [`Self::verify`], answering a token seen before from the cache of
    /// verified tokens without copying it.
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
            crate::Issuer::new(ISS),
            crate::Audience::new(AUD),
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

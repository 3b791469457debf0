//! Verifying handoff tokens: ES256 only, the right issuer and audience,
//! within `nbf`..`exp`, signed by a published key.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{decode, Algorithm, Validation};
use url::Url;

use crate::claims::{Audience, HandoffClaims, Issuer};
use crate::clock::{SharedClock, SystemClock};
use crate::jwks::{RemoteJwks, RemoteJwksOptions};
use crate::token_cache::{self, Verified, VerifiedTokens};
use crate::token_checks::{check_lifetime, check_size, checked_header, classify, KeySource};

/// The error of every verifier, also named here beside the handoff
/// verifier, where the login service's caller checks take it from.
pub use crate::token_checks::VerifyError;

/// Clock skew tolerated between the public service and the app.
pub const LEEWAY: Duration = Duration::from_secs(30);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::KeySet;
    use crate::keys::SigningKey;
    use crate::signer::HandoffSigner;
    use crate::token_checks::MAX_TOKEN_LEN;

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

//! Verifying provider-signed ID tokens presented as Bearer tokens: Google
//! ID tokens of people (a Chrome extension) and of service accounts (Cloud
//! Tasks, Cloud Scheduler, another Cloud Run service, a trusted backend).
//!
//! RS256 only, with keys from the provider's JWKS (cached, re-fetched on an
//! unknown `kid`); `iss` one of the configured issuers (Google uses both
//! `accounts.google.com` and `https://accounts.google.com`); `aud` one of
//! the configured audiences; `exp` and `iat` checked. What the token says
//! about the holder ([`IdTokenClaims`]) is for the caller's policy.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{decode, Algorithm, Validation};
use serde::{Deserialize, Deserializer};
use url::Url;

use crate::clock::{SharedClock, SystemClock};
use crate::jwks::{RemoteJwks, RemoteJwksOptions};
use crate::token_cache::{self, Verified, VerifiedTokens};
use crate::token_checks::{
    check_lifetime, check_size, checked_header, classify, KeySource, VerifyError,
};

/// Google's issuers, in both spellings it uses.
pub const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];
/// Where Google publishes the keys of its ID tokens (a JWKS of RS256 keys).
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";

/// Google as the issuer of ID tokens: its issuers and its keys' URL.
pub(crate) fn google_issuer_and_keys() -> (Vec<String>, Url) {
    (
        GOOGLE_ISSUERS.iter().map(|s| (*s).to_owned()).collect(),
        Url::parse(GOOGLE_JWKS_URL).expect("a valid constant URL"),
    )
}

/// Tolerated clock skew for `exp` and `iat`.
pub const LEEWAY: Duration = Duration::from_secs(60);

/// What a verified ID token says about its holder. The verifier checked
/// the signature, `iss`, `aud`, `exp` and `iat`; who the holder is and
/// whether they may call is the caller's decision (see
/// [`crate::AccessPolicy`], and [`crate::BearerIdTokens`] for service
/// accounts).
#[derive(Debug, Clone, Deserialize)]
pub struct IdTokenClaims {
    /// The issuer, one of those the verifier was made with (for Google,
    /// either spelling of [`GOOGLE_ISSUERS`]).
    pub iss: String,
    /// The provider's identifier of the account: unique, and unlike the
    /// e-mail address it does not change.
    pub sub: String,
    /// The audiences (Google sends one, as a string).
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    /// The authorized party: the OAuth client the token was issued to. With
    /// several audiences the gate takes the token only when `azp` is one
    /// of them, and treats it as the audience.
    #[serde(default)]
    pub azp: Option<String>,
    /// The account's e-mail address as the provider gave it, verified or
    /// not: decide on [`Self::verified_email`].
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the provider verified `email`; `false` when the claim is
    /// absent. Read from a boolean (Google) or the string `"true"` (some
    /// other providers).
    #[serde(default, deserialize_with = "lenient_bool")]
    pub email_verified: bool,
    /// The holder's display name, when the token carries one.
    #[serde(default)]
    pub name: Option<String>,
    /// The Google Workspace domain that manages the account; absent for a
    /// consumer account. Only this, not the address's domain, says an
    /// organisation manages the account (see [`crate::AccessPolicy`]).
    #[serde(default)]
    pub hd: Option<String>,
    /// Unix seconds from which the token is refused (with [`LEEWAY`] of
    /// tolerance).
    pub exp: u64,
    /// Unix seconds when the provider issued the token; one issued further
    /// ahead of the verifier's clock than [`LEEWAY`] is refused.
    pub iat: u64,
}

impl IdTokenClaims {
    /// The e-mail address, only if the provider verified it.
    pub fn verified_email(&self) -> Option<&str> {
        self.email.as_deref().filter(|_| self.email_verified)
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// Google sends `email_verified` as a boolean, some providers as a string.
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum BoolOrString {
        Bool(bool),
        String(String),
    }
    Ok(match Option::<BoolOrString>::deserialize(d)? {
        Some(BoolOrString::Bool(b)) => b,
        Some(BoolOrString::String(s)) => s == "true",
        None => false,
    })
}

/// Checks provider-signed ID tokens: RS256 only, signed by a key of the
/// provider's JWKS, `iss` one of the issuers and `aud` one of the audiences
/// it was made with, `exp` and `iat` within [`LEEWAY`]. It does not look at
/// the e-mail address or `azp`: that is the caller's policy. Tokens it
/// verified are answered from its cache until their `exp`. Make
/// one at start and share it: the caches are in it.
pub struct IdTokenVerifier {
    keys: KeySource,
    validation: Validation,
    clock: SharedClock,
    verified: VerifiedTokens<IdTokenClaims>,
}

impl IdTokenVerifier {
    /// `keys` must hold RS256 keys (see [`crate::jwks::KeySet::from_jwks_for`]).
    pub fn new(issuers: &[String], audiences: &[String], keys: KeySource) -> Self {
        crate::crypto::install();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        // `exp` is checked below against the injectable clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(issuers);
        validation.set_audience(audiences);
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp"]);
        Self {
            keys,
            validation,
            clock: Arc::new(SystemClock),
            verified: VerifiedTokens::new(token_cache::DEFAULT_CAPACITY),
        }
    }

    /// Checks `exp` and `iat` against `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The clock it checks lifetimes against.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Keeps at most `capacity` verified tokens (`0`: verify every time).
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.verified = VerifiedTokens::new(capacity);
        self
    }

    /// Keys from a JWKS URL (Google's, or the mock provider's in tests).
    pub fn remote(
        issuers: &[String],
        audiences: &[String],
        jwks_url: Url,
        options: RemoteJwksOptions,
    ) -> Self {
        let options = RemoteJwksOptions {
            algorithm: Algorithm::RS256,
            ..options
        };
        Self::new(
            issuers,
            audiences,
            KeySource::Remote(Box::new(RemoteJwks::new(jwks_url, options))),
        )
    }

    /// The claims of `token` (the compact JWT alone, without `Bearer `), if
    /// it verifies. A token without `kid` is checked only against a
    /// provider that publishes exactly one key. Only
    /// [`VerifyError::KeysUnavailable`] means it could not be checked;
    /// every other error refuses it.
    pub async fn verify(&self, token: &str) -> Result<IdTokenClaims, VerifyError> {
        self.verify_shared(token).await.map(Arc::unwrap_or_clone)
    }

    /// [`Self::verify`], answering a token seen before from the cache of
    /// verified tokens without copying it.
    pub async fn verify_shared(&self, token: &str) -> Result<Arc<IdTokenClaims>, VerifyError> {
        check_size(token)?;
        let digest = token_cache::digest(token);
        let now = self.clock.unix_seconds();
        if let Some(answer) = self.verified.lookup(&digest, &self.keys, now, LEEWAY).await {
            return answer;
        }
        let header = checked_header(token, Algorithm::RS256)?;
        // Without `kid` only a provider publishing a single key is trusted:
        // with several, picking one would be guessing.
        let key = self.keys.key(header.kid.as_deref()).await?;
        let claims = decode::<IdTokenClaims>(token, &key, &self.validation)
            .map_err(classify)?
            .claims;
        check_lifetime(claims.iat, claims.exp, self.clock.unix_seconds(), LEEWAY)?;
        let claims = Arc::new(claims);
        self.verified.insert(
            digest,
            Verified {
                claims: claims.clone(),
                starts: claims.iat,
                expires: claims.exp,
                kid: header.kid.map(Arc::from),
                key,
            },
        );
        Ok(claims)
    }

    /// How many verified tokens are cached.
    pub fn cached_tokens(&self) -> usize {
        self.verified.len()
    }

    /// Fetches the provider's keys now, unless a fetch was made within the
    /// refetch interval, so that the first caller does not wait for them
    /// (readiness, tests). A static source is always warm. An error means
    /// the keys could not be fetched now; keys fetched earlier stay in use.
    pub async fn prefetch(&self) -> Result<(), VerifyError> {
        self.keys.prefetch().await
    }
}

/// Reads the token of an `Authorization: Bearer <token>` header value.
pub fn bearer_token(header_value: &str) -> Option<&str> {
    // RFC 6750 §2.1: `"Bearer" 1*SP b64token`, nothing before or after.
    let (scheme, token) = header_value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim_start_matches(' ');
    let b64token = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
    let body = token.trim_end_matches('=');
    (!body.is_empty() && body.bytes().all(b64token)).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_strictly() {
        assert_eq!(bearer_token("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("Bearerabc"), None);
        assert_eq!(bearer_token("Bearer  abc=="), Some("abc=="));
        // Only b64token characters, and nothing after the token.
        for bad in [
            "Bearer \u{2000}abc",
            "Bearer abc\u{2000}",
            "Bearer abc ",
            "Bearer \tabc",
            "Bearer a,b",
            "Bearer ==",
            "Bearer a=b",
        ] {
            assert_eq!(bearer_token(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn email_verified_may_be_a_string() {
        let claims: IdTokenClaims = serde_json::from_str(
            r#"{"iss":"i","sub":"s","aud":"x","email":"a@b.c","email_verified":"true","exp":1,"iat":1}"#,
        )
        .unwrap();
        assert_eq!(claims.verified_email(), Some("a@b.c"));
        let claims: IdTokenClaims = serde_json::from_str(
            r#"{"iss":"i","sub":"s","aud":["x"],"email":"a@b.c","exp":1,"iat":1}"#,
        )
        .unwrap();
        assert_eq!(claims.verified_email(), None);
    }
}

//! Where verification keys come from: a static JWKS, or a JWKS endpoint
//! (the public service's, or the provider's) behind a cache.
//!
//! A key set holds the keys of one algorithm only (ES256 for handoff tokens,
//! RS256 for Google ID tokens), so a key can never be used with an algorithm
//! it was not published for. An RSA key under 2048 bits is left out when the
//! set is read, with a warning naming its `kid`: a token signed with it finds
//! no key ([`crate::crypto`] would refuse the key too).
//!
//! The remote cache ([`crate::jwks_cache`], which also holds the login
//! service's copy of the provider's keys) answers from memory on the hot
//! path. It fetches when it has no keys yet, when its copy is older than
//! the endpoint's `Cache-Control: max-age` or the configured `max_age`,
//! whichever is shorter (so retired keys drop out), and on a `kid` it does
//! not know, but never more often than once per `min_refetch_interval`: a
//! stream of tokens with made-up `kid`s cannot turn into a stream of
//! requests to the key server.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use url::Url;

pub use crate::jwks_cache::JwksError;
use crate::jwks_cache::{JwksCache, JwksFreshness, MonotonicClock};

/// Signature keys of one algorithm, by `kid`.
#[derive(Clone)]
pub struct KeySet {
    algorithm: Algorithm,
    keys: HashMap<String, Arc<DecodingKey>>,
}

impl Default for KeySet {
    fn default() -> Self {
        Self::empty(Algorithm::ES256)
    }
}

impl KeySet {
    /// A set without keys, for `algorithm`: every lookup finds nothing.
    pub fn empty(algorithm: Algorithm) -> Self {
        Self {
            algorithm,
            keys: HashMap::new(),
        }
    }

    /// The P-256 (ES256) keys of `set`: handoff-token keys.
    pub fn from_jwks(set: &JwkSet) -> Self {
        Self::from_jwks_for(set, Algorithm::ES256)
    }

    /// The keys of `set` usable with `algorithm` (ES256 or RS256; any
    /// other algorithm yields an empty set).
    pub fn from_jwks_for(set: &JwkSet, algorithm: Algorithm) -> Self {
        let keys = set
            .keys
            .iter()
            .filter(|jwk| is_signing_key_for(jwk, algorithm))
            .filter(|jwk| long_enough(jwk))
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((kid, Arc::new(key)))
            })
            .collect();
        Self { algorithm, keys }
    }

    /// The ES256 keys of a JWKS document (the public service's
    /// `/.well-known/jwks.json`), picked as [`Self::from_jwks_for`] does.
    pub fn from_json(json: &str) -> Result<Self, JwksError> {
        Self::from_json_for(json, Algorithm::ES256)
    }

    /// The keys of a JWKS document usable with `algorithm`, picked as
    /// [`Self::from_jwks_for`] does; [`JwksError::Malformed`] when `json`
    /// is not a JWKS at all.
    pub fn from_json_for(json: &str, algorithm: Algorithm) -> Result<Self, JwksError> {
        let set: JwkSet = serde_json::from_str(json).map_err(|_| JwksError::Malformed)?;
        Ok(Self::from_jwks_for(&set, algorithm))
    }

    /// The one algorithm every key of this set is used with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The only key, for tokens without `kid` when exactly one key is published.
    pub fn sole_key(&self) -> Option<Arc<DecodingKey>> {
        match self.keys.len() {
            1 => self.keys.values().next().cloned(),
            _ => None,
        }
    }

    /// The key published under `kid`, if the set holds it.
    pub fn get(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.keys.get(kid).cloned()
    }

    /// How many keys the set holds: those [`Self::from_jwks_for`] kept,
    /// each with a `kid` (a key without one is left out).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// This set, sharing each key that `previous` holds unchanged under the
    /// same `kid`: tokens cached as verified by it stay served (see
    /// [`crate::token_cache`]), those of a removed or replaced key do not.
    fn reusing(mut self, previous: &KeySet) -> Self {
        for (kid, key) in &mut self.keys {
            if let Some(old) = previous.keys.get(kid).filter(|old| same_key(old, key)) {
                *key = old.clone();
            }
        }
        self
    }

    /// Whether the set holds no key: no token verifies against it.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn same_key(a: &DecodingKey, b: &DecodingKey) -> bool {
    a.family() == b.family()
        && match (a.kind(), b.kind()) {
            (DecodingKeyKind::SecretOrDer(a), DecodingKeyKind::SecretOrDer(b)) => a == b,
            (
                DecodingKeyKind::RsaModulusExponent { n, e },
                DecodingKeyKind::RsaModulusExponent { n: n2, e: e2 },
            ) => n == n2 && e == e2,
            _ => false,
        }
}

/// Whether an RSA key's modulus has 2048 bits or more (other keys pass);
/// one that has not is named in a warning, every time the set is read.
fn long_enough(jwk: &Jwk) -> bool {
    let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        return true;
    };
    let bits = crate::crypto::rsa_modulus_bits_of_jwk(&rsa.n);
    if bits.is_some_and(|bits| bits >= crate::crypto::MIN_RSA_MODULUS_BITS) {
        return true;
    }
    tracing::warn!(
        kid = jwk.common.key_id.as_deref().unwrap_or("(none)"),
        bits = bits.unwrap_or(0),
        "a JWKS key was left out: RSA keys under 2048 bits verify nothing"
    );
    false
}

fn is_signing_key_for(jwk: &Jwk, algorithm: Algorithm) -> bool {
    let (shape_ok, alg_ok) = match algorithm {
        Algorithm::ES256 => (
            matches!(
                &jwk.algorithm,
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256
            ),
            matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::ES256)),
        ),
        Algorithm::RS256 => (
            matches!(&jwk.algorithm, AlgorithmParameters::RSA(_)),
            matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256)),
        ),
        _ => (false, false),
    };
    let use_ok = !matches!(
        jwk.common.public_key_use,
        Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
    );
    shape_ok && alg_ok && use_ok
}

/// How a [`RemoteJwks`] fetches and keeps its keys. The defaults suit the
/// public service's JWKS: at most one fetch every 30 s, keys kept at most
/// 5 minutes, 5 s for a fetch, ES256 keys.
#[derive(Debug, Clone)]
pub struct RemoteJwksOptions {
    /// The least time between two fetches triggered by unknown `kid`s.
    pub min_refetch_interval: Duration,
    /// Keys older than this, or than the endpoint's `Cache-Control:
    /// max-age` if that is shorter, are re-fetched before use (stale keys
    /// are still used while another request's fetch is under way, and if
    /// the fetch fails, so an outage of the key server does not sign
    /// everyone out).
    pub max_age: Duration,
    /// The longest one fetch may take, connecting included. A fetch that
    /// takes longer fails like an unreachable endpoint (stale keys stay in
    /// use), so a slow key server delays a request by at most this much.
    pub timeout: Duration,
    /// The algorithm of the keys kept (ES256 or RS256).
    pub algorithm: Algorithm,
}

impl Default for RemoteJwksOptions {
    fn default() -> Self {
        Self {
            min_refetch_interval: Duration::from_secs(30),
            max_age: Duration::from_secs(300),
            timeout: Duration::from_secs(5),
            algorithm: Algorithm::ES256,
        }
    }
}

/// A JWKS endpoint behind the cache described in the module docs (the
/// library's one JWKS cache, which the login service also keeps its
/// provider's keys in, holding a [`KeySet`]). It answers from memory while
/// its copy is fresh, makes one fetch at a time, and keeps its stale keys
/// when a fetch fails. The verifiers' `remote` constructors make one; each
/// holds its own cache.
pub struct RemoteJwks {
    cache: JwksCache<KeySet>,
    algorithm: Algorithm,
}

impl RemoteJwks {
    /// The keys at `url`, fetched and kept as `options` say. Nothing is
    /// fetched yet: the first lookup (or [`Self::refresh`]) does it. The
    /// client follows no redirect.
    pub fn new(url: Url, options: RemoteJwksOptions) -> Self {
        let algorithm = options.algorithm;
        let read = move |json: &str, previous: Option<&KeySet>| {
            let keys = KeySet::from_json_for(json, algorithm)?;
            Ok(match previous {
                Some(previous) => keys.reusing(previous),
                None => keys,
            })
        };
        let cache = JwksCache::new(
            url,
            crate::back_channel::client(options.timeout),
            options.min_refetch_interval,
            // Never longer than the key server allows, nor than configured.
            JwksFreshness {
                without_max_age: options.max_age,
                at_least: Duration::ZERO,
                at_most: options.max_age,
            },
            Arc::new(MonotonicClock::new()),
            read,
        );
        Self { cache, algorithm }
    }

    /// The key for `kid`, fetching the JWKS if the cache says it should.
    /// `kid` `None`: the only key, when exactly one is published.
    pub async fn key(&self, kid: Option<&str>) -> Result<Option<Arc<DecodingKey>>, JwksError> {
        self.cache
            .find(|keys| match kid {
                Some(kid) => keys.get(kid),
                None => keys.sole_key(),
            })
            .await
    }

    /// Fetches now unless a fetch happened within the refetch interval.
    pub async fn refresh(&self) -> Result<(), JwksError> {
        self.cache.refresh().await
    }

    /// The algorithm of the keys kept, from the options.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// How many keys the cache holds now, stale ones included; 0 until a
    /// fetch has succeeded.
    pub fn cached_key_count(&self) -> usize {
        self.cache.held().map_or(0, |keys| keys.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_set_keeps_only_keys_of_its_algorithm() {
        let rsa = r#"{"kty":"RSA","kid":"r1","use":"sig","alg":"RS256","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"}"#;
        let ec = r#"{"kty":"EC","kid":"e1","use":"sig","alg":"ES256","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let json = format!(r#"{{"keys":[{rsa},{ec}]}}"#);
        let rs = KeySet::from_json_for(&json, Algorithm::RS256).unwrap();
        let es = KeySet::from_json_for(&json, Algorithm::ES256).unwrap();
        assert!(rs.get("r1").is_some() && rs.get("e1").is_none());
        assert!(es.get("e1").is_some() && es.get("r1").is_none());
        assert!(rs.sole_key().is_some());
        assert!(KeySet::from_json_for(&json, Algorithm::HS256)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn rsa_keys_under_2048_bits_are_dropped_when_the_set_is_read() {
        // A 2048-bit modulus, and the mock provider's 1024-bit test key
        // (tests/mock-provider/keys/test-only-rsa-1024.pem).
        let strong = r#"{"kty":"RSA","kid":"strong","alg":"RS256","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB"}"#;
        let weak = r#"{"kty":"RSA","kid":"weak","alg":"RS256","n":"0MZP7ne1Euke0pNE2AE7rTly0MYUya0UpAqfmj8p7tKnLGfKC4AifWQW7vR2f88nI-jSmnHiNaPMq69Jv28f7wPZLQH3rL3SlWzyK2_czrR1hDVIJ097lWtzZ6scfI-0E8bwzPBhsnK8uWcue0KPfxnaAU_nM-7M1UOfH6e65U0","e":"AQAB"}"#;
        let json = format!(r#"{{"keys":[{strong},{weak}]}}"#);
        let set = KeySet::from_json_for(&json, Algorithm::RS256).unwrap();
        assert!(set.get("strong").is_some());
        assert!(set.get("weak").is_none(), "a 1024-bit key was kept");
        assert_eq!(set.len(), 1);
        // The one key left is the sole key: a kid-less token is not
        // checked against the dropped one either.
        assert!(set.sole_key().is_some());
    }
}

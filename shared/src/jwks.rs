//! Where verification keys come from: a static JWKS, or the public service's
//! JWKS endpoint behind a cache.
//!
//! The remote cache answers from memory on the hot path. It fetches when it
//! has no keys yet, when its copy is older than `max_age` (so retired keys
//! drop out), and on a `kid` it does not know, but never more often than
//! once per `min_refetch_interval`: a stream of tokens with made-up `kid`s
//! cannot turn into a stream of requests to the public service.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::DecodingKey;
use url::Url;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksError {
    #[error("the JWKS could not be fetched: {0}")]
    Fetch(String),
    #[error("the JWKS is not valid JSON of the expected shape")]
    Malformed,
}

/// Keys by `kid`. Only P-256 signature keys are kept.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, Arc<DecodingKey>>,
}

impl KeySet {
    pub fn from_jwks(set: &JwkSet) -> Self {
        let keys = set
            .keys
            .iter()
            .filter(|jwk| is_es256_signing_key(jwk))
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((kid, Arc::new(key)))
            })
            .collect();
        Self { keys }
    }

    pub fn from_json(json: &str) -> Result<Self, JwksError> {
        let set: JwkSet = serde_json::from_str(json).map_err(|_| JwksError::Malformed)?;
        Ok(Self::from_jwks(&set))
    }

    pub fn get(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.keys.get(kid).cloned()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn is_es256_signing_key(jwk: &Jwk) -> bool {
    let curve_ok = matches!(
        &jwk.algorithm,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256
    );
    let alg_ok = matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::ES256));
    let use_ok = !matches!(
        jwk.common.public_key_use,
        Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
    );
    curve_ok && alg_ok && use_ok
}

#[derive(Debug, Clone)]
pub struct RemoteJwksOptions {
    /// The least time between two fetches triggered by unknown `kid`s.
    pub min_refetch_interval: Duration,
    /// Keys older than this are re-fetched before use (stale keys are still
    /// used if the fetch fails, so an outage of the public service does not
    /// sign everyone out).
    pub max_age: Duration,
    pub timeout: Duration,
}

impl Default for RemoteJwksOptions {
    fn default() -> Self {
        Self {
            min_refetch_interval: Duration::from_secs(30),
            max_age: Duration::from_secs(300),
            timeout: Duration::from_secs(5),
        }
    }
}

struct Cached {
    keys: KeySet,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

pub struct RemoteJwks {
    url: Url,
    http: reqwest::Client,
    options: RemoteJwksOptions,
    cached: RwLock<Cached>,
    // Single flight: concurrent misses wait for one fetch instead of each making one.
    fetch_lock: tokio::sync::Mutex<()>,
}

impl RemoteJwks {
    pub fn new(url: Url, options: RemoteJwksOptions) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .build()
            .unwrap_or_default();
        Self {
            url,
            http,
            options,
            cached: RwLock::new(Cached {
                keys: KeySet::default(),
                fetched_at: None,
                last_attempt: None,
            }),
            fetch_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The key for `kid`, fetching the JWKS if the cache says it should.
    pub async fn key(&self, kid: &str) -> Result<Option<Arc<DecodingKey>>, JwksError> {
        let (hit, fresh) = self.lookup(kid);
        if hit.is_some() && fresh {
            return Ok(hit);
        }
        if !self.may_fetch() {
            return Ok(hit);
        }
        let _guard = self.fetch_lock.lock().await;
        // Someone else may have fetched while we waited for the lock.
        let (hit, fresh) = self.lookup(kid);
        if (hit.is_some() && fresh) || !self.may_fetch() {
            return Ok(hit);
        }
        match self.fetch().await {
            Ok(keys) => {
                let mut cached = self.write();
                cached.keys = keys;
                cached.fetched_at = Some(Instant::now());
                cached.last_attempt = cached.fetched_at;
                drop(cached);
                Ok(self.lookup(kid).0)
            }
            Err(e) => {
                self.write().last_attempt = Some(Instant::now());
                tracing::warn!(error = %e, jwks_url = %self.url, "JWKS fetch failed");
                match hit {
                    Some(stale) => Ok(Some(stale)),
                    None => Err(e),
                }
            }
        }
    }

    /// Fetches now unless a fetch happened within the refetch interval.
    pub async fn refresh(&self) -> Result<(), JwksError> {
        self.key("").await.map(|_| ())
    }

    pub fn cached_key_count(&self) -> usize {
        self.read().keys.len()
    }

    fn lookup(&self, kid: &str) -> (Option<Arc<DecodingKey>>, bool) {
        let cached = self.read();
        let fresh = cached
            .fetched_at
            .is_some_and(|t| t.elapsed() < self.options.max_age);
        (cached.keys.get(kid), fresh)
    }

    fn may_fetch(&self) -> bool {
        self.read()
            .last_attempt
            .is_none_or(|t| t.elapsed() >= self.options.min_refetch_interval)
    }

    async fn fetch(&self) -> Result<KeySet, JwksError> {
        let response = self
            .http
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| JwksError::Fetch(describe(&e)))?;
        if !response.status().is_success() {
            return Err(JwksError::Fetch(format!("status {}", response.status())));
        }
        let body = response
            .text()
            .await
            .map_err(|e| JwksError::Fetch(describe(&e)))?;
        KeySet::from_json(&body)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cached> {
        self.cached
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cached> {
        self.cached
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_decode() || e.is_body() {
        "bad response body".into()
    } else {
        "request failed".into()
    }
}

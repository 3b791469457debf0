//! The one cache in front of a JWKS endpoint, whatever the keys are read
//! into: [`crate::KeySet`] for handoff tokens and Google ID tokens
//! ([`crate::RemoteJwks`]), `openidconnect`'s key set for the login
//! service's provider. The rules are the same for both:
//!
//! - Answers come from memory while the copy is fresh: for the answer's
//!   `Cache-Control: max-age`, or a default without one, held within the
//!   bounds of [`JwksFreshness`], counted on the cache's clock (so tests move
//!   it instead of sleeping).
//! - A stale copy is fetched again before use; meanwhile, and when the
//!   fetch fails, the stale copy stays in use, so an outage of the key
//!   server does not stop sign-ins.
//! - A key the copy lacks (an unknown `kid`) is looked for with one more
//!   fetch ([`JwksCache::find`]).
//! - One fetch at a time (single flight): callers that need the result
//!   wait for the fetch under way and share it; callers that hold a usable
//!   stale copy go on with it.
//! - At most one fetch per refetch interval, counted on the wall clock
//!   whatever the cache's clock says: a stream of tokens with made-up
//!   `kid`s cannot turn into a stream of requests to the key server.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use url::Url;

use crate::clock::SharedClock;

/// Why no key set could be had. The token being checked may be fine: a
/// caller answers "try again", not "sign in again".
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksError {
    /// The endpoint could not be reached in time, answered a status other
    /// than 2xx (a redirect included: none is followed), or its body could
    /// not be read; also the answer while no fetch has succeeded yet and
    /// the refetch interval forbids another. The text says which kind, and
    /// quotes no URL or body.
    #[error("the JWKS could not be fetched: {0}")]
    Fetch(String),
    /// The document is not a JWKS (`{"keys": [...]}` of JWKs). Keys of
    /// another algorithm, or too short, are left out of a set, not errors.
    #[error("the JWKS is not valid JSON of the expected shape")]
    Malformed,
}

/// How long a fetched copy counts as fresh: the answer's `Cache-Control:
/// max-age` (`no-store` and `no-cache` read as zero), or
/// `without_max_age` when it has none, raised to `at_least` and lowered to
/// `at_most` (`at_least` wins if the two cross).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksFreshness {
    /// For an answer without `max-age`.
    pub without_max_age: Duration,
    /// The least, whatever the headers say.
    pub at_least: Duration,
    /// The most, whatever the headers say.
    pub at_most: Duration,
}

impl JwksFreshness {
    fn of(&self, max_age: Option<Duration>) -> Duration {
        max_age
            .unwrap_or(self.without_max_age)
            .min(self.at_most)
            .max(self.at_least)
    }
}

/// Reads a fetched JWKS document into the keys kept; it is given the copy
/// held before (to share what did not change), and answers
/// [`JwksError::Malformed`] for a document that is not a JWKS.
type Reader<K> = Box<dyn Fn(&str, Option<&K>) -> Result<K, JwksError> + Send + Sync>;

struct Held<K> {
    keys: Option<Arc<K>>,
    fresh_until: Option<SystemTime>,
    last_attempt: Option<Instant>,
}

/// A JWKS endpoint behind the cache the module docs describe, its keys
/// read into `K`.
pub struct JwksCache<K> {
    url: Url,
    http: reqwest::Client,
    refetch_interval: Duration,
    freshness: JwksFreshness,
    clock: SharedClock,
    read: Reader<K>,
    held: RwLock<Held<K>>,
    // Single flight: concurrent fetches wait for one instead of each making one.
    fetch_lock: tokio::sync::Mutex<()>,
}

impl<K: Send + Sync + 'static> JwksCache<K> {
    /// The keys at `url`, fetched with `http` (which must follow no
    /// redirect and give up in bounded time) and read by `read`, given the
    /// copy held before. Nothing is fetched yet.
    pub fn new(
        url: Url,
        http: reqwest::Client,
        refetch_interval: Duration,
        freshness: JwksFreshness,
        clock: SharedClock,
        read: impl Fn(&str, Option<&K>) -> Result<K, JwksError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            url,
            http,
            refetch_interval,
            freshness,
            clock,
            read: Box::new(read),
            held: RwLock::new(Held {
                keys: None,
                fresh_until: None,
                last_attempt: None,
            }),
            fetch_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Keeps `keys`, had some other way (fetched with the provider's
    /// discovery, its headers unseen), as fresh for `fresh_for`. It does
    /// not count as a fetch for the refetch interval: a key rotated right
    /// after is looked for at once.
    pub fn prime(&self, keys: K, fresh_for: Duration) {
        let mut held = self.write();
        held.keys = Some(Arc::new(keys));
        held.fresh_until = self.clock.now().checked_add(fresh_for);
    }

    /// The copy held now, fresh or not, without fetching: `None` until a
    /// fetch has succeeded (or [`Self::prime`]).
    pub fn held(&self) -> Option<Arc<K>> {
        self.read().keys.clone()
    }

    /// What `pick` finds in the keys (a key by `kid`, or a verdict that
    /// is not "no key matches"). It looks in the copy held while fresh,
    /// else in one fetched now, or in the stale copy when the refetch
    /// interval forbids a fetch, another caller's fetch is under way, or
    /// the fetch fails (logged). When `pick` finds nothing it looks again
    /// in a newer copy: one another caller fetched meanwhile (waiting for a
    /// fetch under way), or one fetched now. `Ok(None)`: not found, and no
    /// fetch may be made. An error when no copy is held at all, or when
    /// the fetch made for this lookup failed and `pick` found nothing in
    /// the stale copy (the key may be there: the caller answers "try
    /// again", not "refused").
    pub async fn find<T>(
        &self,
        pick: impl Fn(&Arc<K>) -> Option<T>,
    ) -> Result<Option<T>, JwksError> {
        let (keys, failed_fetch) = self.current().await?;
        if let Some(found) = pick(&keys) {
            return Ok(Some(found));
        }
        if let Some(e) = failed_fetch {
            return Err(e);
        }
        Ok(self.newer_than(&keys).await?.and_then(|newer| pick(&newer)))
    }

    /// Fetches now unless a fetch was made within the refetch interval
    /// (readiness, tests): an error when the fetch fails, or when no copy
    /// is held and none may be fetched.
    pub(crate) async fn refresh(&self) -> Result<(), JwksError> {
        match self.held() {
            Some(held) => self.newer_than(&held).await.map(drop),
            None => match self.current().await? {
                (_, Some(e)) => Err(e),
                (_, None) => Ok(()),
            },
        }
    }

    /// The copy to look in, with the error of a fetch made for it that
    /// failed (the stale copy is answered then).
    async fn current(&self) -> Result<(Arc<K>, Option<JwksError>), JwksError> {
        let (keys, fresh) = self.snapshot();
        if let (Some(keys), true) = (&keys, fresh) {
            return Ok((keys.clone(), None));
        }
        if !self.may_fetch() {
            return keys.map(|k| (k, None)).ok_or_else(never_fetched);
        }
        // While one caller refreshes a stale copy the others go on with it
        // rather than queue behind the fetch; only a cache without any copy
        // makes them wait.
        let _single_flight = match (self.fetch_lock.try_lock(), &keys) {
            (Ok(guard), _) => guard,
            (Err(_), Some(stale)) => return Ok((stale.clone(), None)),
            (Err(_), None) => self.fetch_lock.lock().await,
        };
        // Another caller may have fetched while we waited.
        let (keys, fresh) = self.snapshot();
        if let (Some(keys), true) = (&keys, fresh) {
            return Ok((keys.clone(), None));
        }
        if !self.may_fetch() {
            return keys.map(|k| (k, None)).ok_or_else(never_fetched);
        }
        match self.fetch_and_keep().await {
            Ok(fetched) => Ok((fetched, None)),
            Err(e) => match keys {
                Some(stale) => Ok((stale, Some(e))),
                None => Err(e),
            },
        }
    }

    /// A copy newer than `seen`: the one another caller fetched meanwhile
    /// (waiting for a fetch under way), or one fetched now; `Ok(None)` when
    /// there is none and the refetch interval forbids a fetch.
    async fn newer_than(&self, seen: &Arc<K>) -> Result<Option<Arc<K>>, JwksError> {
        let newer = |held: Option<Arc<K>>| held.filter(|keys| !Arc::ptr_eq(keys, seen));
        if let Some(keys) = newer(self.held()) {
            return Ok(Some(keys));
        }
        let _single_flight = self.fetch_lock.lock().await;
        if let Some(keys) = newer(self.held()) {
            return Ok(Some(keys));
        }
        if !self.may_fetch() {
            return Ok(None);
        }
        self.fetch_and_keep().await.map(Some)
    }

    fn snapshot(&self) -> (Option<Arc<K>>, bool) {
        let held = self.read();
        let fresh = held
            .fresh_until
            .is_some_and(|until| self.clock.now() < until);
        (held.keys.clone(), fresh)
    }

    fn may_fetch(&self) -> bool {
        self.read()
            .last_attempt
            .is_none_or(|t| t.elapsed() >= self.refetch_interval)
    }

    /// Fetches and reads the document, keeps it and answers it. Callers
    /// hold the fetch lock.
    async fn fetch_and_keep(&self) -> Result<Arc<K>, JwksError> {
        let fetched = self.fetch().await.and_then(|(body, max_age)| {
            let previous = self.held();
            let keys = (self.read)(&body, previous.as_deref())?;
            Ok((Arc::new(keys), self.freshness.of(max_age)))
        });
        let mut held = self.write();
        held.last_attempt = Some(Instant::now());
        match fetched {
            Ok((keys, fresh_for)) => {
                held.keys = Some(keys.clone());
                held.fresh_until = self.clock.now().checked_add(fresh_for);
                Ok(keys)
            }
            Err(e) => {
                drop(held);
                tracing::warn!(error = %e, jwks_url = %self.url, "JWKS fetch failed");
                Err(e)
            }
        }
    }

    async fn fetch(&self) -> Result<(String, Option<Duration>), JwksError> {
        let failed = |e: reqwest::Error| JwksError::Fetch(crate::back_channel::describe(&e));
        let response = self
            .http
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(failed)?;
        if !response.status().is_success() {
            return Err(JwksError::Fetch(format!("status {}", response.status())));
        }
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(cache_control_max_age);
        let body = response.text().await.map_err(failed)?;
        Ok((body, max_age))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Held<K>> {
        self.held
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Held<K>> {
        self.held
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The time as a monotonic clock tells it, from its start: the apps'
/// caches count freshness on it, so a step of the wall clock neither keeps
/// a copy fresh longer nor makes it stale.
pub(crate) struct MonotonicClock {
    started: (SystemTime, Instant),
}

impl MonotonicClock {
    pub(crate) fn new() -> Self {
        Self {
            started: (SystemTime::now(), Instant::now()),
        }
    }
}

impl crate::clock::Clock for MonotonicClock {
    fn now(&self) -> SystemTime {
        let (wall, monotonic) = self.started;
        wall + monotonic.elapsed()
    }
}

/// Until one fetch has succeeded a missing copy is the key server's
/// outage, not an unknown `kid`: callers answer "try again".
fn never_fetched() -> JwksError {
    JwksError::Fetch("no keys fetched yet".into())
}

/// `max-age` of a `Cache-Control` value, capped at a day; `no-cache` and
/// `no-store` mean "fetch again next time" (still at most once per
/// refetch interval). The public service reads the provider's JWKS
/// answers with it too.
pub fn cache_control_max_age(cache_control: &str) -> Option<Duration> {
    let mut age = None;
    for directive in cache_control.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return Some(Duration::ZERO);
        }
        if let Some(value) = lower.strip_prefix("max-age=") {
            age = value.trim_matches('"').parse::<u64>().ok();
        }
    }
    age.map(|secs| Duration::from_secs(secs.min(86_400)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age_is_read_and_capped() {
        assert_eq!(
            cache_control_max_age("public, max-age=19800, must-revalidate, no-transform"),
            Some(Duration::from_secs(19800))
        );
        assert_eq!(
            cache_control_max_age("max-age=999999999"),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(cache_control_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(cache_control_max_age("public"), None);
        assert_eq!(cache_control_max_age("max-age=soon"), None);
    }

    #[test]
    fn freshness_follows_max_age_within_its_bounds() {
        let provider = JwksFreshness {
            without_max_age: Duration::from_secs(3600),
            at_least: Duration::from_secs(60),
            at_most: Duration::from_secs(86_400),
        };
        let secs = Duration::from_secs;
        assert_eq!(provider.of(Some(secs(120))), secs(120));
        assert_eq!(provider.of(None), secs(3600));
        assert_eq!(provider.of(Some(Duration::ZERO)), secs(60), "no-store");
        assert_eq!(provider.of(Some(secs(200_000))), secs(86_400));
        // The apps' caches: never longer than configured, nor than the header.
        let app = JwksFreshness {
            without_max_age: secs(300),
            at_least: Duration::ZERO,
            at_most: secs(300),
        };
        assert_eq!(app.of(Some(secs(19_800))), secs(300));
        assert_eq!(app.of(Some(secs(1))), secs(1));
        assert_eq!(app.of(None), secs(300));
        let crossed = JwksFreshness {
            at_least: secs(10),
            at_most: secs(5),
            ..app
        };
        assert_eq!(crossed.of(None), secs(10), "at_least wins");
    }
}

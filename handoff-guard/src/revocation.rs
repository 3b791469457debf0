//! Revoked sessions, so a copied handoff token stops working soon after
//! its user signs out rather than only at its expiry.
//!
//! An app fetches the public service's `GET /sessions/revoked?since=<unix>`
//! (authenticated with its service account's ID token) and keeps the
//! revoked session ids in memory until no token naming them can still be
//! valid.
//!
//! Nothing here depends on a background task getting CPU time: Cloud Run
//! throttles an instance's CPU outside requests under request-based
//! billing, and a timer-driven poll would then stall while idle
//! (<https://cloud.google.com/run/docs/configuring/billing-settings>,
//! <https://cloud.google.com/run/docs/tips/general#avoid_background_activities>).
//! Instead every request that checks a token asks [`RevocationFeed::ensure_fresh`]:
//! once the last good fetch is older than half the interval a fetch
//! starts beside the request; once it is older than the interval the
//! request waits for one (single flight, bounded). So a token whose
//! session was revoked is refused within one interval plus one fetch,
//! whether or not the instance had CPU in between. A background loop
//! keeps the list fresh too where CPU is always there, so requests
//! rarely wait. When the public service cannot be reached the app keeps
//! serving (and says so, and is not ready): sign-outs are then honoured
//! at token expiry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use url::Url;

use crate::clock::SharedClock;
use crate::metadata::IdTokenSource;

/// A revoked id is remembered this long: the longest handoff lifetime
/// plus the verifier's leeway.
pub const REMEMBER_FOR: Duration = Duration::from_secs(3600 + 60);
/// Each poll looks this far back before the previous one, so a revocation
/// committed while the previous answer was in flight is not missed.
const OVERLAP: u64 = 60;
/// The longest a request waits for a fetch of a stale list.
const MAX_WAIT: Duration = Duration::from_secs(2);
/// After a failed fetch, requests do not wait for another one this long
/// (an outage must not add [`MAX_WAIT`] to every request).
const AFTER_FAILURE: Duration = Duration::from_secs(1);

/// Ids of revoked sessions and when they were revoked.
#[derive(Default)]
pub struct RevokedSessions {
    ids: RwLock<HashMap<String, u64>>,
}

impl RevokedSessions {
    /// Whether the session `sid` (a handoff token's `sid` claim) is known
    /// to be revoked: its tokens must be refused. An id is remembered for
    /// an hour and a minute after its revocation (the longest handoff
    /// lifetime and its leeway), and no token naming it stays valid longer.
    pub fn is_revoked(&self, sid: &str) -> bool {
        self.ids
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(sid)
    }

    /// How many revoked sessions are remembered.
    pub fn len(&self) -> usize {
        self.ids.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no revoked session is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn record(&self, revoked: &[RevokedSession], now: u64) {
        let mut ids = self.ids.write().unwrap_or_else(|p| p.into_inner());
        for entry in revoked {
            ids.insert(entry.sid.clone(), entry.revoked_at);
        }
        let oldest_kept = now.saturating_sub(REMEMBER_FOR.as_secs());
        ids.retain(|_, revoked_at| *revoked_at >= oldest_kept);
    }
}

/// The most entries in one page of the feed: the public service answers
/// in pages of this many, and an app refuses a longer one.
pub const PAGE_LEN: usize = 1000;
/// The longest session id read from the feed, far above the 22 characters
/// of the ids the public service issues.
pub const MAX_SID_LEN: usize = 255;

/// One page of `GET /sessions/revoked`.
#[derive(Debug, Deserialize, serde::Serialize)]
pub struct RevokedPage {
    /// The sessions revoked since the request's `since` (and after its
    /// `after`), in (`revoked_at`, `sid`) order, at most one page of them.
    pub revoked: Vec<RevokedSession>,
    /// The public service's clock when it answered.
    pub now: u64,
    /// More entries wait: ask again with `since` = the last `revoked_at`
    /// and `after` = the last `sid`.
    #[serde(default)]
    pub more: bool,
}

/// One revoked session of the feed.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct RevokedSession {
    /// The session's id, as handoff tokens carry it in `sid`.
    pub sid: String,
    /// Unix seconds when the public service revoked it, by its clock.
    pub revoked_at: u64,
}

impl RevokedPage {
    /// A page as the public service writes it (a JSON object, its entries
    /// objects too), with at most [`PAGE_LEN`]
    /// entries, each a session id of 1 to [`MAX_SID_LEN`] bytes; `None`
    /// for anything else (the poll fails, and says so, rather than keep
    /// what a page beyond those bounds says). Public so the fuzz targets
    /// reach the parsing the app uses.
    pub fn parse(body: &[u8]) -> Option<Self> {
        // Objects only, the page and each entry: the derived readers would
        // also take arrays of the fields' values.
        let generic: serde_json::Value = serde_json::from_slice(body).ok()?;
        let entries = generic.get("revoked")?.as_array()?;
        if !generic.is_object() || !entries.iter().all(serde_json::Value::is_object) {
            return None;
        }
        let page: Self = serde_json::from_value(generic).ok()?;
        let bounded = page.revoked.len() <= PAGE_LEN
            && page
                .revoked
                .iter()
                .all(|entry| !entry.sid.is_empty() && entry.sid.len() <= MAX_SID_LEN);
        bounded.then_some(page)
    }
}

/// Fetches pages of the revocation feed.
struct RevocationPoller {
    url: Url,
    tokens: Arc<IdTokenSource>,
    http: reqwest::Client,
    revoked: Arc<RevokedSessions>,
    clock: SharedClock,
}

/// Where the next fetch starts, and whether the last one failed.
struct Cursor {
    since: u64,
    failing: bool,
}

/// The revoked-session list kept fresh on the request path (see the
/// module's documentation).
pub struct RevocationFeed {
    poller: RevocationPoller,
    interval: Duration,
    started: Instant,
    /// Milliseconds after `started` when the last good fetch began; 0: none yet.
    fresh_at: AtomicU64,
    /// Milliseconds after `started` when the last fetch failed; 0: none.
    failed_at: AtomicU64,
    /// Whether a fetch beside requests has been started and not ended.
    fetching_aside: AtomicBool,
    /// Held while a fetch runs: one at a time.
    cursor: tokio::sync::Mutex<Cursor>,
}

impl RevocationFeed {
    /// `url`: the public service's `/sessions/revoked`; `tokens`: this
    /// app's service-account ID tokens for the public service;
    /// `interval`: the promised bound (a fetch at least this often while
    /// requests come).
    pub fn new(
        url: Url,
        tokens: Arc<IdTokenSource>,
        interval: Duration,
        revoked: Arc<RevokedSessions>,
        clock: SharedClock,
    ) -> Arc<Self> {
        let since = clock.unix_seconds().saturating_sub(REMEMBER_FOR.as_secs());
        Arc::new(Self {
            poller: RevocationPoller {
                url,
                tokens,
                http: crate::back_channel::client(Duration::from_secs(5)),
                revoked,
                clock,
            },
            interval,
            started: Instant::now(),
            fresh_at: AtomicU64::new(0),
            failed_at: AtomicU64::new(0),
            fetching_aside: AtomicBool::new(false),
            cursor: tokio::sync::Mutex::new(Cursor {
                since,
                failing: false,
            }),
        })
    }

    /// The list this feed keeps up to date (the `revoked` it was made
    /// with); [`crate::gate::HandoffGate::refusing_revoked_from`] checks
    /// tokens against it.
    pub fn revoked(&self) -> &Arc<RevokedSessions> {
        &self.poller.revoked
    }

    /// Whether one fetch has succeeded (readiness: an app that cannot
    /// read the feed cannot keep its promise, and says so).
    pub fn has_fetched(&self) -> bool {
        self.fresh_at.load(Ordering::Acquire) != 0
    }

    /// Makes the list fresh enough for a request to rely on: returns at
    /// once while it is, starts a fetch beside the request when half the
    /// interval has passed, and waits for a fetch when a whole interval
    /// has (at most two seconds, and not within a second of a failed
    /// fetch: an outage must not slow every request). Never fails: a feed
    /// that cannot be read leaves the list as it was (logged).
    pub async fn ensure_fresh(self: &Arc<Self>) {
        match self.age() {
            Some(age) if age < self.interval / 2 => {}
            Some(age) if age < self.interval => self.fetch_aside(),
            _ => {
                if self
                    .since(&self.failed_at)
                    .is_some_and(|t| t < AFTER_FAILURE)
                {
                    return;
                }
                let _ = tokio::time::timeout(MAX_WAIT, self.fetch()).await;
            }
        }
    }

    /// Fetches every half interval until the process ends, for hosts
    /// that give a background task CPU; requests do not depend on it.
    pub fn spawn(self: &Arc<Self>) {
        let feed = self.clone();
        tokio::spawn(async move {
            loop {
                feed.fetch().await;
                tokio::time::sleep(feed.interval / 2).await;
            }
        });
    }

    fn fetch_aside(self: &Arc<Self>) {
        if self.fetching_aside.swap(true, Ordering::AcqRel) {
            return;
        }
        let feed = self.clone();
        tokio::spawn(async move {
            feed.fetch().await;
            feed.fetching_aside.store(false, Ordering::Release);
        });
    }

    /// One fetch at a time; a caller that waited for another's finds the
    /// list fresh and returns.
    async fn fetch(&self) {
        let mut cursor = self.cursor.lock().await;
        if self.age().is_some_and(|age| age < self.interval / 2) {
            return;
        }
        let began = self.now_ms();
        match self.poller.poll(cursor.since).await {
            Ok(next) => {
                if cursor.failing {
                    tracing::info!("revocation polling works again");
                }
                cursor.failing = false;
                cursor.since = next;
                self.fresh_at.store(began, Ordering::Release);
            }
            Err(reason) => {
                if !cursor.failing {
                    tracing::warn!(%reason, "revocation polling failed; sign-outs are honoured at token expiry until it works");
                }
                cursor.failing = true;
                self.failed_at.store(self.now_ms(), Ordering::Release);
            }
        }
    }

    /// How old the list is (since its fetch began), if fetched at all.
    fn age(&self) -> Option<Duration> {
        self.since(&self.fresh_at)
    }

    fn since(&self, mark: &AtomicU64) -> Option<Duration> {
        match mark.load(Ordering::Acquire) {
            0 => None,
            at => Some(Duration::from_millis(self.now_ms().saturating_sub(at))),
        }
    }

    /// Milliseconds after `started`, never 0 (0 means "never").
    fn now_ms(&self) -> u64 {
        (self.started.elapsed().as_millis() as u64).max(1)
    }
}

/// The feed's URL for the page after `after` (the last entry read), or
/// for the first page since `since`. Public so the fuzz targets can check
/// that the public service reads it back as written.
pub fn page_url(feed: &Url, since: u64, after: Option<&RevokedSession>) -> Url {
    let mut url = feed.clone();
    {
        let mut query = url.query_pairs_mut();
        match after {
            None => query.append_pair("since", &since.to_string()),
            Some(last) => query
                .append_pair("since", &last.revoked_at.to_string())
                .append_pair("after", &last.sid),
        };
    }
    url
}

impl RevocationPoller {
    /// Fetches every page since `since`; returns where the next poll starts.
    async fn poll(&self, since: u64) -> Result<u64, String> {
        // Within a poll, pages follow a cursor: the last entry's time and
        // id, so a second with more revocations than a page loses none.
        let mut after: Option<RevokedSession> = None;
        loop {
            let bearer = self.tokens.bearer().await.map_err(|e| e.to_string())?;
            let url = page_url(&self.url, since, after.as_ref());
            let response = self
                .http
                .get(url)
                .header(reqwest::header::AUTHORIZATION, bearer)
                .send()
                .await
                .map_err(|e| crate::back_channel::describe(&e))?;
            if !response.status().is_success() {
                return Err(format!("status {}", response.status().as_u16()));
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| crate::back_channel::describe(&e))?;
            let page = RevokedPage::parse(&body).ok_or_else(|| "unreadable answer".to_owned())?;
            self.revoked
                .record(&page.revoked, self.clock.unix_seconds());
            let moved_on = |last: &RevokedSession| {
                after.as_ref().is_none_or(|previous| {
                    (previous.revoked_at, &previous.sid) < (last.revoked_at, &last.sid)
                })
            };
            match (page.more, page.revoked.last()) {
                // A server that does not move on is not followed round.
                (true, Some(last)) if moved_on(last) => after = Some(last.clone()),
                _ => return Ok(page.now.saturating_sub(OVERLAP)),
            }
        }
    }
}

#[cfg(test)]
mod tests;

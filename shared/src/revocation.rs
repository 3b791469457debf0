//! Revoked sessions, so a copied handoff token stops working soon after
//! its user signs out rather than only at its expiry.
//!
//! An app polls the public service's `GET /sessions/revoked?since=<unix>`
//! (authenticated with its service account's ID token) every interval and
//! keeps the revoked session ids in memory until no token naming them can
//! still be valid. The worst-case delay is one interval plus one request.
//! When the public service cannot be reached the app keeps serving (and
//! logs it): sign-outs are then honoured at token expiry, as without
//! polling.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

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

/// Ids of revoked sessions and when they were revoked.
#[derive(Default)]
pub struct RevokedSessions {
    ids: RwLock<HashMap<String, u64>>,
}

impl RevokedSessions {
    pub fn is_revoked(&self, sid: &str) -> bool {
        self.ids
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(sid)
    }

    pub fn len(&self) -> usize {
        self.ids.read().unwrap_or_else(|p| p.into_inner()).len()
    }

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

/// One page of `GET /sessions/revoked`.
#[derive(Debug, Deserialize, serde::Serialize)]
pub struct RevokedPage {
    pub revoked: Vec<RevokedSession>,
    /// The public service's clock when it answered.
    pub now: u64,
    /// More entries wait: ask again with `since` = the last `revoked_at`.
    #[serde(default)]
    pub more: bool,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct RevokedSession {
    pub sid: String,
    pub revoked_at: u64,
}

pub struct RevocationPoller {
    url: Url,
    tokens: Arc<IdTokenSource>,
    http: reqwest::Client,
    revoked: Arc<RevokedSessions>,
    interval: Duration,
    clock: SharedClock,
}

impl RevocationPoller {
    /// `url`: the public service's `/sessions/revoked`; `tokens`: this
    /// app's service-account ID tokens for the public service.
    pub fn new(
        url: Url,
        tokens: Arc<IdTokenSource>,
        interval: Duration,
        revoked: Arc<RevokedSessions>,
        clock: SharedClock,
    ) -> Self {
        let http = crate::back_channel::client(Duration::from_secs(5));
        Self {
            url,
            tokens,
            http,
            revoked,
            interval,
            clock,
        }
    }

    /// Polls until the process ends.
    pub fn spawn(self) {
        tokio::spawn(async move {
            let mut since = self
                .clock
                .unix_seconds()
                .saturating_sub(REMEMBER_FOR.as_secs());
            let mut failing = false;
            loop {
                match self.poll(since).await {
                    Ok(next) => {
                        if failing {
                            tracing::info!("revocation polling works again");
                        }
                        failing = false;
                        since = next;
                    }
                    Err(reason) => {
                        if !failing {
                            tracing::warn!(%reason, "revocation polling failed; sign-outs are honoured at token expiry until it works");
                        }
                        failing = true;
                    }
                }
                tokio::time::sleep(self.interval).await;
            }
        });
    }

    /// Fetches every page since `since`; returns where the next poll starts.
    async fn poll(&self, mut since: u64) -> Result<u64, String> {
        loop {
            let bearer = self.tokens.bearer().await.map_err(|e| e.to_string())?;
            let mut url = self.url.clone();
            url.query_pairs_mut()
                .append_pair("since", &since.to_string());
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
            let page: RevokedPage = response
                .json()
                .await
                .map_err(|_| "unreadable answer".to_owned())?;
            self.revoked
                .record(&page.revoked, self.clock.unix_seconds());
            match (page.more, page.revoked.last()) {
                (true, Some(last)) if last.revoked_at > since => since = last.revoked_at,
                _ => return Ok(page.now.saturating_sub(OVERLAP)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_ids_are_forgotten_once_no_token_can_name_them() {
        let revoked = RevokedSessions::default();
        let entry = |sid: &str, at: u64| RevokedSession {
            sid: sid.into(),
            revoked_at: at,
        };
        revoked.record(&[entry("old", 1_000), entry("new", 2_000)], 2_000);
        assert!(revoked.is_revoked("old") && revoked.is_revoked("new"));
        revoked.record(&[], 1_000 + REMEMBER_FOR.as_secs() + 1);
        assert!(!revoked.is_revoked("old"));
        assert!(revoked.is_revoked("new"));
        assert!(!revoked.is_revoked("never"));
    }
}

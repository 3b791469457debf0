//! Waiting for an app to hear of an ended session: it learns of it only
//! through its poll of the revoked-sessions feed (a handoff token is not
//! expired when its session ends), so a test gives it a few polls.

use std::time::Duration;

use super::{TestApp, REVOCATION_POLL_INTERVAL};
use crate::browser::Browser;

/// How often a test asks the app again while it waits.
const RETRY: Duration = Duration::from_millis(100);

impl TestApp {
    /// Whether `api_url` (an app's JSON route, `/api/me`) refuses
    /// `browser`'s handoff token with `401` within `polls` of the apps'
    /// revocation polls ([`REVOCATION_POLL_INTERVAL`] each).
    pub async fn refuses_within_polls(&self, browser: &Browser, api_url: &str, polls: u32) -> bool {
        let tries = polls * REVOCATION_POLL_INTERVAL.as_millis() as u32 / RETRY.as_millis() as u32;
        for _ in 0..tries {
            if browser.get_json(api_url).await.status == 401 {
                return true;
            }
            tokio::time::sleep(RETRY).await;
        }
        false
    }
}

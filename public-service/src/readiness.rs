//! The last readiness answer (`/readyz`, in [`crate::routes::health`]),
//! kept a moment so that a flood of probes costs one check, not one per
//! request, and checked by one probe at a time.

use std::future::Future;
use std::time::{Duration, Instant};

/// The last readiness answer, and the lock that makes one check at a time.
#[derive(Default)]
pub struct Readiness {
    last: tokio::sync::Mutex<Option<(Instant, Checked)>>,
}

/// What a readiness check found.
#[derive(Clone, Copy)]
pub struct Checked {
    pub storage: bool,
    pub provider: bool,
}

impl Readiness {
    /// The answer of a check made less than `keep` ago, or of `check` now.
    pub async fn checked(&self, keep: Duration, check: impl Future<Output = Checked>) -> Checked {
        let mut last = self.last.lock().await;
        match *last {
            Some((at, checked)) if at.elapsed() < keep => checked,
            _ => {
                let checked = check.await;
                *last = Some((Instant::now(), checked));
                checked
            }
        }
    }
}

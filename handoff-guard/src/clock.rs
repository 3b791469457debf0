//! Injectable time, so expiry is tested by moving a clock, not by sleeping.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the library reads the time: token lifetimes, binding verifiers,
/// remembered revocations and the refusal log's intervals are all dated by
/// one. Production uses [`SystemClock`]; tests move an [`OffsetClock`].
pub trait Clock: Send + Sync + 'static {
    /// The current time. It is read on every verification, so it must be
    /// cheap and must not block.
    fn now(&self) -> SystemTime;

    /// [`Self::now`] in whole seconds since the Unix epoch, the unit of
    /// every JWT time claim; 0 for a time before 1970.
    fn unix_seconds(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The wall clock shifted by an adjustable offset (tests); it can also be
/// stopped, so that only [`OffsetClock::advance`] moves it.
#[derive(Debug, Default, Clone)]
pub struct OffsetClock {
    offset_seconds: Arc<AtomicI64>,
    /// The wall-clock second it was stopped at; 0 while it runs.
    stopped_at: Arc<AtomicU64>,
}

impl OffsetClock {
    /// Stops the wall clock's part at the current second: from now on the
    /// time moves only when advanced or rewound, however long the test
    /// runs (for what depends on how many seconds pass, such as intervals).
    pub fn stop(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_secs().max(1));
        let _ = self
            .stopped_at
            .compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Moves the clock forward by `by` in whole seconds (a fraction of a
    /// second is dropped). Clones share the offset, so a clock handed to a
    /// verifier moves with the test's copy.
    pub fn advance(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.offset_seconds.fetch_add(secs, Ordering::SeqCst);
    }

    /// Moves the clock back by `by` in whole seconds (a fraction of a
    /// second is dropped), as [`Self::advance`] moves it forward.
    pub fn rewind(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.offset_seconds.fetch_sub(secs, Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> SystemTime {
        let offset = self.offset_seconds.load(Ordering::SeqCst);
        let now = match self.stopped_at.load(Ordering::SeqCst) {
            0 => SystemTime::now(),
            stopped => UNIX_EPOCH + Duration::from_secs(stopped),
        };
        if offset >= 0 {
            now + Duration::from_secs(offset.unsigned_abs())
        } else {
            now - Duration::from_secs(offset.unsigned_abs())
        }
    }
}

/// A clock as the library's types take it. Give the same one to
/// everything of one app (the verifier, the gate, the code redemption),
/// so that they agree on the time.
pub type SharedClock = Arc<dyn Clock>;

//! Log lines of refused requests that a flood cannot multiply: see
//! [`RefusalLog`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::SharedClock;

/// Refusals of one reason that were counted but not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// The reason's label, as given to [`RefusalLog::new`].
    pub reason: &'static str,
    /// How many were not written one by one.
    pub not_logged: u64,
    /// Over how many seconds: from the first refusal of the interval to
    /// the moment the summary was taken.
    pub seconds: u64,
}

/// Per reason: the start of its interval and the refusals seen in it.
#[derive(Debug, Default)]
struct Slot {
    /// Unix seconds; 0 before the first refusal.
    since: AtomicU64,
    seen: AtomicU64,
}

/// Which refused requests to log one by one, per reason, so a flood of
/// them is a few lines and a count.
///
/// Anyone can send a forged token, and a line per refusal would make ten
/// thousand forgeries a second ten thousand log lines a second, paid for
/// by whoever runs the service. Per reason, the first
/// [`IN_FULL`](Self::IN_FULL) refusals of every
/// [`INTERVAL`](Self::INTERVAL) are written in full; the others are only
/// counted, and the count is handed back once the interval is over, for
/// one summary line ("N more in the last S s, not logged one by one").
/// The gate and the service-caller check log their refusals through one;
/// a host can put its own refusals (its request log's `4xx`) through
/// another.
///
/// Nothing runs in the background (Cloud Run gives an idle instance no
/// CPU): an interval's summary comes with the next refusal of its reason
/// after the interval, or from [`RefusalLog::summaries`], which its owner
/// calls on any request it sees. A flood followed by silence leaves its
/// last count unwritten until the next request; counters (the owner's
/// metrics) count every refusal as it happens.
///
/// Each reason has two atomics and no lock: a refusal is a clock read and
/// one or two atomic operations. Every refusal is either written in full
/// or in exactly one summary's count, whatever the threads do.
pub struct RefusalLog {
    reasons: &'static [&'static str],
    slots: Box<[Slot]>,
    clock: SharedClock,
}

impl std::fmt::Debug for RefusalLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefusalLog")
            .field("reasons", &self.reasons)
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

impl RefusalLog {
    /// Refusals of one reason written in full per interval: enough to see
    /// what is being sent and why it fails, few enough that a flood costs
    /// nothing.
    pub const IN_FULL: u64 = 5;

    /// How long the [`IN_FULL`](Self::IN_FULL) budget lasts, and the
    /// longest a flood goes without a summary while requests keep coming.
    pub const INTERVAL: Duration = Duration::from_secs(10);

    /// One budget per label of `reasons` (a handful: [`Self::summaries`]
    /// looks at each), timed by `clock`.
    pub fn new(reasons: &'static [&'static str], clock: SharedClock) -> Self {
        Self {
            reasons,
            slots: reasons.iter().map(|_| Slot::default()).collect(),
            clock,
        }
    }

    /// Counts one refusal of `reasons[reason]` (an index out of range is
    /// the last reason). Whether to write its line in full, and the summary
    /// of the reason's previous interval when this refusal ends it (write
    /// that first).
    pub fn refusal(&self, reason: usize) -> (bool, Option<Summary>) {
        let index = reason.min(self.slots.len().saturating_sub(1));
        let Some(slot) = self.slots.get(index) else {
            return (true, None);
        };
        let now = self.clock.unix_seconds();
        let since = slot.since.load(Ordering::Acquire);
        if self.is_over(since, now)
            && slot
                .since
                .compare_exchange(since, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // This refusal opens the next interval, as its first.
            let seen = slot.seen.swap(1, Ordering::AcqRel);
            return (true, self.summary(index, seen, since, now));
        }
        // Numbered 1, 2, … within the interval: the first IN_FULL are written.
        let number = slot.seen.fetch_add(1, Ordering::AcqRel) + 1;
        (number <= Self::IN_FULL, None)
    }

    /// Hands `write` the summary of every reason whose interval is over
    /// with refusals not written, and starts their next interval. Cheap
    /// when there is none: one atomic load per reason.
    pub fn summaries(&self, mut write: impl FnMut(Summary)) {
        let mut now = None;
        for (index, slot) in self.slots.iter().enumerate() {
            if slot.seen.load(Ordering::Acquire) <= Self::IN_FULL {
                continue;
            }
            let now = *now.get_or_insert_with(|| self.clock.unix_seconds());
            let since = slot.since.load(Ordering::Acquire);
            if !self.is_over(since, now) {
                continue;
            }
            if slot
                .since
                .compare_exchange(since, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                let seen = slot.seen.swap(0, Ordering::AcqRel);
                if let Some(summary) = self.summary(index, seen, since, now) {
                    write(summary);
                }
            }
        }
    }

    fn is_over(&self, since: u64, now: u64) -> bool {
        now >= since.saturating_add(Self::INTERVAL.as_secs())
    }

    /// The summary of an interval that saw `seen` refusals, if some were
    /// not written.
    fn summary(&self, index: usize, seen: u64, since: u64, now: u64) -> Option<Summary> {
        (seen > Self::IN_FULL).then(|| Summary {
            reason: self.reasons[index],
            not_logged: seen - Self::IN_FULL,
            seconds: now.saturating_sub(since),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::OffsetClock;

    const REASONS: &[&str] = &["forged", "expired"];

    fn log() -> (RefusalLog, OffsetClock) {
        let clock = OffsetClock::default();
        clock.stop();
        (RefusalLog::new(REASONS, Arc::new(clock.clone())), clock)
    }

    /// Sends `n` refusals of `reason`: how many were to be written in full,
    /// and the summaries they brought.
    fn refuse(log: &RefusalLog, reason: usize, n: u64) -> (u64, Vec<Summary>) {
        let mut written = 0;
        let mut summaries = Vec::new();
        for _ in 0..n {
            let (in_full, summary) = log.refusal(reason);
            written += u64::from(in_full);
            summaries.extend(summary);
        }
        (written, summaries)
    }

    fn taken(log: &RefusalLog) -> Vec<Summary> {
        let mut out = Vec::new();
        log.summaries(|s| out.push(s));
        out
    }

    #[test]
    fn the_first_few_of_an_interval_are_written_and_the_rest_summarised_by_the_next() {
        let (log, clock) = log();
        assert_eq!(refuse(&log, 0, 1000), (RefusalLog::IN_FULL, vec![]));
        // Within the interval nothing is due, whatever asks.
        clock.advance(RefusalLog::INTERVAL - Duration::from_secs(1));
        assert_eq!(taken(&log), []);
        clock.advance(Duration::from_secs(1));
        let (written, summaries) = refuse(&log, 0, 1);
        assert_eq!(written, 1, "the first of the next interval is written");
        assert_eq!(
            summaries,
            [Summary {
                reason: "forged",
                not_logged: 1000 - RefusalLog::IN_FULL,
                seconds: RefusalLog::INTERVAL.as_secs(),
            }]
        );
        // The next interval goes on from there.
        assert_eq!(refuse(&log, 0, 10), (RefusalLog::IN_FULL - 1, vec![]));
    }

    #[test]
    fn any_request_after_the_interval_takes_the_summaries_once() {
        let (log, clock) = log();
        refuse(&log, 0, 7);
        refuse(&log, 1, 3);
        clock.advance(RefusalLog::INTERVAL * 3);
        let due = taken(&log);
        assert_eq!(
            due,
            [Summary {
                reason: "forged",
                not_logged: 2,
                seconds: 3 * RefusalLog::INTERVAL.as_secs(),
            }],
            "only a reason with refusals not written has a summary"
        );
        assert_eq!(taken(&log), [], "taken once");
        // Its budget is whole again.
        assert_eq!(
            refuse(&log, 0, RefusalLog::IN_FULL),
            (RefusalLog::IN_FULL, vec![])
        );
        // The other's interval is over too; its next refusal opens a new
        // one, written in full, with nothing to summarise.
        assert_eq!(refuse(&log, 1, 1), (1, vec![]));
    }

    #[test]
    fn reasons_have_budgets_of_their_own() {
        let (log, _clock) = log();
        assert_eq!(refuse(&log, 0, 100).0, RefusalLog::IN_FULL);
        assert_eq!(refuse(&log, 1, 100).0, RefusalLog::IN_FULL);
        assert_eq!(refuse(&log, 7, 1).0, 0, "out of range counts as the last");
    }

    #[test]
    fn every_refusal_of_many_threads_is_written_or_in_exactly_one_summary() {
        let (log, clock) = log();
        let log = Arc::new(log);
        let (threads, each, rounds) = (8u64, 500u64, 4);
        let mut written = 0;
        let mut summarised = 0;
        for _ in 0..rounds {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let log = log.clone();
                    std::thread::spawn(move || {
                        let mut mine = (0, 0);
                        for _ in 0..each {
                            let (in_full, summary) = log.refusal(0);
                            mine.0 += u64::from(in_full);
                            mine.1 += summary.map_or(0, |s| s.not_logged);
                            // Some threads also take summaries, as any
                            // request would.
                            log.summaries(|s| mine.1 += s.not_logged);
                        }
                        mine
                    })
                })
                .collect();
            for handle in handles {
                let (w, s) = handle.join().unwrap();
                written += w;
                summarised += s;
            }
            clock.advance(RefusalLog::INTERVAL);
        }
        log.summaries(|s| summarised += s.not_logged);
        assert_eq!(written + summarised, threads * each * rounds);
        assert!(
            written <= RefusalLog::IN_FULL * (rounds + 1),
            "{written} written"
        );
    }
}

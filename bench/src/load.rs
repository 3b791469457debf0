//! Closed-loop load from this process, for flows `wrk` cannot repeat with
//! one fixed request: `connections` tasks, each starting its next operation
//! when the last one ends. Operations started in the warm-up or still
//! running when the time is up are not counted.

use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

/// What a load generator saw in the measured window.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub completed: u64,
    pub errors: u64,
    pub seconds: f64,
    pub p50: Duration,
    pub p99: Duration,
}

impl Measured {
    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.seconds
    }
}

pub enum Outcome {
    Done,
    Failed,
    /// Nothing left to do (no unused code left): this task stops.
    Exhausted,
}

const WARMING: u8 = 0;
const MEASURING: u8 = 1;
const STOPPED: u8 = 2;

/// Runs `op` from `connections` tasks for `warmup`, then for `duration`
/// (or until every task is exhausted); `at_start` runs when measuring
/// begins.
pub async fn run<F, Fut>(
    connections: usize,
    warmup: Duration,
    duration: Duration,
    at_start: impl FnOnce() -> anyhow::Result<()>,
    op: F,
) -> anyhow::Result<Measured>
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let warming = !warmup.is_zero();
    let mut at_start = Some(at_start);
    if !warming {
        at_start.take().map_or(Ok(()), |f| f())?;
    }
    let phase = Arc::new(AtomicU8::new(if warming { WARMING } else { MEASURING }));
    let running = Arc::new(AtomicUsize::new(connections));
    let mut tasks = JoinSet::new();
    for _ in 0..connections {
        let (phase, running, op) = (phase.clone(), running.clone(), op.clone());
        tasks.spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0u64);
            while phase.load(Ordering::Acquire) != STOPPED {
                let counted = phase.load(Ordering::Acquire) == MEASURING;
                let started = Instant::now();
                let outcome = op().await;
                let counted = counted && phase.load(Ordering::Acquire) == MEASURING;
                match outcome {
                    Outcome::Done if counted => latencies.push(started.elapsed()),
                    Outcome::Failed if counted => errors += 1,
                    Outcome::Exhausted => break,
                    _ => {}
                }
            }
            running.fetch_sub(1, Ordering::AcqRel);
            (latencies, errors)
        });
    }
    let mut started = Instant::now();
    if warming {
        tokio::time::sleep(warmup).await;
        at_start.take().map_or(Ok(()), |f| f())?;
        phase.store(MEASURING, Ordering::Release);
        started = Instant::now();
    }
    while started.elapsed() < duration && running.load(Ordering::Acquire) > 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    phase.store(STOPPED, Ordering::Release);
    let (mut latencies, mut errors) = (Vec::new(), 0);
    while let Some(joined) = tasks.join_next().await {
        let (task_latencies, task_errors) = joined?;
        latencies.extend(task_latencies);
        errors += task_errors;
    }
    latencies.sort_unstable();
    Ok(Measured {
        completed: latencies.len() as u64,
        errors,
        seconds,
        p50: percentile(&latencies, 50),
        p99: percentile(&latencies, 99),
    })
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 50), Duration::from_millis(100));
        assert_eq!(percentile(&values, 99), Duration::from_millis(198));
        assert_eq!(percentile(&values[..1], 99), Duration::from_millis(1));
    }

    #[tokio::test]
    async fn exhausted_tasks_end_the_window_early() {
        let left = Arc::new(AtomicUsize::new(50));
        let measured = run(
            4,
            Duration::ZERO,
            Duration::from_secs(30),
            || Ok(()),
            move || {
                let left = left.clone();
                async move {
                    match left
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    {
                        Ok(_) => Outcome::Done,
                        Err(_) => Outcome::Exhausted,
                    }
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(measured.completed, 50);
        assert!(measured.seconds < 30.0);
    }
}

//! What both variants share: the run's settings from the environment, and
//! timing one operation many times in a row. Included by each binary with
//! `#[path]` so that it adds no crate to either variant's count.

use std::future::Future;
use std::time::Instant;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The settings of one run, from the environment `run` sets.
pub struct Settings {
    /// `FIRESTORE_EMULATOR_HOST`, host:port (the `firestore` crate reads it itself).
    #[allow(dead_code)]
    pub emulator: String,
    /// `BENCH_PROJECT`: the emulator accepts any project id.
    pub project: String,
    /// `BENCH_N`: timed calls per operation.
    pub n: usize,
    /// `BENCH_WARMUP`: untimed calls per operation before those.
    pub warmup: usize,
}

impl Settings {
    pub fn from_env() -> Result<Self, Error> {
        let emulator = std::env::var("FIRESTORE_EMULATOR_HOST").map_err(|_| {
            "FIRESTORE_EMULATOR_HOST is not set (the emulator's host:port, e.g. 127.0.0.1:8787)"
        })?;
        Ok(Self {
            emulator,
            project: std::env::var("BENCH_PROJECT").unwrap_or_else(|_| "bench-project".into()),
            n: number("BENCH_N", 300)?,
            warmup: number("BENCH_WARMUP", 30)?,
        })
    }

    /// Calls per operation, warm-up included: one document per call.
    pub fn calls(&self) -> usize {
        self.warmup + self.n
    }
}

fn number(name: &str, default: usize) -> Result<usize, Error> {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .map_err(|_| format!("{name} must be a whole number, e.g. {name}={default}").into()),
        Err(_) => Ok(default),
    }
}

/// A document id no earlier run against the same emulator has used, so the
/// creates never collide and the query stays empty.
pub fn run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("r{}{:09}", now.as_secs(), now.subsec_nanos())
}

/// Calls `op(i)` for every `i` below `settings.calls()`, one after the other;
/// the first `warmup` calls are not timed. Prints one line,
/// `op<TAB>median ms<TAB>p99 ms<TAB>n`, that `run` turns into the table.
pub async fn measure<F, Fut>(name: &str, settings: &Settings, mut op: F) -> Result<(), Error>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let mut millis = Vec::with_capacity(settings.n);
    for i in 0..settings.calls() {
        let start = Instant::now();
        op(i).await.map_err(|e| format!("{name}, call {i}: {e}"))?;
        if i >= settings.warmup {
            millis.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    millis.sort_by(f64::total_cmp);
    println!(
        "{name}\t{:.3}\t{:.3}\t{}",
        percentile(&millis, 50.0),
        percentile(&millis, 99.0),
        millis.len()
    );
    Ok(())
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

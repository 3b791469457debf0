//! What a run measures, from `BENCH_*` variables.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

pub struct RunSettings {
    /// Measured time per row (`BENCH_SECONDS`, default 10).
    pub duration: Duration,
    /// Unmeasured load before each row (`BENCH_WARMUP`, default 2).
    pub warmup: Duration,
    /// Concurrent connections or flows (`BENCH_CONNECTIONS`, default 64).
    pub connections: usize,
    /// Starts per service for start-to-ready (`BENCH_STARTS`, default 5).
    pub starts: usize,
    /// Tokens minted for the never-seen rows (`BENCH_FRESH_TOKENS`,
    /// default 300000): more than the warm-up and window can send.
    pub fresh_tokens: usize,
    /// Sign-ins one after another for the per-step costs
    /// (`BENCH_SIGN_IN_STEPS`, default 50).
    pub step_sign_ins: usize,
    /// Where the table goes (`BENCH_RESULTS`, default `bench/RESULTS.md`).
    pub results: PathBuf,
    /// The release binaries to start (`BENCH_BINARIES`, a directory):
    /// another build's, to compare two commits with one driver. Unset: the
    /// directory of this driver.
    pub binaries: Option<PathBuf>,
    /// Where the rows' figures also go as tab-separated lines, for
    /// `bench-compare` (`BENCH_FIGURES`). Unset: not written.
    pub figures: Option<PathBuf>,
    /// Only these rows, by kind (`BENCH_ROWS=AppCookieDefaults,FreshValid`;
    /// `Steps` for the sign-in steps), beside their baselines: for trying a
    /// change quickly. Unset: every row.
    pub only: Option<Vec<String>>,
}

impl RunSettings {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            duration: Duration::from_secs(number("BENCH_SECONDS", 10, 1)?),
            warmup: Duration::from_secs(number("BENCH_WARMUP", 2, 0)?),
            connections: number("BENCH_CONNECTIONS", 64, 1)? as usize,
            starts: number("BENCH_STARTS", 5, 1)? as usize,
            fresh_tokens: number("BENCH_FRESH_TOKENS", 300_000, 2)? as usize,
            step_sign_ins: number("BENCH_SIGN_IN_STEPS", 50, 1)? as usize,
            results: std::env::var_os("BENCH_RESULTS")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("bench/RESULTS.md")),
            binaries: std::env::var_os("BENCH_BINARIES").map(PathBuf::from),
            figures: std::env::var_os("BENCH_FIGURES").map(PathBuf::from),
            only: std::env::var("BENCH_ROWS").ok().map(|rows| {
                rows.split(',')
                    .map(|r| r.trim().to_owned())
                    .filter(|r| !r.is_empty())
                    .collect()
            }),
        })
    }

    /// Whether the row or part named `name` runs.
    pub fn runs(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == name))
    }
}

fn number(name: &str, default: u64, least: u64) -> anyhow::Result<u64> {
    let Ok(raw) = std::env::var(name) else {
        return Ok(default);
    };
    match raw.trim().parse::<u64>() {
        Ok(n) if n >= least => Ok(n),
        _ => bail!("{name}: expected a whole number of at least {least}, got {raw:?}"),
    }
}

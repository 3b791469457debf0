//! `bench-compare`: lays two builds' runs of the benchmark side by side.
//!
//! `bench/before-after` runs the same driver against the release binaries
//! of an earlier commit and of the working tree, alternately, each run
//! writing its rows' figures (`BENCH_FIGURES`); this reads them and prints
//! one Markdown table: for each row, each side's requests/s and ratio to
//! the baseline measured right before it (the mean over that side's runs,
//! with the spread), and the after side's ratio over the before side's.
//! Ratios are what is compared, not requests/s, because each cancels the
//! machine's drift between runs.
//!
//! `bench-compare --before FILE... --after FILE...`
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write;
use std::process::ExitCode;

use anyhow::{bail, Context};

/// One row of one run, as the driver wrote it.
struct Figures {
    title: String,
    per_second: f64,
    ratio: f64,
    p99_ms: f64,
    peak_rss: u64,
}

/// One side's runs: for each row kind, in the driver's order, its figures
/// in every run.
#[derive(Default)]
struct Side {
    order: Vec<String>,
    rows: BTreeMap<String, Vec<Figures>>,
    runs: usize,
}

fn main() -> ExitCode {
    match run() {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-compare: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<String> {
    let (before, after) = sides(std::env::args().skip(1))?;
    Ok(table(&before, &after))
}

fn sides(args: impl Iterator<Item = String>) -> anyhow::Result<(Side, Side)> {
    let (mut before, mut after) = (Side::default(), Side::default());
    let mut current: Option<&mut Side> = None;
    for arg in args {
        match arg.as_str() {
            "--before" => current = Some(&mut before),
            "--after" => current = Some(&mut after),
            path => {
                let Some(side) = current.as_deref_mut() else {
                    bail!("usage: bench-compare --before FILE... --after FILE... (got {path:?} first)");
                };
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
                side.add(&text).with_context(|| format!("in {path}"))?;
            }
        }
    }
    if before.runs == 0 || after.runs == 0 {
        bail!("usage: bench-compare --before FILE... --after FILE... (each side needs a run)");
    }
    Ok((before, after))
}

impl Side {
    fn add(&mut self, text: &str) -> anyhow::Result<()> {
        for (n, line) in text.lines().enumerate().skip(1) {
            let fields: Vec<&str> = line.split('\t').collect();
            let [kind, title, per_second, ratio, _p50, p99, peak] = fields[..] else {
                bail!("line {}: expected 7 tab-separated fields", n + 1);
            };
            let number = |s: &str| {
                s.parse::<f64>()
                    .with_context(|| format!("line {}: {s:?} is not a number", n + 1))
            };
            let figures = Figures {
                title: title.to_owned(),
                per_second: number(per_second)?,
                ratio: number(ratio)?,
                p99_ms: number(p99)?,
                peak_rss: peak
                    .parse()
                    .with_context(|| format!("line {}: {peak:?} is not a byte count", n + 1))?,
            };
            if !self.rows.contains_key(kind) {
                self.order.push(kind.to_owned());
            }
            self.rows.entry(kind.to_owned()).or_default().push(figures);
        }
        self.runs += 1;
        Ok(())
    }
}

fn table(before: &Side, after: &Side) -> String {
    let mut t = String::from(
        "| Row | Requests/s before | Requests/s after | × baseline before | × baseline after | After ÷ before | p99 before | p99 after | Peak RSS before | Peak RSS after |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
    );
    for kind in &after.order {
        let (Some(b), Some(a)) = (before.rows.get(kind), after.rows.get(kind)) else {
            continue;
        };
        let (b_ratio, a_ratio) = (mean(b, |f| f.ratio), mean(a, |f| f.ratio));
        let change = if b_ratio > 0.0 {
            format!("{:.2}", a_ratio / b_ratio)
        } else {
            "–".to_owned()
        };
        let _ = writeln!(
            t,
            "| {} | {:.0} | {:.0} | {} | {} | {} | {:.2} ms | {:.2} ms | {:.1} MB | {:.1} MB |",
            a[0].title,
            mean(b, |f| f.per_second),
            mean(a, |f| f.per_second),
            spread(b, |f| f.ratio),
            spread(a, |f| f.ratio),
            change,
            mean(b, |f| f.p99_ms),
            mean(a, |f| f.p99_ms),
            mean(b, |f| f.peak_rss as f64) / 1e6,
            mean(a, |f| f.peak_rss as f64) / 1e6,
        );
    }
    let _ = writeln!(
        t,
        "\nBefore: {} run(s); after: {} run(s). × baseline: the mean of the runs (their range in brackets when there are several); after ÷ before: the after side's mean ratio over the before side's. The baseline rows are the same code on both sides, so their requests/s show how far the machine drifted between runs.",
        before.runs, after.runs
    );
    t
}

fn mean(runs: &[Figures], f: impl Fn(&Figures) -> f64) -> f64 {
    runs.iter().map(&f).sum::<f64>() / runs.len() as f64
}

fn spread(runs: &[Figures], f: impl Fn(&Figures) -> f64) -> String {
    let m = mean(runs, &f);
    if runs.len() < 2 {
        return format!("{m:.2}");
    }
    let lo = runs.iter().map(&f).fold(f64::INFINITY, f64::min);
    let hi = runs.iter().map(&f).fold(f64::NEG_INFINITY, f64::max);
    format!("{m:.2} ({lo:.2}–{hi:.2})")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "kind\ttitle\trequests_per_second\tratio\tp50_ms\tp99_ms\tpeak_rss_bytes\n";

    fn run_file(app_rps: f64, ratio: f64) -> String {
        format!(
            "{HEADER}BaselineWrk\tBaseline\t100000.0\t1.0000\t0.5\t2.0\t5000000\nAppCookie\tApp\t{app_rps}\t{ratio}\t0.7\t1.5\t10000000\n"
        )
    }

    #[test]
    fn a_row_compares_the_mean_ratios_of_the_two_sides() {
        let mut before = Side::default();
        before.add(&run_file(80000.0, 0.80)).unwrap();
        before.add(&run_file(84000.0, 0.84)).unwrap();
        let mut after = Side::default();
        after.add(&run_file(90000.0, 0.90)).unwrap();
        let t = table(&before, &after);
        let app = t.lines().find(|l| l.starts_with("| App ")).unwrap();
        // 0.90 / 0.82 = 1.0976
        assert!(
            app.contains("| 82000 | 90000 | 0.82 (0.80–0.84) | 0.90 | 1.10 |"),
            "{app}"
        );
        assert!(t.contains("Before: 2 run(s); after: 1 run(s)"), "{t}");
    }

    #[test]
    fn a_row_missing_on_one_side_is_left_out() {
        let mut before = Side::default();
        before
            .add(&format!(
                "{HEADER}BaselineWrk\tBaseline\t1.0\t1.0\t0.5\t2.0\t5\n"
            ))
            .unwrap();
        let mut after = Side::default();
        after.add(&run_file(1.0, 1.0)).unwrap();
        let t = table(&before, &after);
        assert!(t.contains("| Baseline |"), "{t}");
        assert!(!t.contains("| App |"), "{t}");
    }

    #[test]
    fn a_malformed_line_is_refused_with_its_number() {
        let err = Side::default()
            .add(&format!("{HEADER}AppCookie\tApp\tfast\t1\t1\t1\t1\n"))
            .unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = Side::default()
            .add(&format!("{HEADER}AppCookie\tApp\n"))
            .unwrap_err();
        assert!(err.to_string().contains("7 tab-separated fields"), "{err}");
    }

    #[test]
    fn both_sides_need_a_run() {
        let args = ["--before".to_owned()];
        assert!(sides(args.into_iter()).is_err());
        let args = ["file-without-side".to_owned()];
        let err = sides(args.into_iter()).err().unwrap();
        assert!(err.to_string().contains("usage"), "{err}");
    }
}

//! Tests that cannot run here (a tool or a server missing) pass after
//! saying why; a plain `cargo test` would then count them as passed. Each
//! skip is also recorded, one line in `target/skipped-tests/<binary>.txt`,
//! so that `tests/skipped` (which `.ci/run` runs after the tests) can say how
//! many tests were skipped and why.
//!
//! A test process empties its binary's file at its first skip, so a file
//! holds the skips of the last run of that binary that skipped anything.
//! `tests/skipped --clear` before a run makes the report exact.
//!
//! A plain `cargo test` must not need that script to be honest: the first
//! skip in a process registers an exit handler, so the binary's output
//! ends, after libtest's `test result:` line, with how many of its tests
//! skipped and why (grouped by reason). libtest has no end-of-run hook and
//! decides `ignored` at compile time only, hence `atexit`.

use std::fmt::Display;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// Where the records go: `CARGO_TARGET_DIR`, or the workspace's `target/`.
pub fn directory() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("skipped-tests")
}

/// The test binary's name without cargo's hash (`e2e`, `load`).
fn binary() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe
        .as_ref()
        .and_then(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "unknown".into());
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name.to_owned()
        }
        _ => stem,
    }
}

static FILE: OnceLock<Mutex<Option<std::fs::File>>> = OnceLock::new();

/// Every skip of this process, `(test, reason)`, for the summary at exit.
static SKIPS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Prints `skipped: <reason>` and records it under the running test's name.
pub fn skipped(reason: impl Display) {
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    record(&test, &reason.to_string());
}

/// Records a skipped case `name` (for suites that run several cases in one
/// test) and prints it.
pub fn record(name: &str, reason: &str) {
    eprintln!("skipped ({name}): {reason}");
    let file = FILE.get_or_init(|| {
        let dir = directory();
        let _ = std::fs::create_dir_all(&dir);
        register_summary_at_exit();
        Mutex::new(std::fs::File::create(dir.join(format!("{}.txt", binary()))).ok())
    });
    SKIPS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((name.to_owned(), reason.replace('\n', " ")));
    let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(file) = file.as_mut() {
        let reason = reason.replace('\n', " ");
        let _ = writeln!(file, "{}::{name}: {reason}", binary());
    }
}

/// The lines printed when the process exits: the count, then one line per
/// reason with how many tests it stopped, most frequent first.
pub fn summary(skips: &[(String, String)]) -> String {
    // A test that records the same reason twice counts once.
    let mut skips: Vec<&(String, String)> = skips.iter().collect();
    skips.sort_unstable();
    skips.dedup();
    let mut tests: Vec<&str> = skips.iter().map(|(test, _)| test.as_str()).collect();
    tests.sort_unstable();
    tests.dedup();
    let mut by_reason: Vec<(&str, usize)> = Vec::new();
    for (_, reason) in &skips {
        match by_reason.iter_mut().find(|(r, _)| *r == reason.as_str()) {
            Some((_, n)) => *n += 1,
            None => by_reason.push((reason.as_str(), 1)),
        }
    }
    by_reason.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut out = format!(
        "skipped: {} test(s) of `{}` passed above without running, because:\n",
        tests.len(),
        binary()
    );
    for (reason, n) in by_reason {
        out.push_str(&format!("  {n} × {reason}\n"));
    }
    out.push_str(
        "(each one: target/skipped-tests/; how to run them: docs/testing.md; all binaries: tests/skipped)\n",
    );
    out
}

fn register_summary_at_exit() {
    extern "C" fn print_summary() {
        // An exit handler must not unwind into C.
        let _ = std::panic::catch_unwind(|| {
            let skips = SKIPS.lock().unwrap_or_else(|p| p.into_inner());
            if !skips.is_empty() {
                // Straight to the file descriptor: libtest's capture is
                // over, and stderr is unbuffered.
                let _ = std::io::stderr().write_all(summary(&skips).as_bytes());
            }
        });
    }
    // SAFETY: `atexit` only stores the pointer to a function that lives as
    // long as the program; the handler catches every panic.
    #[allow(unsafe_code)]
    unsafe {
        libc::atexit(print_summary);
    }
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn summary_counts_tests_once_and_groups_reasons_most_frequent_first() {
        let skips = vec![
            ("a".to_owned(), "no chromium".to_owned()),
            ("b".to_owned(), "no chromium".to_owned()),
            ("c".to_owned(), "no PostgreSQL".to_owned()),
            ("c".to_owned(), "no PostgreSQL".to_owned()),
            ("d".to_owned(), "LOAD_TEST is not set".to_owned()),
        ];
        let text = summary(&skips);
        assert!(text.contains("skipped: 4 test(s)"), "{text}");
        let chromium = text.find("2 × no chromium").expect("chromium line");
        let load = text.find("1 × LOAD_TEST is not set").expect("load line");
        assert!(chromium < load, "{text}");
        assert!(text.contains("1 × no PostgreSQL"), "{text}");
    }
}

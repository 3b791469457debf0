//! Tests that cannot run here (a tool or a server missing) pass after
//! saying why; a plain `cargo test` would then count them as passed. Each
//! skip is also recorded, one line in `target/skipped-tests/<binary>.txt`,
//! so that `tests/skipped` (which `.ci/run` runs after the tests) can say how
//! many tests were skipped and why.
//!
//! A test process empties its binary's file at its first skip, so a file
//! holds the skips of the last run of that binary that skipped anything.
//! `tests/skipped --clear` before a run makes the report exact.

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
        Mutex::new(std::fs::File::create(dir.join(format!("{}.txt", binary()))).ok())
    });
    let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(file) = file.as_mut() {
        let reason = reason.replace('\n', " ");
        let _ = writeln!(file, "{}::{name}: {reason}", binary());
    }
}

//! The tools of the real-browser tests: Debian's Chromium (`CHROMIUM`
//! overrides its path), Node and `playwright-core` from
//! `tests/browser/node_modules`. `.ci/run` installs them and sets
//! `BROWSER_TEST_REQUIRED=1`, so there a missing piece fails the test;
//! elsewhere the test records a skip with the reason.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `tests/browser`: the scripts and their `node_modules`.
pub fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Chromium's path, once Chromium, Node and playwright-core are all
/// there; or why not.
pub fn tools() -> Result<PathBuf, String> {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        return Err(format!(
            "no Chromium at {} (apt-get install chromium)",
            chromium.display()
        ));
    }
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        return Err("node is not on PATH".into());
    }
    if !browser_dir().join("node_modules/playwright-core").exists() {
        return Err(format!(
            "playwright-core is not installed (npm ci --prefix {})",
            browser_dir().display()
        ));
    }
    Ok(chromium)
}

/// Chromium's path; `None`, recorded as a skip, when a tool is missing
/// and the browser test is not required; a panic when it is.
pub fn chromium_or_skip() -> Option<PathBuf> {
    match tools() {
        Ok(chromium) => Some(chromium),
        Err(reason) if std::env::var_os("BROWSER_TEST_REQUIRED").is_none() => {
            crate::skipped(format_args!(
                "{reason}; .ci/run installs what this test needs"
            ));
            None
        }
        Err(reason) => panic!("the browser test is required here: {reason}"),
    }
}

//! The supply chain: every crate in `Cargo.lock` and `fuzz/Cargo.lock`
//! against a snapshot of the RustSec advisory database, read with RustSec's
//! own library (what `cargo audit` runs), without a network.
//!
//! An advisory that applies fails the test unless `.cargo/audit.toml`
//! accepts it with its reason; an accepted advisory that no longer applies
//! fails it too, so the list stays true. Informational advisories
//! (unmaintained, unsound) are printed, not failed.
//!
//! The database: `ADVISORY_DB`, or `../shared/advisory-db` beside the
//! repository (where CI has it). Without one the test says so and passes,
//! unless `AUDIT_REQUIRED` is set (CI sets it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rustsec::advisory::Informational;
use rustsec::report::{Report, Settings};
use rustsec::{Database, Lockfile};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn database_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("ADVISORY_DB") {
        Some(dir) => PathBuf::from(dir),
        None => repository().join("../shared/advisory-db"),
    };
    dir.join("crates").is_dir().then_some(dir)
}

/// The advisory ids `.cargo/audit.toml` accepts (its `ignore` list).
fn accepted() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repository().join(".cargo/audit.toml")).unwrap();
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .flat_map(|code| code.split('"').skip(1).step_by(2))
        .filter(|id| id.starts_with("RUSTSEC-"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn no_dependency_carries_an_advisory_that_was_not_reviewed() {
    let Some(dir) = database_dir() else {
        assert!(
            std::env::var_os("AUDIT_REQUIRED").is_none(),
            "AUDIT_REQUIRED is set but no advisory database was found (ADVISORY_DB or ../shared/advisory-db)"
        );
        integration_tests::skipped(format_args!(
            "no advisory database (set ADVISORY_DB to a RustSec advisory-db checkout)"
        ));
        return;
    };
    let snapshot = std::fs::read_to_string(dir.join("SNAPSHOT")).unwrap_or_default();
    eprintln!("advisory database: {} ({})", dir.display(), snapshot.trim());
    let db = Database::open(&dir).expect("the advisory database loads");
    let accepted = accepted();
    let settings = Settings {
        informational_warnings: vec![Informational::Unmaintained, Informational::Unsound],
        ..Settings::default()
    };
    let mut unreviewed = Vec::new();
    let mut applied = BTreeSet::new();
    for lockfile in ["Cargo.lock", "fuzz/Cargo.lock"] {
        let path = repository().join(lockfile);
        let lock = Lockfile::load(&path).expect("the lock file parses");
        let report = Report::generate(&db, &lock, &settings);
        eprintln!(
            "{lockfile}: {} packages, {} advisories apply",
            lock.packages.len(),
            report.vulnerabilities.list.len()
        );
        for vulnerability in &report.vulnerabilities.list {
            let id = vulnerability.advisory.id.to_string();
            let line = format!(
                "{lockfile}: {id} in {} {}: {}",
                vulnerability.package.name,
                vulnerability.package.version,
                vulnerability.advisory.title
            );
            if accepted.contains(&id) {
                eprintln!("accepted (see .cargo/audit.toml): {line}");
                applied.insert(id);
            } else {
                unreviewed.push(line);
            }
        }
        for (kind, warnings) in &report.warnings {
            for warning in warnings {
                let id = warning
                    .advisory
                    .as_ref()
                    .map(|a| a.id.to_string())
                    .unwrap_or_default();
                eprintln!(
                    "warning ({kind:?}): {lockfile}: {} {} {id}",
                    warning.package.name, warning.package.version
                );
            }
        }
    }
    assert!(
        unreviewed.is_empty(),
        "advisories that apply and were not reviewed (upgrade, or accept in .cargo/audit.toml with the reason):\n{}",
        unreviewed.join("\n")
    );
    let stale: Vec<_> = accepted.difference(&applied).collect();
    assert!(
        stale.is_empty(),
        "accepted in .cargo/audit.toml but no longer applying (remove them): {stale:?}"
    );
}

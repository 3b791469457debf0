//! Helpers shared by the rehearsal's cases.

use std::time::Duration;

use integration_tests::browser::Page;
use integration_tests::cloud_run::rehearsal::{Options, Rehearsal, Skipped};
use integration_tests::cloud_run::spec::{self, Scalar};
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

pub const ALICE: &str = "alice@example.com";

/// A case's outcome when it did not panic: it ran, or it could not run
/// here ([`Skipped`], never with `CLOUD_RUN_REQUIRED=1`).
pub type Ran = Result<(), Skipped>;

pub async fn prepare() -> Result<Rehearsal, Skipped> {
    Rehearsal::try_prepare(Options::default()).await
}

pub fn paths(hops: &[Page]) -> Vec<String> {
    hops.iter().map(|p| p.url.path().to_owned()).collect()
}

fn key(k: &str) -> Yaml {
    Yaml::String(k.into())
}

fn child<'a>(y: &'a mut Yaml, k: &str) -> &'a mut Yaml {
    match y {
        Yaml::Hash(h) => h
            .entry(key(k))
            .or_insert_with(|| Yaml::Hash(Default::default())),
        other => panic!("{k}: not a mapping in {other:?}"),
    }
}

/// The rendered definition with its (only) container changed by `edit`:
/// for cases that need a template the YAMLs do not give (each says why).
pub fn edit_container(yaml: &str, edit: impl FnOnce(&mut Yaml)) -> String {
    let mut docs = YamlLoader::load_from_str(yaml).expect("a rendered definition");
    let containers = child(child(child(&mut docs[0], "spec"), "template"), "spec");
    match child(containers, "containers") {
        Yaml::Array(list) => edit(&mut list[0]),
        other => panic!("containers: {other:?}"),
    }
    let mut out = String::new();
    YamlEmitter::new(&mut out).dump(&docs[0]).unwrap();
    out
}

/// The rendered definition without the service annotation `name`.
pub fn without_service_annotation(yaml: &str, name: &str) -> String {
    let mut docs = YamlLoader::load_from_str(yaml).expect("a rendered definition");
    match child(child(&mut docs[0], "metadata"), "annotations") {
        Yaml::Hash(h) => assert!(h.remove(&key(name)).is_some(), "no {name} in the YAML"),
        other => panic!("metadata.annotations: {other:?}"),
    }
    let mut out = String::new();
    YamlEmitter::new(&mut out).dump(&docs[0]).unwrap();
    out
}

/// The startup probe's `field` set to `value`.
pub fn with_startup(yaml: &str, field: &str, value: Yaml) -> String {
    edit_container(yaml, |c| {
        if let Yaml::Hash(h) = child(c, "startupProbe") {
            h.insert(key(field), value);
        }
    })
}

/// Fewer startup checks, so a case that must fail does not wait the
/// YAML's full 30 × 2 s; period and timeout stay the YAML's.
pub fn with_startup_threshold(yaml: &str, threshold: i64) -> String {
    with_startup(yaml, "failureThreshold", Yaml::Integer(threshold))
}

/// Adds a variable: a template change, hence a new revision.
pub fn with_env(yaml: &str, name: &str, value: &str) -> String {
    edit_container(yaml, |c| {
        if let Yaml::Array(env) = child(c, "env") {
            let mut var = yaml_rust2::yaml::Hash::new();
            var.insert(key("name"), key(name));
            var.insert(key("value"), key(value));
            env.push(Yaml::Hash(var));
        }
    })
}

/// A variable's value in a rendered definition.
pub fn env_value(yaml: &str, name: &str) -> Option<String> {
    let spec = spec::parse(yaml).ok()?;
    spec.containers[0]
        .env
        .iter()
        .find(|v| v.name == name)
        .and_then(|v| v.value.as_ref().map(Scalar::text))
}

/// `15s`, `1m` or `30` as a duration (the services' own format).
pub fn seconds(text: &str) -> Duration {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number.parse().expect("a number of seconds");
    Duration::from_secs(match unit {
        "" | "s" => n,
        "m" => n * 60,
        other => panic!("unit {other}"),
    })
}

/// Asserts that no liveness check of `service`'s serving revision failed
/// (Cloud Run restarts a container after `failureThreshold` failures in a
/// row: <https://cloud.google.com/run/docs/configuring/healthchecks>), and
/// that at least `at_least` checks were made.
pub fn assert_no_liveness_failure(r: &Rehearsal, service: &str, at_least: u64) {
    let revision = r
        .emulator
        .service(service)
        .and_then(|s| s.current())
        .unwrap_or_else(|| panic!("{service}: no serving revision"));
    let (checks, failed, restarts) = revision.liveness.counts();
    assert!(
        failed == 0 && restarts == 0,
        "{service}: {failed} of {checks} liveness checks failed ({restarts} restarts on Cloud Run)\n{}",
        r.logs_of(service)
    );
    assert!(
        checks >= at_least,
        "{service}: {checks} liveness checks, expected at least {at_least}"
    );
}

/// Runs `check` until it is true or `limit` passes.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}

//! Runs only with `LOAD_TEST=1` (`.ci/run` sets it); otherwise it skips
//! with the reason printed and recorded (see `integration_tests::skip`).
//!
//! A bounded loopback load test: `LOAD_USERS` people (50 by default) sign
//! in over and over for `LOAD_SECONDS` (60 by default), each typing their
//! address into the mock provider's sign-in form, against the public service
//! running as its own process (so its memory can be read).
//!
//! What must hold under that load: no sign-in fails, every session handed
//! out is stored and belongs to the person it was handed to, every person's
//! grant still refreshes, and the public service's resident memory stays
//! flat once warm. The figures (sign-ins, latency, memory) are printed and
//! written to `tests/artifacts/load/figures.md`; they are reported, never
//! asserted, because speed belongs to the benchmark.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::db::Backend;
use integration_tests::{Landing, ProviderPages, TestApp, TestOptions};

/// Memory the public service may gain between the end of the warm-up and
/// the end of the run: room for allocator and connection-pool noise, far
/// below what keeping per-sign-in state in memory would cost over thousands
/// of sign-ins.
const FLAT_MEMORY_SLACK_KB: u64 = 16 * 1024;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One completed sign-in, as the person's browser saw it.
struct SignIn {
    email: String,
    session_id: String,
    elapsed: Duration,
    requests: usize,
}

/// A whole sign-in in a new browser: the app, the provider's form (the
/// person types their address), the callback, back on the app's page it
/// started at with the person's own identity.
async fn sign_in(app: Arc<TestApp>, email: String) -> Result<SignIn, String> {
    let started = Instant::now();
    let done = app
        .signing_in(&email)
        .starting_at(app.app("/?from=load"))
        .through(ProviderPages::MockForm)
        .landing(Landing::BackAtStart)
        .try_run()
        .await?;
    let session_id = done.session_id().ok_or("no session cookie")?;
    Ok(SignIn {
        email,
        session_id,
        elapsed: started.elapsed(),
        requests: done.hops.len(),
    })
}

fn resident_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

async fn spawn_stack() -> TestApp {
    let options = || TestOptions {
        interactive_provider: true,
        // One client address makes every request; the limits have their own tests.
        sign_in_rate_per_minute: 10_000_000,
        allowed_domains: vec!["corp.example".into()],
        ..TestOptions::default()
    };
    // PostgreSQL is the production backend; SQLite where it is absent.
    match TestApp::try_spawn_with(TestOptions {
        backend: Backend::Postgres,
        ..options()
    })
    .await
    {
        Some(app) => app,
        None => TestApp::spawn_with(options()).await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_people_signing_in_for_a_minute_lose_nothing_and_memory_stays_flat() {
    // A minute of load on both cores is for CI, not for a newcomer's first
    // `cargo test`: `.ci/run` sets LOAD_TEST=1.
    if !std::env::var("LOAD_TEST").is_ok_and(|v| !v.is_empty() && v != "0") {
        integration_tests::skipped(
            "the 60-second load test runs only when asked for: LOAD_TEST=1 cargo test -p integration-tests --test load (.ci/run sets it)",
        );
        return;
    }
    let users = setting("LOAD_USERS", 50) as usize;
    let seconds = setting("LOAD_SECONDS", 60);
    let app = spawn_stack().await;
    app.restart_public_service_with(
        env!("CARGO_BIN_EXE_public-service-under-test"),
        &[("WORKERS", "2"), ("RUST_LOG", "warn")],
    )
    .await;
    let pid = app
        .public_process_id()
        .expect("the public service runs as a process");
    let app = Arc::new(app);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);

    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        while Instant::now() < deadline {
            if let Some(kb) = resident_kb(pid) {
                samples.push((started.elapsed(), kb));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        samples
    });
    let people: Vec<_> = (0..users)
        .map(|n| {
            let app = app.clone();
            let email = format!("load{n}@corp.example");
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                while Instant::now() < deadline {
                    // Its own task, so that a panic in the client counts as a failure.
                    let outcome = tokio::spawn(sign_in(app.clone(), email.clone()))
                        .await
                        .unwrap_or_else(|e| Err(format!("the sign-in task failed: {e}")));
                    outcomes.push(outcome);
                }
                outcomes
            })
        })
        .collect();
    let mut signed_in = Vec::new();
    let mut failures = Vec::new();
    for person in people {
        for outcome in person.await.expect("a person's loop ends") {
            match outcome {
                Ok(sign_in) => signed_in.push(sign_in),
                Err(e) => failures.push(e),
            }
        }
    }
    let wall = started.elapsed();
    let samples = sampler.await.unwrap();

    if !failures.is_empty() {
        let captured = integration_tests::logs::captured();
        let warnings: Vec<&str> = captured
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect();
        panic!(
            "{} of {} sign-ins failed; first: {:?}\nthe services' last warnings:\n{}",
            failures.len(),
            failures.len() + signed_in.len(),
            &failures[..failures.len().min(5)],
            warnings[warnings.len().saturating_sub(10)..].join("\n")
        );
    }
    assert!(
        signed_in.len() >= users,
        "only {} sign-ins completed",
        signed_in.len()
    );

    let store = app.store().await;
    let mut missing = Vec::new();
    for done in &signed_in {
        match store
            .session(&done.session_id)
            .await
            .expect("the store answers")
        {
            Some(s) if s.email == done.email && s.revoked_at.is_none() => {}
            other => missing.push(format!("{}: {:?}", done.email, other.map(|s| s.email))),
        }
    }
    assert!(missing.is_empty(), "sessions lost or mixed up: {missing:?}");
    let mut distinct = signed_in.iter().map(|s| &s.session_id).collect::<Vec<_>>();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        signed_in.len(),
        "a session id was handed out twice"
    );

    for n in 0..users {
        let email = format!("load{n}@corp.example");
        assert!(
            app.stored_refresh_token(&email).await.is_some(),
            "{email}'s grant has no refresh token"
        );
        let answer = app.broker_token_for(&email, &[]).await;
        assert_eq!(
            answer.status, 200,
            "{email}'s grant no longer refreshes: {:?}",
            answer.json
        );
    }

    // Flat memory: the last third of the run against the end of the first third.
    let warm = samples
        .iter()
        .filter(|(at, _)| at.as_secs_f64() <= wall.as_secs_f64() / 3.0)
        .map(|(_, kb)| *kb)
        .max()
        .expect("memory samples during the warm-up");
    let late = samples
        .iter()
        .filter(|(at, _)| at.as_secs_f64() >= wall.as_secs_f64() * 2.0 / 3.0)
        .map(|(_, kb)| *kb)
        .max()
        .expect("memory samples at the end");
    let first = samples.first().map(|(_, kb)| *kb).unwrap_or_default();

    let mut latencies: Vec<Duration> = signed_in.iter().map(|s| s.elapsed).collect();
    latencies.sort();
    let requests: usize = signed_in.iter().map(|s| s.requests).sum();
    let figures = format!(
        "| figure | value |\n|---|---|\n\
         | storage | {backend} |\n\
         | people, concurrently | {users} |\n\
         | duration | {wall:.1} s |\n\
         | sign-ins completed | {done} ({rate:.1}/s) |\n\
         | HTTP requests in them | {requests} ({per:.1} per sign-in) |\n\
         | failed sign-ins | {failed} |\n\
         | sign-in latency p50 / p99 / max | {p50:.1} / {p99:.1} / {max:.1} ms |\n\
         | public service resident memory: start / end of first third / peak of last third | {first} / {warm} / {late} kB |\n",
        backend = app.db.backend,
        wall = wall.as_secs_f64(),
        done = signed_in.len(),
        rate = signed_in.len() as f64 / wall.as_secs_f64(),
        per = requests as f64 / signed_in.len() as f64,
        failed = failures.len(),
        p50 = percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        p99 = percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        max = latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    println!("{figures}");
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/load");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("figures.md"), &figures).unwrap();

    assert!(
        late <= warm + FLAT_MEMORY_SLACK_KB,
        "the public service grew from {warm} kB to {late} kB under steady load"
    );
    integration_tests::logs::assert_no_service_panics();
}

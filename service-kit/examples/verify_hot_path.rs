//! Times the per-request authentication work with and without the cache
//! of verified tokens, in one run on one machine, and prints the ratios.
//! Not a test: numbers vary with the machine; the ratios are the point.
//!
//! `cargo run --release -p shared --example verify_hot_path [iterations]`

use std::future::Future;
use std::time::{Duration, Instant};

use actix_web::cookie::Cookie;
use actix_web::test::TestRequest;
use handoff_guard::login_service::HandoffSigner;
use handoff_guard::login_service::SigningKey;
use handoff_guard::HandoffClaims;
use handoff_guard::HandoffGate;
use handoff_guard::KeySet;
use handoff_guard::{Clock, SystemClock};
use handoff_guard::{HandoffVerifier, KeySource};

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://app.example.com";

fn gate(signer: &HandoffSigner, cache_capacity: usize) -> HandoffGate {
    let verifier = HandoffVerifier::new(
        handoff_guard::Issuer::new(ISS),
        handoff_guard::Audience::new(AUD),
        KeySource::Static(KeySet::from_jwks(signer.jwks())),
    )
    .with_cache_capacity(cache_capacity);
    HandoffGate::new(
        verifier,
        "https://auth.example.com/login".parse().expect("a URL"),
        AUD.parse().expect("a URL"),
    )
}

/// Mean time of one `run` over `iterations`, after a short warm-up.
async fn time<F: Future>(iterations: u32, mut run: impl FnMut() -> F) -> Duration {
    for _ in 0..iterations.min(100) {
        run().await;
    }
    let started = Instant::now();
    for _ in 0..iterations {
        run().await;
    }
    started.elapsed() / iterations
}

fn report(what: &str, without: Duration, with: Duration) {
    println!(
        "{what:<28} no cache {:>9.2?}  cache {:>9.2?}  ratio {:>6.1}x",
        without,
        with,
        without.as_secs_f64() / with.as_secs_f64()
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let signer = HandoffSigner::new(SigningKey::generate(), vec![]);
    let now = SystemClock.unix_seconds();
    let token = signer
        .sign(&HandoffClaims {
            iss: ISS.into(),
            aud: AUD.into(),
            sub: "1234567890".into(),
            email: "alice@example.com".into(),
            name: Some("Alice".into()),
            sid: "c2Vzc2lvbi1pZC1vZi1hbGljZQ".into(),
            iat: now,
            nbf: now,
            exp: now + 600,
            jti: "bm90LWEtcmVhbC1qdGk".into(),
        })
        .expect("signing works");
    let (uncached, cached) = (gate(&signer, 0), gate(&signer, 10_000));

    let without = time(iterations, || uncached.verifier().verify_shared(&token)).await;
    let with = time(iterations, || cached.verifier().verify_shared(&token)).await;
    report("HandoffVerifier", without, with);

    let request = TestRequest::default()
        .cookie(Cookie::new(handoff_guard::HOST_ONLY_NAME, token.clone()))
        .insert_header(("accept", "application/json"))
        .to_http_request();
    assert!(cached.authenticate(&request).await.is_ok(), "signed in");
    let without = time(iterations, || uncached.authenticate(&request)).await;
    let with = time(iterations, || cached.authenticate(&request)).await;
    report("HandoffGate::authenticate", without, with);

    let registry = || {
        service_kit::metrics::count("bench_total", "Bench.", &[("outcome", "valid")]);
        service_kit::metrics::observe("bench_seconds", "Bench.", Duration::from_micros(80));
    };
    let atomics = || {
        service_kit::metrics::HANDOFF_VALID.increment();
        service_kit::metrics::HANDOFF_VERIFICATION_SECONDS.observe(Duration::from_micros(80));
    };
    // Nanoseconds each: enough calls that a preemption does not count.
    let calls = iterations.saturating_mul(50);
    for threads in [1, 2] {
        let (locked, free) = (
            on_threads(threads, calls, registry),
            on_threads(threads, calls, atomics),
        );
        println!(
            "metrics, {threads} thread(s)         registry {locked:>9.2?}  atomics {free:>7.2?}  ratio {:>6.1}x",
            locked.as_secs_f64() / free.as_secs_f64()
        );
    }
}

/// Wall time per call of `run` called `iterations` times on each of
/// `threads` threads at once.
fn on_threads(threads: u32, iterations: u32, run: impl Fn() + Sync) -> Duration {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| (0..iterations).for_each(|_| run()));
        }
    });
    started.elapsed() / (threads * iterations)
}

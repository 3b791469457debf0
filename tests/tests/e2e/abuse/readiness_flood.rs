//! A flood of `/readyz`: readiness is public (Cloud Run
//! probes it), so anyone can call it as often as they like. Answers are
//! kept for a second behind one lock, so the flood costs a bounded number
//! of checks against the database and the provider, and sign-ins keep
//! their connections.
//!
//! The count comes from `readiness_checks_total`; no other test of this
//! suite asks the public service's `/readyz`, so the process-wide counter
//! moves for this test only.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::TestApp;

const FLOOD: Duration = Duration::from_millis(2500);
const FLOODERS: usize = 8;

fn checks(metrics: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with("readiness_checks_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_readyz_costs_a_bounded_number_of_checks_and_sign_in_still_works() {
    let app = TestApp::spawn().await;
    let before = checks(&app.metrics_of(app.auth_addr).await);
    let url = format!("http://{}/readyz", app.auth_addr);
    let answered = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let flooders: Vec<_> = (0..FLOODERS)
        .map(|_| {
            let (url, answered) = (url.clone(), answered.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                while started.elapsed() < FLOOD {
                    let response = client.get(&url).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    // A sign-in in the middle of the flood completes, and promptly.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sign_in_started = Instant::now();
    let hops = app.sign_in(&app.browser(), "alice@example.com").await;
    let took = sign_in_started.elapsed();
    assert_eq!(hops.last().unwrap().status, 200);
    assert!(took < Duration::from_secs(3), "the sign-in took {took:?}");

    for flooder in flooders {
        flooder.await.unwrap();
    }
    let elapsed = started.elapsed();
    let answered = answered.load(Ordering::Relaxed);
    let checked = checks(&app.metrics_of(app.auth_addr).await) - before;
    assert!(answered >= 200, "the flood was {answered} requests only");
    // One check per kept answer's second, plus the edges.
    let bound = elapsed.as_secs_f64().ceil() + 2.0;
    assert!(
        checked <= bound,
        "{answered} readiness requests in {elapsed:?} made {checked} checks (at most {bound})"
    );
    assert!(checked >= 1.0, "the flood was answered without any check");
}

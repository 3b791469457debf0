//! The Cloud Run rehearsal: the two YAMLs and `deploy.sh` in `deploy/` as
//! the source of truth, run on the emulator in
//! `integration_tests::cloud_run` (docs/cloud-run-rehearsal.md).
//!
//! The cases that deploy run concurrently inside one test
//! ([`rehearsal`]), since each spends most of its time waiting on the
//! definitions' own probe periods and poll interval; each case's outcome
//! is printed (`ok`, `skipped` with the reason, or `FAILED`) and every
//! failing case is named. A case that cannot run here (no PostgreSQL
//! server, no `envsubst`) is skipped; with `CLOUD_RUN_REQUIRED=1`, as
//! `.ci/run` sets it, it fails instead.

mod definitions;
mod deployments;
mod flows;
mod gated;
mod real_gcloud;
mod real_gcloud_firestore;
mod support;

use std::future::Future;
use std::pin::Pin;

use integration_tests::cloud_run::rehearsal::Skipped;

use support::Ran;

type Case = (&'static str, Pin<Box<dyn Future<Output = Ran> + Send>>);

fn case(name: &'static str, f: impl Future<Output = Ran> + Send + 'static) -> Case {
    (name, Box::pin(f))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rehearsal() {
    let cases = vec![
        case(
            "both revisions pass their startup probes with the YAMLs' own numbers",
            deployments::both_revisions_pass_their_startup_probes(),
        ),
        case(
            "the DATABASE_URL exactly as deploy.sh stores it works over the Unix socket",
            deployments::the_stored_database_url_works(),
        ),
        case(
            "the empty-host DATABASE_URL form is accepted",
            deployments::the_empty_host_form_is_accepted(),
        ),
        case(
            "the localhost DATABASE_URL form is accepted",
            deployments::the_localhost_form_is_accepted(),
        ),
        case(
            "without invoker-iam-disabled the Invoker IAM check refuses every browser",
            deployments::without_the_invoker_annotation_no_browser_reaches_the_service(),
        ),
        case(
            "/readyz answers within the probe timeout while the database and the provider are slow",
            deployments::readiness_answers_in_time_with_database_and_provider_slow(),
        ),
        case(
            "a service whose readiness cannot pass fails the deployment",
            deployments::an_app_without_its_public_service_fails_the_deployment(),
        ),
        case(
            "a changed template rolls out and the old instance drains on SIGTERM",
            deployments::a_rollout_drains_the_old_instance(),
        ),
        case(
            "SIGTERM: an in-flight request completes and the process exits 0 within 10 s",
            deployments::sigterm_lets_an_in_flight_request_complete(),
        ),
        case(
            "sign-in, renewal and a refused signed-out session with frozen instances",
            flows::sign_in_renewal_and_sign_out_hold_with_cpu_throttled(),
        ),
        case(
            "the database is reached again on requests, during startup and while frozen",
            flows::the_database_is_reached_again_on_requests_with_cpu_throttled(),
        ),
        case(
            "the app is not ready until its first revocation poll succeeded",
            flows::the_app_is_not_ready_before_its_first_revocation_poll(),
        ),
        case(
            "a person signs in through the gate to its sidecar app, started after it",
            gated::a_person_signs_in_through_the_gate_to_its_sidecar_app(),
        ),
    ];
    // `CLOUD_RUN_CASE=words` runs only the cases whose name contains them.
    let only = std::env::var("CLOUD_RUN_CASE").unwrap_or_default();
    let cases: Vec<Case> = cases
        .into_iter()
        .filter(|(name, _)| name.contains(&only))
        .collect();
    let (count, started) = (cases.len(), std::time::Instant::now());
    let handles: Vec<_> = cases
        .into_iter()
        .map(|(name, f)| (name, tokio::spawn(f)))
        .collect();
    let (mut failed, mut skipped) = (Vec::new(), 0);
    for (name, handle) in handles {
        match handle.await {
            Ok(Ok(())) => eprintln!("rehearsal case ok: {name}"),
            Ok(Err(Skipped(reason))) => {
                integration_tests::skip::record(&format!("rehearsal case {name}"), &reason);
                skipped += 1;
            }
            Err(e) => {
                let reason = e
                    .try_into_panic()
                    .ok()
                    .and_then(|p| {
                        p.downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    })
                    .unwrap_or_default();
                eprintln!("rehearsal case FAILED: {name}\n    {reason}");
                failed.push(name);
            }
        }
    }
    let hint = if skipped > 0 {
        ": set CLOUD_RUN_REQUIRED=1 to fail instead"
    } else {
        ""
    };
    eprintln!(
        "rehearsal: {count} cases, {skipped} skipped{hint}, in {:.0?}",
        started.elapsed()
    );
    assert!(failed.is_empty(), "failing rehearsal cases: {failed:#?}");
}

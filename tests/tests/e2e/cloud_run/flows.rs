//! What a person does, on the rehearsed pair with request-based billing:
//! each instance is frozen whenever no request is in flight.

use std::time::{Duration, Instant};

use handoff_guard::HOST_ONLY_NAME;
use integration_tests::cloud_run::rehearsal::{app_service_account, Options, Rehearsal, APP, AUTH};
use integration_tests::cloud_run::DeployError;
use integration_tests::Landing;

use super::support::{
    assert_no_liveness_failure, env_value, eventually, paths, prepare, seconds,
    with_startup_threshold, Ran, ALICE,
};

const SESSION_COOKIE: &str = "__Host-session";

fn host(url: &url::Url) -> String {
    url.host_str().unwrap().to_owned()
}

/// Idle as Cloud Run leaves it: frozen under request-based billing (the
/// YAML's default); with `cpu-throttling: "false"` nothing is frozen.
fn frozen(r: &Rehearsal, service: &str) -> bool {
    let revision = r.emulator.service(service).unwrap().current().unwrap();
    !revision.plan.cpu_throttling || revision.instance.cpu.is_frozen()
}

pub async fn sign_in_renewal_and_sign_out_hold_with_cpu_throttled() -> Ran {
    let r = prepare().await?;
    r.deploy_both().await;
    assert!(
        eventually(Duration::from_secs(3), || frozen(&r, AUTH)
            && frozen(&r, APP))
        .await,
        "idle instances are frozen"
    );

    // A whole sign-in through both services and the provider.
    let signed_in = r.signing_in(ALICE).landing(Landing::Ok).run().await;
    let (browser, hops) = (signed_in.browser, signed_in.hops);
    // app → public service → provider (twice for a first sign-in, which
    // asks for consent to offline access) → public service → app.
    let walked = paths(&hops);
    assert_eq!(
        walked[..3],
        ["/", "/renew", "/o/oauth2/v2/auth"],
        "{walked:?}"
    );
    assert_eq!(
        walked[walked.len() - 3..],
        ["/callback", "/auth/handoff", "/"],
        "{walked:?}"
    );
    let me = browser.get_json(&r.app("/api/me")).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert!(me.body.contains(ALICE));
    let app_lines = || {
        r.emulator
            .service(APP)
            .unwrap()
            .current()
            .unwrap()
            .instance
            .logs()
    };
    // Checks that do not stop the rest of the walk: each failure is listed.
    let mut broken = Vec::new();
    // A success writes no line by default (REQUEST_LOG=failures: Cloud Run
    // logs every request itself); a refusal does, and it must be out
    // before the response completes, since the instance may freeze right
    // after it.
    let refused = r.browser().get_json(&r.app("/api/me")).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    if !app_lines()
        .iter()
        .any(|l| l.contains("\"/api/me\"") && l.contains("401"))
    {
        broken.push("the refused request's log line was not written out before the response completed (the instance froze with it unwritten)".to_owned());
    }

    // Renewal: when the app's cookie expires the browser drops it; the
    // public service's session hands over a new one without the provider.
    let session = browser
        .cookie(SESSION_COOKIE)
        .expect("the public service's session cookie");
    let expired = r.browser();
    expired.put_cookie(SESSION_COOKIE, &session.value, &host(&r.auth_url), true);
    let exchanges = r.provider.token_endpoint_calls();
    let hops = expired.navigate(&r.app("/")).await;
    assert_eq!(hops.last().unwrap().status, 200, "{:?}", paths(&hops));
    assert!(hops.iter().any(|p| p.url.path() == "/renew"));
    assert_eq!(
        r.provider.token_endpoint_calls(),
        exchanges,
        "renewed without the provider"
    );
    assert!(expired.cookie(HOST_ONLY_NAME).is_some());

    // Sign-out at the public service: the app learns of it only through
    // its revocation poll, and promises to refuse the session within
    // REVOCATION_POLL_INTERVAL.
    let token = browser.cookie(HOST_ONLY_NAME).unwrap().value;
    let copy = r.browser();
    copy.put_cookie(HOST_ONLY_NAME, &token, &host(&r.app_url), true);
    assert_eq!(copy.get_json(&r.app("/api/me")).await.status, 200);
    let out = browser
        .post_form(
            &r.auth("/logout"),
            &[],
            &[("origin", &r.auth_url.origin().ascii_serialization())],
        )
        .await;
    assert!(
        out.status.is_success() || out.status.is_redirection(),
        "{} {}",
        out.status,
        out.body
    );
    let signed_out = Instant::now();
    let bound = seconds(
        &env_value(&r.app_yaml(), "REVOCATION_POLL_INTERVAL").expect("the YAML sets the bound"),
    );
    tokio::time::sleep(bound + Duration::from_secs(1)).await;
    assert!(
        eventually(Duration::from_secs(1), || frozen(&r, APP)).await,
        "the app was idle (frozen) since the sign-out"
    );
    let answer = copy.get_json(&r.app("/api/me")).await;
    // Frozen between requests for longer than a liveness period, each
    // service was checked and never failed (on Cloud Run: no restart).
    for service in [AUTH, APP] {
        assert_no_liveness_failure(&r, service, 1);
    }
    if answer.status != 401 {
        broken.push(format!(
            "a signed-out session was not refused ({} {}) {:.0?} after sign-out (promised: within {bound:?}) while the app's CPU was throttled between requests",
            answer.status,
            answer.body.chars().take(200).collect::<String>(),
            signed_out.elapsed()
        ));
    }
    r.emulator.shutdown().await;
    assert!(broken.is_empty(), "{}", broken.join("\n    "));
    Ok(())
}

/// An app whose revocation poll cannot succeed (its metadata server mints
/// tokens for an account the public service does not know) must not
/// become ready: readiness waits for the first poll.
pub async fn the_app_is_not_ready_before_its_first_revocation_poll() -> Ran {
    let options = Options {
        app_metadata_account: Some(format!("stranger-{}", app_service_account())),
        ..Options::default()
    };
    let r = Rehearsal::try_prepare(options).await?;
    r.deploy_auth()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", r.logs_of(AUTH)));
    let yaml = with_startup_threshold(&r.app_yaml(), 4);
    match r.emulator.replace(&yaml).await {
        Err(DeployError::NotReady(e)) => assert!(e.contains("startup probe"), "{e}"),
        Ok(deployed) => panic!(
            "the app became ready ({}) although no revocation poll could succeed",
            deployed.revision
        ),
        Err(e) => panic!("{e}"),
    }
    r.emulator.shutdown().await;
    Ok(())
}

/// The database reconnect rides on requests (`public-service/src/housekeeping.rs`):
/// a revision starting while Cloud SQL is down becomes ready through its
/// startup probe's own requests once the database answers, within the
/// YAML's startup budget; and a database that restarts while the ready
/// instance is frozen is used again by the next request, with no
/// background task having run in between.
pub async fn the_database_is_reached_again_on_requests_with_cpu_throttled() -> Ran {
    let r = prepare().await?;
    r.postgres.stop().unwrap();
    let deploying = {
        let (emulator, yaml) = (r.emulator.clone(), r.auth_yaml());
        tokio::spawn(async move { emulator.replace(&yaml).await })
    };
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        !deploying.is_finished(),
        "ready without its database: {:?}",
        deploying.await
    );
    r.postgres.start_again().unwrap();
    let up = Instant::now();
    let deployed = deploying.await.unwrap();
    assert!(deployed.is_ok(), "{deployed:?}\n{}", r.logs_of(AUTH));
    let logs = r.logs_of(AUTH);
    assert!(
        logs.contains("the database cannot be reached; serving without it")
            && logs.contains("the database answers; migrations applied"),
        "{logs}"
    );
    // The retry waits at most 10 s between attempts, then one probe period.
    assert!(
        up.elapsed() < Duration::from_secs(14),
        "ready {:?} after the database answered",
        up.elapsed()
    );

    // Ready and idle: frozen. The database restarts meanwhile; the pool's
    // connections are dead, and nothing runs until the next request.
    assert!(
        eventually(Duration::from_secs(3), || frozen(&r, AUTH)).await,
        "the idle instance is frozen"
    );
    r.postgres.stop().unwrap();
    r.postgres.start_again().unwrap();
    assert!(frozen(&r, AUTH), "still frozen: no request came");
    let ready = reqwest::get(r.auth("/readyz")).await.unwrap();
    let status = ready.status();
    let body = ready.text().await.unwrap();
    assert_eq!(
        status,
        200,
        "the first request after the restart: {body}\n{}",
        r.logs_of(AUTH)
    );
    r.emulator.shutdown().await;
    Ok(())
}

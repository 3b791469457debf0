// Over 400 lines: the rehearsal's deployment cases share one emulator set-up and read as the list of what Cloud Run does to a revision.
//! Deployments as Cloud Run makes them: startup probes with the YAMLs'
//! numbers, the database over the Cloud SQL socket, failing revisions,
//! rollouts and the SIGTERM drain.

use std::time::Duration;

use integration_tests::cloud_run::instance::Checked;
use integration_tests::cloud_run::plan::ProbeAction;
use integration_tests::cloud_run::rehearsal::{Rehearsal, APP, AUTH};
use integration_tests::cloud_run::{spec, DeployError};
use mock_provider::Misbehaviour;
use sqlx::Connection;

use super::support::{
    assert_no_liveness_failure, eventually, prepare, with_env, with_startup,
    with_startup_threshold, without_service_annotation, Ran, ALICE,
};

fn startup_numbers(yaml: &str) -> (String, String, String) {
    let spec = spec::parse(yaml).unwrap();
    let probe = spec.containers[0]
        .startup_probe
        .clone()
        .expect("a startup probe in the YAML");
    let text = |s: Option<spec::Scalar>| s.map(|s| s.text()).unwrap_or_default();
    (
        text(probe.period_seconds),
        text(probe.timeout_seconds),
        text(probe.failure_threshold),
    )
}

pub async fn both_revisions_pass_their_startup_probes() -> Ran {
    let r = prepare().await?;
    r.deploy_both().await;
    for (name, yaml) in [(AUTH, r.auth_yaml()), ("app", r.app_yaml())] {
        let revision = r
            .emulator
            .service(name)
            .unwrap()
            .current()
            .expect("serving");
        let probe = &revision.plan.startup;
        let (period, timeout, threshold) = startup_numbers(&yaml);
        assert_eq!(
            (
                probe.period.as_secs().to_string(),
                probe.timeout.as_secs().to_string(),
                probe.failure_threshold.to_string()
            ),
            (period, timeout, threshold),
            "{name}: the YAML's own numbers"
        );
        assert!(matches!(probe.action, ProbeAction::HttpGet { .. }));
        assert!(
            revision.plan.cpu_throttling,
            "{name}: request-based billing, as deployed"
        );
    }
    // Readiness includes the first revocation poll: the public service
    // answered one before the app's startup probe passed.
    let app_ready = r
        .emulator
        .service(APP)
        .unwrap()
        .current()
        .unwrap()
        .ready_at
        .unwrap();
    let polled_first = r
        .emulator
        .service(AUTH)
        .unwrap()
        .served()
        .iter()
        .any(|s| s.path == "/sessions/revoked" && s.status == 200 && s.finished <= app_ready);
    assert!(
        polled_first,
        "the app became ready before one revocation poll succeeded"
    );
    // The same definition again: no new revision.
    let again = r.deploy_auth().await.unwrap();
    assert!(
        !again.changed,
        "an unchanged template makes no new revision"
    );
    assert_eq!(r.emulator.service(AUTH).unwrap().revisions().len(), 1);
    for service in [AUTH, APP] {
        assert_no_liveness_failure(&r, service, 0);
    }
    r.emulator.shutdown().await;
    Ok(())
}

/// Browsers hold no IAM role: without `run.googleapis.com/invoker-iam-disabled:
/// "true"` Cloud Run's Invoker IAM check refuses them every page
/// (<https://cloud.google.com/run/docs/authenticating/public>). The
/// annotation is a service setting: putting it back makes no new revision.
pub async fn without_the_invoker_annotation_no_browser_reaches_the_service() -> Ran {
    let r = prepare().await?;
    let annotation = "run.googleapis.com/invoker-iam-disabled";
    let checked = r
        .emulator
        .replace(&without_service_annotation(&r.auth_yaml(), annotation))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", r.logs_of(AUTH)));
    let page = reqwest::get(r.auth("/login")).await.unwrap();
    assert_eq!(page.status(), 403, "the Invoker IAM check is on");
    let body = page.text().await.unwrap();
    assert!(
        body.contains("Your client does not have permission to get URL"),
        "{body}"
    );
    let service = r.emulator.service(AUTH).unwrap();
    assert!(
        service.served().is_empty(),
        "a refused request reached the instance"
    );
    assert_eq!(service.front_refused(), ["/login"]);

    let public = r.deploy_auth().await.unwrap();
    assert!(
        !public.changed && public.revision == checked.revision,
        "a service setting, not a new revision: {public:?}"
    );
    let page = reqwest::get(r.auth("/healthz")).await.unwrap();
    assert_eq!(page.status(), 200, "deploy/public-service.yaml is public");
    r.emulator.shutdown().await;
    Ok(())
}

/// A revision that starts while Google's discovery takes forever, and
/// whose Cloud SQL instance stops answering once the schema is in place:
/// every `/readyz` the startup probe makes still answers (`503`) within
/// the YAML's `timeoutSeconds`, never a probe timeout, since the two
/// checks (a database round trip, discovery) run at once, each capped
/// (`public-service/src/routes/health.rs`); one after the other they
/// would take twice the cap. The service serves about 10 s after start:
/// the YAML does not set `PROVIDER_TIMEOUT` (10 s), which bounds
/// discovery at start.
pub async fn readiness_answers_in_time_with_database_and_provider_slow() -> Ran {
    let r = prepare().await?;
    r.provider
        .misbehave(Misbehaviour::DiscoveryDelay(Duration::from_secs(120)));
    let deploying = {
        let (emulator, yaml) = (
            r.emulator.clone(),
            with_startup_threshold(&r.auth_yaml(), 9),
        );
        tokio::spawn(async move { emulator.replace(&yaml).await })
    };
    // The database stops answering once the service has applied every
    // migration (its pool keeps the connection it used).
    let migrations = std::fs::read_dir(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../public-service/migrations/postgres"),
    )
    .unwrap()
    .filter(|e| {
        e.as_ref()
            .unwrap()
            .path()
            .extension()
            .is_some_and(|x| x == "sql")
    })
    .count() as i64;
    let mut applied = 0;
    for _ in 0..200 {
        applied = applied_migrations(&r).await;
        if applied == migrations {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        applied, migrations,
        "the service did not migrate its database"
    );
    r.postgres.freeze().unwrap();
    let deployed = deploying.await.unwrap();
    r.postgres.thaw();
    assert!(
        matches!(deployed, Err(DeployError::NotReady(_))),
        "{deployed:?}"
    );
    let revision = r.emulator.service(AUTH).unwrap().revisions().pop().unwrap();
    let timeout = revision.plan.startup.timeout;
    let (_, yaml_timeout, _) = startup_numbers(&r.auth_yaml());
    assert_eq!(timeout.as_secs().to_string(), yaml_timeout);
    let checks = revision.instance.startup_checks.lock().unwrap().clone();
    let logs = r.logs_of(AUTH);
    // The socket is bound before the service waits for both at start, so
    // checks made until it serves hang and time out; they count against
    // the startup threshold only. From the first answer on, each one
    // must come within the timeout.
    let answered = |c: &&Checked| {
        c.outcome.as_ref().err().map(String::as_str) == Some("GET /readyz answered 503")
    };
    let Some(first) = checks.iter().position(|c| answered(&c)) else {
        panic!("no /readyz answered within the probe's {timeout:?}: {checks:#?}\n{logs}");
    };
    let serving = &checks[first..];
    assert!(
        serving.len() >= 2 && serving.iter().all(|c| answered(&c) && c.took < timeout),
        "once serving, each /readyz must answer within the probe's {timeout:?}: {serving:#?}\n{logs}"
    );
    let (period, _, threshold) = startup_numbers(&r.auth_yaml());
    let budget =
        Duration::from_secs(period.parse::<u64>().unwrap() * threshold.parse::<u64>().unwrap());
    let to_serve = revision.plan.startup.period * (first as u32 + 1);
    assert!(
        to_serve < budget,
        "serving after {to_serve:?} exceeds the YAML's startup budget of {budget:?}"
    );
    assert!(
        logs.contains(r#""storage":"unavailable""#) && logs.contains(r#""provider":"unavailable""#),
        "both dependencies were slow: {logs}"
    );
    r.emulator.shutdown().await;
    Ok(())
}

/// Migrations the public service recorded as applied (0 before it made
/// the table).
async fn applied_migrations(r: &Rehearsal) -> i64 {
    let url = r.postgres.local_url("auth", &r.db_password, "auth");
    let Ok(mut db) = sqlx::PgConnection::connect(&url).await else {
        return 0;
    };
    sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut db)
        .await
        .unwrap_or(0)
}

async fn auth_tables(r: &Rehearsal) -> i64 {
    let url = r.postgres.local_url("auth", &r.db_password, "auth");
    let mut db = sqlx::PgConnection::connect(&url)
        .await
        .expect("the auth user reaches the auth database");
    sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut db)
    .await
    .unwrap()
}

pub async fn the_stored_database_url_works() -> Ran {
    let r = prepare().await?;
    assert!(
        !r.postgres.listens_on_tcp(),
        "the database listens only on its Unix socket"
    );
    let stored = std::fs::read_to_string(r.state.path().join("secrets/database-url/1")).unwrap();
    assert!(
        stored.contains("?host=/cloudsql/rehearsal-project:europe-west1:auth-db"),
        "{stored}"
    );
    let deployed = r.deploy_auth().await;
    assert!(
        deployed.is_ok(),
        "the public service does not start with the DATABASE_URL deploy.sh stores: {}\n{}",
        deployed.unwrap_err(),
        r.logs_of(AUTH)
    );
    assert!(
        auth_tables(&r).await > 0,
        "the public service created its tables in the auth database"
    );
    r.emulator.shutdown().await;
    Ok(())
}

async fn database_url_form(template: &str) -> Ran {
    let r = prepare().await?;
    let url = template
        .replace("PW", &r.db_password)
        .replace("INSTANCE", "rehearsal-project:europe-west1:auth-db");
    std::fs::write(r.state.path().join("secrets/database-url/1"), &url).unwrap();
    let deployed = r.deploy_auth().await;
    assert!(
        deployed.is_ok(),
        "{template}: {}\n{}",
        deployed.unwrap_err(),
        r.logs_of(AUTH)
    );
    assert!(auth_tables(&r).await > 0);
    r.emulator.shutdown().await;
    Ok(())
}

pub async fn the_empty_host_form_is_accepted() -> Ran {
    database_url_form("postgres://auth:PW@/auth?host=/cloudsql/INSTANCE").await
}

pub async fn the_localhost_form_is_accepted() -> Ran {
    database_url_form("postgres://auth:PW@localhost/auth?host=/cloudsql/INSTANCE").await
}

/// `deploy.sh` once deployed the app first, while the public service did
/// not exist: its readiness (the public service's keys) cannot pass.
pub async fn an_app_without_its_public_service_fails_the_deployment() -> Ran {
    let r = prepare().await?;
    let yaml = with_startup_threshold(&r.app_yaml(), 3);
    match r.emulator.replace(&yaml).await {
        Err(DeployError::NotReady(e)) => {
            assert!(e.contains("is not ready and cannot serve traffic"), "{e}");
            assert!(
                e.contains("failed the configured startup probe checks"),
                "{e}"
            );
        }
        other => panic!("expected the deployment to fail, got {other:?}"),
    }
    let service = r.emulator.service("app").unwrap();
    assert!(service.current().is_none(), "no revision serves");
    let failed = service.revisions().pop().unwrap();
    assert!(
        failed.instance.exited().is_some(),
        "the failed revision's container was shut down"
    );
    let page = reqwest::get(r.app("/healthz")).await.unwrap();
    assert_eq!(page.status(), 503, "the URL serves nothing");
    r.emulator.shutdown().await;
    Ok(())
}

pub async fn a_rollout_drains_the_old_instance() -> Ran {
    let r = prepare().await?;
    let first = r
        .deploy_auth()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", r.logs_of(AUTH)));
    let changed = with_env(&r.auth_yaml(), "REHEARSAL_GENERATION", "2");
    let second = r
        .emulator
        .replace(&changed)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(second.changed && second.revision != first.revision);
    assert_eq!(second.url, first.url, "the URL is kept across revisions");
    assert!(
        second.revision.starts_with("auth-00002-"),
        "{}",
        second.revision
    );
    let service = r.emulator.service(AUTH).unwrap();
    assert!(
        eventually(Duration::from_secs(12), || !service.stopped().is_empty()).await,
        "the old revision was shut down"
    );
    let report = service.stopped().remove(0);
    assert_eq!(report.revision, first.revision);
    assert!(
        report.exited_by_itself && report.exit_code == Some(0),
        "{report:?}"
    );

    // A new revision that cannot become ready leaves the old one serving.
    let broken = with_startup_threshold(
        &with_startup(&changed, "httpGet", yaml_path("/no-such-page")),
        2,
    );
    assert!(matches!(
        r.emulator.replace(&broken).await,
        Err(DeployError::NotReady(_))
    ));
    assert_eq!(service.current().unwrap().name, second.revision);
    assert_eq!(
        reqwest::get(r.auth("/healthz")).await.unwrap().status(),
        200
    );
    assert_no_liveness_failure(&r, AUTH, 0);
    r.emulator.shutdown().await;
    Ok(())
}

fn yaml_path(path: &str) -> yaml_rust2::Yaml {
    yaml_rust2::YamlLoader::load_from_str(&format!("path: {path}\nport: 8080\n"))
        .unwrap()
        .remove(0)
}

/// A callback whose token exchange takes 4 s is in flight when the
/// instance gets SIGTERM; it completes, and the process exits 0 in time.
pub async fn sigterm_lets_an_in_flight_request_complete() -> Ran {
    let r = prepare().await?;
    r.deploy_auth()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", r.logs_of(AUTH)));
    let browser = r.browser();
    // Only the public service is deployed: the browser comes bound to a
    // verifier, as the app would have sent it (code delivery).
    let binding = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        handoff_guard::login_service::binding_hash(&service_kit::random::url_safe_token(32)),
    );
    let callback = r
        .signing_in(ALICE)
        .in_browser(&browser)
        .at_login()
        .query("binding", &binding)
        .callback_url()
        .await;
    r.provider
        .misbehave(Misbehaviour::TokenEndpointDelay(Duration::from_secs(4)));
    let in_flight = tokio::spawn(async move { browser.get(&callback).await });
    tokio::time::sleep(Duration::from_millis(800)).await;
    let report = r
        .emulator
        .delete(AUTH)
        .await
        .flatten()
        .expect("a revision was stopped");
    let answer = in_flight.await.unwrap();
    assert!(
        answer.status.is_redirection(),
        "the in-flight callback did not complete: {} {}",
        answer.status,
        answer.body
    );
    assert!(
        report.exited_by_itself,
        "still running 10 s after SIGTERM: {report:?}"
    );
    assert_eq!(report.exit_code, Some(0), "{report:?}");
    assert!(report.seconds_to_exit < 10.0);
    Ok(())
}

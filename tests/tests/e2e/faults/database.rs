//! The database down at start and in the middle of a run.
//!
//! PostgreSQL is reached through a proxy the tests cut (these tests need
//! `TEST_DATABASE_URL` and print why they skip without it). SQLite has no
//! "down": it is a file beside the process, and one that cannot be opened
//! is a configuration error. Its fault in a run is a lock held by another
//! writer (a backup, a maintenance script); PostgreSQL's is a table lock (a
//! newer release's migration). Both are tested here: nothing may hang.

use std::time::Duration;

use integration_tests::app::TestOptions;
use integration_tests::db::{Backend, POSTGRES_URL_VAR};
use integration_tests::proxy::CuttableProxy;
use integration_tests::{logs, on_both_backends, TestApp};
use mock_provider::MockUser;
use sqlx::{Connection, Executor};

use super::{
    assert_clean_error_page, assert_nothing_leaked, readiness, wait_for_readiness, within_bound,
};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@corp.example";
/// Past the handoff token's lifetime: the next page asks for a renewal.
const PAST_TOKEN_EXPIRY: Duration = Duration::from_secs(11 * 60);

/// The deployment on PostgreSQL behind `proxy`, or `None` (reason printed).
async fn on_postgres_behind(proxy: &CuttableProxy) -> Option<TestApp> {
    if std::env::var_os(POSTGRES_URL_VAR).is_none() {
        integration_tests::skipped(format_args!(
            "needs PostgreSQL ({POSTGRES_URL_VAR} is not set)"
        ));
        return None;
    }
    within_bound(
        "starting the deployment",
        TestApp::try_spawn_with(TestOptions {
            backend: Backend::Postgres,
            database_port: Some(proxy.port()),
            ..TestOptions::default()
        }),
    )
    .await
}

/// Rows the public service keeps for `email`: (grants, sessions).
async fn rows_of(app: &TestApp, email: &str) -> (i64, i64) {
    let subject = MockUser::new(email).sub;
    let mut db = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    let mut count = async |table: &str| -> i64 {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE subject = $1"))
            .bind(&subject)
            .fetch_one(&mut db)
            .await
            .unwrap()
    };
    (count("grants").await, count("sessions").await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_service_starts_without_its_database_and_is_ready_once_it_answers() {
    let proxy = CuttableProxy::to_postgres().await;
    proxy.cut().await;
    let Some(app) = on_postgres_behind(&proxy).await else {
        return;
    };
    let live = reqwest::get(format!("http://{}/healthz", app.auth_addr))
        .await
        .unwrap();
    assert_eq!(live.status(), 200, "alive without its database");
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["storage"], "unavailable");

    let browser = app.browser();
    let hops = within_bound("a sign-in", app.sign_in(&browser, ALICE)).await;
    let callback = hops.last().unwrap();
    assert_eq!(callback.url.path(), "/callback");
    assert_clean_error_page(callback, 503);
    let broker = within_bound("a broker call", app.broker_token_for(ALICE, &[])).await;
    assert_eq!(broker.status, 503, "{broker:?}");
    assert_eq!(broker.error(), "temporarily_unavailable");

    proxy.restore().await;
    wait_for_readiness(&app, 200).await;
    let hops = app.sign_in(&browser, ALICE).await;
    assert_eq!(
        hops.last().unwrap().status,
        200,
        "{}",
        hops.last().unwrap().body
    );
    assert!(app.stored_refresh_token(ALICE).await.is_some());
    let captured = logs::captured();
    assert!(captured.contains("the database cannot be reached; serving without it"));
    assert!(captured.contains("the database answers; migrations applied"));
    assert_nothing_leaked(&app, &[&browser]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_the_service_cannot_use_stops_it_at_start_with_one_line_naming_it() {
    let app = TestApp::spawn().await;
    let binary = env!("CARGO_BIN_EXE_public-service-under-test");
    let password = "not-in-any-output-9f3b";
    let mut urls = vec![
        format!("postgres://user:{password}@127.0.0.1:port/db"),
        "sqlite:///nonexistent-directory/public.db".to_owned(),
    ];
    if let Ok(admin) = std::env::var(POSTGRES_URL_VAR) {
        let mut missing = url::Url::parse(&admin).unwrap();
        missing.set_path("/no_such_database_here");
        urls.push(missing.into());
    }
    for url in urls {
        let output = app
            .run_public_service_binary(binary, &[("DATABASE_URL", &url)], Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{url}: still running"));
        assert!(!output.status.success(), "{url}: {:?}", output.status);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{url}: {stderr}");
        assert!(lines[0].contains("DATABASE_URL"), "{url}: {stderr}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!stderr.contains(password) && !stdout.contains(password));
        assert!(!stderr.contains("panicked"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_mid_run_gives_clean_503s_and_loses_nothing() {
    let proxy = CuttableProxy::to_postgres().await;
    let Some(app) = on_postgres_behind(&proxy).await else {
        return;
    };
    let alice = app.browser();
    let hops = app.sign_in(&alice, ALICE).await;
    assert_eq!(hops.last().unwrap().status, 200);
    let refresh_token = app.stored_refresh_token(ALICE).await;
    let handoff = alice.cookie(&app.handoff_cookie()).unwrap().value;
    let sid = app.verified_sid(&handoff).await;

    proxy.cut().await;
    let bob = app.browser();
    let hops = within_bound("a sign-in", app.sign_in(&bob, BOB)).await;
    let callback = hops.last().unwrap();
    assert_eq!(callback.url.path(), "/callback");
    assert_clean_error_page(callback, 503);
    app.advance_time(PAST_TOKEN_EXPIRY);
    let hops = within_bound("a renewal", alice.navigate(&app.app("/"))).await;
    let renewal = hops.last().unwrap();
    assert_eq!(renewal.url.path(), "/renew");
    assert_clean_error_page(renewal, 503);
    let broker = within_bound("a broker call", app.broker_token_for(ALICE, &[])).await;
    assert_eq!(broker.status, 503, "{broker:?}");
    assert_eq!(within_bound("readiness", readiness(&app)).await.0, 503);

    proxy.restore().await;
    wait_for_readiness(&app, 200).await;
    assert_eq!(
        rows_of(&app, BOB).await,
        (0, 0),
        "nothing of Bob's half-written"
    );
    let hops = alice.navigate(&app.app("/")).await;
    assert_eq!(hops.last().unwrap().status, 200, "Alice renews");
    let handoff = alice.cookie(&app.handoff_cookie()).unwrap().value;
    assert_eq!(app.verified_sid(&handoff).await, sid, "in the same session");
    assert_eq!(app.stored_refresh_token(ALICE).await, refresh_token);
    let broker = app.broker_token_for(ALICE, &[]).await;
    assert_eq!(broker.status, 200, "{broker:?}");
    let hops = app.sign_in(&bob, BOB).await;
    assert_eq!(hops.last().unwrap().status, 200, "Bob signs in now");
    assert_eq!(rows_of(&app, BOB).await, (1, 1));
    assert_nothing_leaked(&app, &[&alice, &bob]);
}

/// Takes the lock another client would hold: a writer's on SQLite (in WAL
/// mode readers go on), a schema migration's on PostgreSQL (nothing on the
/// tables goes on).
async fn hold_lock(app: &TestApp, backend: Backend) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    let mut holder = sqlx::AnyConnection::connect(&app.db.url).await.unwrap();
    match backend {
        Backend::Sqlite => holder.execute("BEGIN EXCLUSIVE").await.unwrap(),
        Backend::Postgres => {
            holder.execute("BEGIN").await.unwrap();
            holder
                .execute("LOCK TABLE grants, sessions IN ACCESS EXCLUSIVE MODE")
                .await
                .unwrap()
        }
        Backend::Firestore => panic!("a SQL lock: this suite runs on the SQL backends"),
    };
    holder
}

async fn a_locked_database_gives_clean_503s_until_the_lock_is_released(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let alice = app.browser();
    let hops = app.sign_in(&alice, ALICE).await;
    assert_eq!(hops.last().unwrap().status, 200);

    let mut holder = hold_lock(&app, backend).await;
    let bob = app.browser();
    let hops = within_bound("a sign-in", app.sign_in(&bob, BOB)).await;
    assert_clean_error_page(hops.last().unwrap(), 503);
    app.advance_time(PAST_TOKEN_EXPIRY);
    let hops = within_bound("a renewal", alice.navigate(&app.app("/"))).await;
    let renewal = hops.last().unwrap();
    assert_eq!(renewal.url.path(), "/renew");
    assert_clean_error_page(renewal, 503);

    holder.execute("ROLLBACK").await.unwrap();
    drop(holder);
    let hops = alice.navigate(&app.app("/")).await;
    assert_eq!(hops.last().unwrap().status, 200, "Alice renews");
    let hops = app.sign_in(&bob, BOB).await;
    assert_eq!(hops.last().unwrap().status, 200, "Bob signs in now");
    assert_nothing_leaked(&app, &[&alice, &bob]);
}

on_both_backends!(a_locked_database_gives_clean_503s_until_the_lock_is_released);

//! Nothing is lost when the public service restarts: a new process on the
//! same database keeps grants and sessions, and the database never holds a
//! refresh token in the clear.

use integration_tests::db::Backend;
use integration_tests::on_both_backends;
use integration_tests::TestApp;
use sqlx::Row;

use super::{assert_nothing_leaked, signed_in};

const ALICE: &str = "alice@example.com";

async fn a_restarted_public_service_keeps_grants_and_sessions(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    let before = app.broker_token_for(ALICE, &[]).await;
    assert_eq!(before.status, 200);

    app.restart_public_service(env!("CARGO_BIN_EXE_public-service-under-test"))
        .await;

    // The session survived: once the handoff cookie has expired, renewal
    // is silent.
    let session = browser.cookie("__Host-session").unwrap().value;
    assert!(browser.cookie(&app.handoff_cookie()).is_some());
    browser.clear_cookies();
    browser.put_cookie("__Host-session", &session, "auth.example.test", true);
    let calls = app.provider.token_endpoint_calls();
    let hops = browser.navigate(&app.app("/")).await;
    assert_eq!(
        hops.len(),
        3,
        "{:?}",
        hops.iter().map(|p| p.url.path()).collect::<Vec<_>>()
    );
    assert_eq!(hops[1].url.path(), "/renew");
    assert_eq!(hops.last().unwrap().status, 200);
    // The grant survived: the broker answers from the stored access token.
    let after = app.broker_token_for(ALICE, &[]).await;
    assert_eq!(after.status, 200, "{after:?}");
    assert_eq!(after.access_token(), before.access_token());
    assert_eq!(app.provider.token_endpoint_calls(), calls);
    assert_nothing_leaked(&app, &[&browser], &[&session, before.access_token()]);
}

async fn the_database_never_holds_a_refresh_token_in_the_clear(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    app.advance_time(std::time::Duration::from_secs(3600));
    assert_eq!(app.broker_token_for(ALICE, &[]).await.status, 200);
    let secrets = app.provider.issued_tokens();
    assert!(
        secrets.iter().any(|t| t.starts_with("1//")),
        "a refresh token was issued"
    );
    let session_secret = browser.cookie("__Host-session").unwrap().value;
    let session_secret = session_secret.split('.').nth(1).unwrap().to_owned();

    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.db.url).await.unwrap();
    let mut stored: Vec<Vec<u8>> = Vec::new();
    for table in ["grants", "sessions"] {
        let columns: Vec<String> = match backend {
            Backend::Sqlite => {
                sqlx::query(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .fetch_all(&pool)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get::<String, _>(0))
                    .collect()
            }
            Backend::Postgres => sqlx::query(
                "SELECT column_name::text FROM information_schema.columns WHERE table_name = $1",
            )
            .bind(table)
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect(),
            Backend::Firestore => panic!("SQL columns: this check runs on the SQL backends"),
        };
        assert!(columns.len() > 5, "{table}: {columns:?}");
        for column in columns {
            let cast = match backend {
                Backend::Sqlite => format!("CAST({column} AS BLOB)"),
                Backend::Postgres => format!("convert_to(CAST({column} AS TEXT), 'UTF8')"),
                Backend::Firestore => unreachable!("refused above"),
            };
            for row in sqlx::query(&format!("SELECT {cast} FROM {table}"))
                .fetch_all(&pool)
                .await
                .unwrap()
            {
                if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>, _>(0) {
                    stored.push(bytes);
                }
            }
        }
    }
    assert!(!stored.is_empty());
    for secret in secrets.iter().chain([&session_secret]) {
        for value in &stored {
            assert!(
                !value.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a token is stored in the clear"
            );
        }
    }
    if backend == Backend::Sqlite {
        // Also every byte of the database files, WAL included.
        let path = app.db.url.trim_start_matches("sqlite://").to_owned();
        for file in [path.clone(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                for secret in &secrets {
                    assert!(
                        !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                        "{file} holds a token in the clear"
                    );
                }
            }
        }
    }
    assert_nothing_leaked(&app, &[&browser], &[]);
}

on_both_backends!(
    a_restarted_public_service_keeps_grants_and_sessions,
    the_database_never_holds_a_refresh_token_in_the_clear,
);

//! The suite against the SQL store, on SQLite and on PostgreSQL, each
//! function on a database of its own.
//!
//! PostgreSQL is the server `TEST_DATABASE_URL` names (`.ci/run` sets
//! `postgres://postgres@127.0.0.1:5432/test`); each run creates a database
//! with a random name there and drops it after, so parallel runs never
//! meet. Without the variable the PostgreSQL runs say so and pass.

use std::sync::Arc;

use sqlx::{Connection, Executor};

use crate::store::{Storage, Store, StoreOptions};

const POSTGRES_URL_VAR: &str = "TEST_DATABASE_URL";

/// A store on a fresh database, and what removes the database after.
struct Fresh {
    store: Arc<dyn Storage>,
    _sqlite_dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

async fn sqlite() -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("conformance.db").display());
    Fresh {
        store: Arc::new(Store::connect(&url, StoreOptions::default()).await.unwrap()),
        _sqlite_dir: Some(dir),
        postgres: None,
    }
}

async fn postgres() -> Option<Fresh> {
    let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
        eprintln!(
            "skipped: {POSTGRES_URL_VAR} is not set (e.g. postgres://postgres@127.0.0.1:5432/test)"
        );
        return None;
    };
    let name = format!("conformance_{}", service_kit::random::url_safe_token(9))
        .to_lowercase()
        .replace('-', "_");
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    admin
        .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&format!("/{name}"));
    Some(Fresh {
        store: Arc::new(
            Store::connect(url.as_str(), StoreOptions::default())
                .await
                .unwrap(),
        ),
        _sqlite_dir: None,
        postgres: Some((admin_url, name)),
    })
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Outside async code, on a thread and runtime of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let drop = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                    let _ = admin.execute(drop.as_str()).await;
                }
            });
        })
        .join();
    }
}

macro_rules! on_both_backends {
    ($($suite:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $suite() {
                    let fresh = super::sqlite().await;
                    crate::store::conformance::$suite(&*fresh.store).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $suite() {
                    let Some(fresh) = super::postgres().await else { return };
                    crate::store::conformance::$suite(&*fresh.store).await;
                }
            )+
        }
    };
}

on_both_backends!(
    grants,
    leases,
    sessions,
    revocation_feed,
    codes,
    logout_tokens,
    users,
    reseal,
);

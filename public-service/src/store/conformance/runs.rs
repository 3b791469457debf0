//! The suite against the SQL store, on SQLite and on PostgreSQL, each
//! function on a database of its own.
//!
//! PostgreSQL is the server `TEST_DATABASE_URL` names (`.ci/run` sets
//! `postgres://postgres@127.0.0.1:5432/test`); each run creates a database
//! with a random name there and drops it after, so parallel runs never
//! meet. Without the variable the PostgreSQL runs say so and pass.
//!
//! Firestore is the emulator at `FIRESTORE_EMULATOR_HOST` (`.ci/run`
//! starts one); each run uses a project of its own (`conformance-…`), which
//! the emulator keeps apart from every other, so runs in parallel never
//! meet. Without the variable the Firestore runs say so and pass.

use std::sync::Arc;

use sqlx::{Connection, Executor};

use crate::store::{FirestoreAccess, FirestoreStore, Storage, Store, StoreOptions};

const POSTGRES_URL_VAR: &str = "TEST_DATABASE_URL";
const EMULATOR_VAR: &str = "FIRESTORE_EMULATOR_HOST";

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

fn firestore() -> Option<Fresh> {
    let Ok(host) = std::env::var(EMULATOR_VAR) else {
        eprintln!(
            "skipped: {EMULATOR_VAR} is not set (e.g. 127.0.0.1:8686, with `gcloud emulators firestore start --host-port=127.0.0.1:8686`)"
        );
        return None;
    };
    let mut random = [0u8; 6];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut random);
    let project: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let access = FirestoreAccess {
        emulator_host: Some(host),
        ..FirestoreAccess::default()
    };
    let url = format!("firestore://conformance-{project}");
    Some(Fresh {
        store: Arc::new(FirestoreStore::open(&url, &StoreOptions::default(), &access).unwrap()),
        _sqlite_dir: None,
        postgres: None,
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

macro_rules! on_every_backend {
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
        mod firestore {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $suite() {
                    let Some(fresh) = super::firestore() else { return };
                    crate::store::conformance::$suite(&*fresh.store).await;
                }
            )+
        }
    };
}

on_every_backend!(
    grants,
    leases,
    sessions,
    revocation_feed,
    codes,
    logout_tokens,
    users,
    reseal,
);

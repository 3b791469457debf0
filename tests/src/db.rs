//! A fresh database per test, on either backend.
//!
//! SQLite: a file in a temporary directory (a file, not `:memory:`, so a
//! restarted service finds its data). PostgreSQL: a database of its own on
//! the server named by `TEST_DATABASE_URL`, dropped when the test ends.
//! Without that variable PostgreSQL tests are skipped with a printed reason.

use std::fmt;

use public_service::store::{FirestoreAccess, Storage, StoreOptions, WhenUnreachable};
use sqlx::{Connection, Executor};
use url::Url;

pub const POSTGRES_URL_VAR: &str = "TEST_DATABASE_URL";
/// The Firestore emulator (`host:port`), the variable Google's clients and
/// the public service read; `.ci/run` starts the emulator and sets it.
pub const FIRESTORE_EMULATOR_VAR: &str = "FIRESTORE_EMULATOR_HOST";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// Firestore's real emulator, a project of its own per test.
    Firestore,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::Firestore => "Firestore",
        })
    }
}

pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    /// `FIRESTORE_EMULATOR_HOST` for a Firestore database.
    pub firestore_emulator: Option<String>,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// A new empty database, or `None` (with the reason printed) when the
    /// backend is not available here.
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("public.db").display());
                Some(Self {
                    url,
                    backend,
                    firestore_emulator: None,
                    _dir: Some(dir),
                    postgres: None,
                })
            }
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
                    crate::skipped(format_args!(
                        "{POSTGRES_URL_VAR} is not set (e.g. postgres://postgres@127.0.0.1:5432/test); `.ci/run` sets it"
                    ));
                    return None;
                };
                let name = format!("authpair_test_{}", random_suffix());
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} is set but unreachable: {e}"));
                admin
                    .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
                    .await
                    .expect("CREATE DATABASE");
                let mut url = Url::parse(&admin_url).expect("a valid PostgreSQL URL");
                url.set_path(&format!("/{name}"));
                Some(Self {
                    url: url.into(),
                    backend,
                    firestore_emulator: None,
                    _dir: None,
                    postgres: Some((admin_url, name)),
                })
            }
            Backend::Firestore => {
                let Ok(host) = std::env::var(FIRESTORE_EMULATOR_VAR) else {
                    crate::skipped(format_args!(
                        "{FIRESTORE_EMULATOR_VAR} is not set (e.g. 127.0.0.1:8686, from `gcloud emulators firestore start`); `.ci/run` starts the emulator and sets it"
                    ));
                    return None;
                };
                // The emulator keeps projects apart: a project of its own
                // is an empty database that no other test sees
                // (https://cloud.google.com/firestore/docs/emulator).
                Some(Self {
                    url: format!("firestore://e2e-{}", random_suffix()),
                    backend,
                    firestore_emulator: Some(host),
                    _dir: None,
                    postgres: None,
                })
            }
        }
    }
}

impl TestDatabase {
    /// The store on this database, as the public service opens it
    /// (migrated, reachable).
    pub async fn open_store(&self) -> std::sync::Arc<dyn Storage> {
        let access = FirestoreAccess {
            emulator_host: self.firestore_emulator.clone(),
            ..FirestoreAccess::default()
        };
        let store = public_service::store::open(
            &self.url,
            StoreOptions::default(),
            &access,
            WhenUnreachable::Fail,
        )
        .await
        .expect("the test database opens");
        assert!(store.try_prepare().await, "the test database is reachable");
        store
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside async code: use a runtime of our own, on a thread
        // of its own, so this works inside a test's runtime too.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = admin
                        .execute(
                            format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str(),
                        )
                        .await;
                }
            });
        })
        .join();
    }
}

fn random_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|_| char::from(b'a' + rng.gen_range(0..26)))
        .collect()
}

/// Runs each named `async fn(Backend)` once per backend, as
/// `sqlite::<name>`, `postgres::<name>` and `firestore::<name>`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),+ $(,)?) => {
        $crate::on_both_backends!($($name),+);
        mod firestore {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::db::Backend::Firestore).await
                }
            )+
        }
    };
}

/// Runs each named `async fn(Backend)` once per SQL backend, as
/// `sqlite::<name>` and `postgres::<name>`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::db::Backend::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::db::Backend::Postgres).await
                }
            )+
        }
    };
}

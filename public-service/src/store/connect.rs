//! Opening the store: the pool, the migrations, and a PostgreSQL server
//! that is not there yet.
//!
//! SQLite is a file beside the process: one that cannot be opened is a
//! configuration error, and the service stops at start. PostgreSQL is
//! another machine, which may be down when the service starts (maintenance,
//! a restart of the whole region). The service then starts anyway, not
//! ready, and a background task applies the migrations as soon as the
//! server answers; until then storage calls fail at once and readiness is
//! false. What waiting cannot cure (a refused password, a missing database,
//! a schema from a newer release) still stops the service at start.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{MigrateError, Migrator};

use super::{describe, normalise, Backend, Store, StoreError, StoreOptions};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Waits between attempts to reach a database that was down at start:
/// the first, doubled each time up to the last.
const FIRST_RETRY: Duration = Duration::from_millis(250);
const LAST_RETRY: Duration = Duration::from_secs(10);

/// Why the schema could not be prepared, and whether waiting may help.
struct Unprepared {
    error: StoreError,
    unreachable: bool,
}

impl Store {
    /// Connects and applies pending migrations before returning.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let store = Self::open(url, &options).await?;
        store.prepare().await.map_err(|u| u.error)?;
        Ok(store)
    }

    /// What the service starts with: [`Self::connect`], except that a
    /// PostgreSQL server that cannot be reached is waited for in the
    /// background instead of stopping the service.
    pub async fn start(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let store = Self::open(url, &options).await?;
        match store.prepare().await {
            Ok(()) => Ok(store),
            Err(u) if u.unreachable && store.backend == Backend::Postgres => {
                tracing::warn!(
                    reason = %u.error,
                    "the database cannot be reached; serving without it (not ready) until it answers"
                );
                store.clone().wait_for_database(u.error.to_string());
                Ok(store)
            }
            Err(u) => Err(u.error),
        }
    }

    /// Whether the migrations have run (the database answered since start).
    pub fn is_prepared(&self) -> bool {
        self.migrated.load(Ordering::Acquire)
    }

    async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalise(url)?;
        let connect_options =
            AnyConnectOptions::from_str(&url).map_err(|_| StoreError::MalformedUrl)?;
        let in_memory = backend == Backend::Sqlite && url.contains(":memory:");
        let pool_options = AnyPoolOptions::new()
            // Every SQLite connection to `:memory:` is a database of its own.
            .max_connections(if in_memory {
                1
            } else {
                options.max_connections.max(1)
            })
            .min_connections(if in_memory { 1 } else { 0 })
            .acquire_timeout(options.timeout)
            // An in-memory database lives only as long as its connection.
            .idle_timeout((!in_memory).then_some(Duration::from_secs(300)))
            .max_lifetime((!in_memory).then_some(Duration::from_secs(1800)));
        let pool = match backend {
            Backend::Sqlite => pool_options
                .connect_with(connect_options)
                .await
                .map_err(|e| {
                    StoreError::Unavailable(format!(
                        "the SQLite file cannot be opened ({})",
                        describe(&e)
                    ))
                })?,
            // Connections are made on first use, so a server that is down
            // does not stop the service here (see `start`).
            Backend::Postgres => pool_options.connect_lazy_with(connect_options),
        };
        Ok(Self {
            pool,
            backend,
            migrated: Arc::new(AtomicBool::new(false)),
            timeout: options.timeout,
            sqlite_file: backend == Backend::Sqlite && !in_memory,
        })
    }

    /// Applies pending migrations (and SQLite's journal mode) once.
    async fn prepare(&self) -> Result<(), Unprepared> {
        let failed = |e: &sqlx::Error| Unprepared {
            error: StoreError::Unavailable(describe(e)),
            unreachable: is_unreachable(e),
        };
        if self.sqlite_file {
            // WAL lets readers run beside the one writer; it persists in the file.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&self.pool)
                .await
                .map_err(|e| failed(&e))?;
        }
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await.map_err(|e| match &e {
            MigrateError::Execute(inner) | MigrateError::ExecuteMigration(inner, _) => Unprepared {
                error: StoreError::Migration(describe_migration_error(&e)),
                unreachable: is_unreachable(inner),
            },
            _ => Unprepared {
                error: StoreError::Migration(describe_migration_error(&e)),
                unreachable: false,
            },
        })?;
        self.migrated.store(true, Ordering::Release);
        Ok(())
    }

    /// Tries again, less and less often, until the migrations have run.
    /// One line says the database was reached; another whenever the reason
    /// for waiting changes.
    fn wait_for_database(self, mut last_reason: String) {
        tokio::spawn(async move {
            let mut wait = FIRST_RETRY;
            loop {
                tokio::time::sleep(wait).await;
                match self.prepare().await {
                    Ok(()) => {
                        tracing::info!("the database answers; migrations applied");
                        return;
                    }
                    Err(u) => {
                        let reason = u.error.to_string();
                        if reason != last_reason {
                            tracing::warn!(%reason, "still waiting for the database");
                            last_reason = reason;
                        }
                        wait = (wait * 2).min(LAST_RETRY);
                    }
                }
            }
        });
    }
}

/// Errors of a server that is down, restarting or out of reach, as
/// opposed to one that answers and refuses (a password, a database name).
fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        // SQLSTATE classes 08 (connection exception), 53 (insufficient
        // resources), 57P (operator intervention: shutting down, starting up).
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("53") || c.starts_with("57P")),
        _ => false,
    }
}

fn describe_migration_error(e: &MigrateError) -> String {
    match e {
        MigrateError::Execute(inner) | MigrateError::ExecuteMigration(inner, _) => describe(inner),
        MigrateError::VersionMismatch(v) => format!("migration {v} was changed after it ran"),
        MigrateError::VersionMissing(v) => format!(
            "the database has migration {v}, which this binary does not know (a newer release ran?)"
        ),
        MigrateError::Dirty(v) => format!("migration {v} failed part-way earlier"),
        _ => "failed".into(),
    }
}

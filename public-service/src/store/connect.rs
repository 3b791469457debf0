//! Opening the store: the pool, the migrations, and a PostgreSQL server
//! that is not there yet.
//!
//! SQLite is a file beside the process: one that cannot be opened is a
//! configuration error, and the service stops at start. PostgreSQL is
//! another machine, which may be down when the service starts (maintenance,
//! a restart of the whole region). The service then starts anyway, not
//! ready, and applies the migrations as soon as the server answers; until
//! then storage calls fail at once and readiness is false. What waiting
//! cannot cure (a refused password, a missing database, a schema from a
//! newer release) still stops the service at start.
//!
//! The next attempt is made by whatever comes first: a request (see
//! `crate::housekeeping`), a readiness probe, or a background timer. The
//! timer alone would not do on Cloud Run, which throttles an instance's
//! CPU outside requests (<https://cloud.google.com/run/docs/configuring/billing-settings>).

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{MigrateError, Migrator};

use super::{describe, normalise, Backend, Store, StoreError, StoreOptions};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Waits between attempts to reach a database that was down at start:
/// the first, doubled each time up to the last.
const FIRST_RETRY: Duration = Duration::from_millis(250);
const LAST_RETRY: Duration = Duration::from_secs(10);

/// When to try a database that was down again, and what was said of it.
pub(super) struct Retry {
    started: Instant,
    /// Milliseconds after `started` before which no attempt is made.
    next_at: AtomicU64,
    wait: AtomicU64,
    trying: AtomicBool,
    last_reason: Mutex<String>,
}

impl Retry {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            next_at: AtomicU64::new(0),
            wait: AtomicU64::new(FIRST_RETRY.as_millis() as u64),
            trying: AtomicBool::new(false),
            last_reason: Mutex::new(String::new()),
        })
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

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
                *store
                    .retry
                    .last_reason
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = u.error.to_string();
                store.retry_with_backoff();
                store.clone().keep_trying_in_background();
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
            retry: Retry::new(),
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

    /// Starts another attempt at a database that was down at start, if
    /// one is due and none is running; returns at once (a request calls it).
    pub fn prepare_if_due(&self) {
        if self.is_prepared() || !self.retry_is_due() {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move { store.try_prepare().await });
    }

    /// Makes an attempt now if one is due and none is running (readiness
    /// calls it, bounded by its own timeout); true once prepared.
    pub async fn try_prepare(&self) -> bool {
        if self.is_prepared() {
            return true;
        }
        if !self.retry_is_due() || self.retry.trying.swap(true, Ordering::AcqRel) {
            return false;
        }
        // Cleared however this ends, a cancelled future included.
        struct Trying<'a>(&'a AtomicBool);
        impl Drop for Trying<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _trying = Trying(&self.retry.trying);
        match self.prepare().await {
            Ok(()) => {
                tracing::info!("the database answers; migrations applied");
                true
            }
            Err(u) => {
                let reason = u.error.to_string();
                let mut last = self
                    .retry
                    .last_reason
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if *last != reason {
                    tracing::warn!(%reason, "still waiting for the database");
                    *last = reason;
                }
                drop(last);
                self.retry_with_backoff();
                false
            }
        }
    }

    fn retry_is_due(&self) -> bool {
        self.retry.now() >= self.retry.next_at.load(Ordering::Acquire)
    }

    /// The next attempt after a failed one: the wait doubles up to the last.
    fn retry_with_backoff(&self) {
        let wait = self.retry.wait.load(Ordering::Acquire);
        self.retry
            .next_at
            .store(self.retry.now() + wait, Ordering::Release);
        let longer = (wait * 2).min(LAST_RETRY.as_millis() as u64);
        self.retry.wait.store(longer, Ordering::Release);
    }

    /// Where a background task gets CPU, it tries too, so an idle instance
    /// is ready before its next request.
    fn keep_trying_in_background(self) {
        tokio::spawn(async move {
            while !self.is_prepared() {
                tokio::time::sleep(FIRST_RETRY).await;
                self.try_prepare().await;
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

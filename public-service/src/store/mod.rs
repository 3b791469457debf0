//! Storage: grants and sessions, on SQLite or PostgreSQL.
//!
//! One interface, [`Store`], over sqlx's runtime-chosen driver: the URL
//! picks the backend (`sqlite:` for a single instance, local runs and
//! tests; `postgres:` for several Cloud Run instances on Cloud SQL). The
//! SQL is the subset both speak (`$n` parameters, `ON CONFLICT`,
//! `RETURNING`); each backend has its own migrations, embedded in the
//! binary and applied at start.
//!
//! Writes that race across instances are compare-and-swap on a row
//! `version`, so no interleaving of two instances can lose a rotated
//! refresh token (see [`grants`]).

mod codes;
mod grants;
mod sessions;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::AnyPool;

pub use codes::{NewCode, RedeemedCode};
pub use grants::{FreshTokens, GrantRecord, SignInGrant};
pub use sessions::{NewSession, SessionRecord};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database URL is not sqlite: or postgres:")]
    UnsupportedUrl,
    #[error("the database URL is malformed")]
    MalformedUrl,
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("a stored row is malformed: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::ColumnDecode { index, .. } => Self::Corrupt(format!("column {index}")),
            sqlx::Error::ColumnNotFound(name) => Self::Corrupt(format!("column {name} missing")),
            _ => Self::Unavailable(describe(&e)),
        }
    }
}

/// The kind of a database error, never its details: sqlx errors can quote
/// the connection URL (with a password) or bound values.
fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection".to_owned(),
        sqlx::Error::PoolClosed => "pool closed".to_owned(),
        sqlx::Error::Io(io) => format!("connection error ({})", io.kind()),
        sqlx::Error::Tls(_) => "TLS error".to_owned(),
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("database error {code}"),
            None => "database error".to_owned(),
        },
        _ => "query failed".to_owned(),
    }
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 5,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects and applies pending migrations.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalise(url)?;
        let connect_options =
            AnyConnectOptions::from_str(&url).map_err(|_| StoreError::MalformedUrl)?;
        let in_memory = backend == Backend::Sqlite && url.contains(":memory:");
        let max_connections = if in_memory {
            // Every SQLite connection to `:memory:` is a database of its own.
            1
        } else {
            options.max_connections.max(1)
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(if in_memory { 1 } else { 0 })
            .acquire_timeout(options.acquire_timeout)
            // An in-memory database lives only as long as its connection.
            .idle_timeout(if in_memory {
                None
            } else {
                Some(Duration::from_secs(300))
            })
            .max_lifetime(if in_memory {
                None
            } else {
                Some(Duration::from_secs(1800))
            })
            .connect_with(connect_options)
            .await?;
        if backend == Backend::Sqlite && !in_memory {
            // WAL lets readers run beside the one writer; it persists in the file.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(describe_migration_error(&e)))?;
        Ok(Self { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A round trip to the database (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Deletes sessions past their absolute expiry and revoked ones older
    /// than `keep_revoked` (apps poll revocations within that window).
    pub async fn purge(&self, now: u64, keep_revoked: Duration) -> Result<u64, StoreError> {
        let revoked_before = to_db(now.saturating_sub(keep_revoked.as_secs()));
        let result = sqlx::query(
            "DELETE FROM sessions WHERE expires_at < $1 OR (revoked_at IS NOT NULL AND revoked_at < $2)",
        )
        .bind(to_db(now))
        .bind(revoked_before)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Picks the backend and adds what a bare SQLite path needs to be created.
fn normalise(url: &str) -> Result<(Backend, String), StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned()));
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        if rest.contains(":memory:") || rest.contains("mode=") {
            return Ok((Backend::Sqlite, url.to_owned()));
        }
        let separator = if rest.contains('?') { '&' } else { '?' };
        return Ok((Backend::Sqlite, format!("{url}{separator}mode=rwc")));
    }
    Err(StoreError::UnsupportedUrl)
}

fn describe_migration_error(e: &sqlx::migrate::MigrateError) -> String {
    use sqlx::migrate::MigrateError;
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

/// Timestamps are Unix seconds in signed 64-bit columns.
pub(crate) fn to_db(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

pub(crate) fn from_db(seconds: i64) -> u64 {
    u64::try_from(seconds).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend_and_sqlite_files_are_created() {
        assert_eq!(
            normalise("postgres://u@h/db").unwrap(),
            (Backend::Postgres, "postgres://u@h/db".into())
        );
        assert_eq!(
            normalise("sqlite:///tmp/x.db").unwrap(),
            (Backend::Sqlite, "sqlite:///tmp/x.db?mode=rwc".into())
        );
        assert_eq!(
            normalise("sqlite::memory:").unwrap(),
            (Backend::Sqlite, "sqlite::memory:".into())
        );
        assert!(matches!(
            normalise("mysql://h/db"),
            Err(StoreError::UnsupportedUrl)
        ));
    }
}

//! Storage: grants and sessions, on SQLite, PostgreSQL or Firestore.
//!
//! What the service needs of storage is a set of contracts, one trait per
//! aggregate ([`contracts`]: [`GrantStore`], [`SessionStore`],
//! [`CodeStore`], …), and `conformance` is the suite that checks any
//! backend against them. The service holds one backend as `Arc<dyn
//! Storage>` (every contract; a trait object's methods need no import), and
//! each component the traits it uses (`Arc<dyn SessionStore>`, …).
//!
//! The backend here is [`Store`], over sqlx's runtime-chosen driver: the URL
//! picks the backend (`sqlite:` for a single instance, local runs and
//! tests; `postgres:` for several Cloud Run instances on Cloud SQL). The
//! SQL is the subset both speak (`$n` parameters, `ON CONFLICT`,
//! `RETURNING`); each backend has its own migrations, embedded in the
//! binary and applied at start.
//!
//! Writes that race across instances are compare-and-swap on a row
//! `version`, so no interleaving of two instances can lose a rotated
//! refresh token (see [`grants`]). Every statement is bounded in time, and
//! a PostgreSQL server that is down at start is waited for (see
//! [`connect`]).
//!
//! The other backend is [`FirestoreStore`] (`firestore://PROJECT`), over
//! Firestore's REST API; [`open`] picks one of them from the URL.

mod codes;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod connect;
pub mod contracts;
pub mod firestore;
mod grants;
mod logout;
mod reseal;
mod sessions;
mod sql;
mod users;

use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;

pub use codes::{NewCode, RedeemedCode};
pub use contracts::{
    BackendReadiness, BackendUsage, CodeStore, GrantStore, LeasePurpose, LogoutTokenStore,
    Operations, ResealStore, RevocationFeedStore, SessionStore, Storage, StoreFuture,
    UserDirectory,
};
pub use firestore::{FirestoreAccess, FirestoreStore};
pub use grants::{FreshTokens, GrantRecord, SignInGrant};
pub use logout::LogoutTarget;
pub use reseal::{KeyUsage, Resealed};
pub use sessions::{NewSession, SessionRecord, SIGNED_OUT_EVERYWHERE};
pub use users::KnownUser;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database URL is not sqlite:, postgres: or firestore:")]
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
    /// The longest one statement may take, waiting for a connection included.
    pub timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 5,
            timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Set once the migrations have run: no statement ever meets an old
    /// or missing schema, and while the database has not been reached
    /// since start, storage calls fail at once instead of waiting.
    migrated: Arc<AtomicBool>,
    /// When a database that was down at start is tried again.
    retry: Arc<connect::Retry>,
    /// The longest one statement may take, connecting included.
    timeout: Duration,
    /// A SQLite file (not `:memory:`), which is switched to WAL.
    sqlite_file: bool,
}

/// The SQL store as the service holds any backend: behind the contracts.
impl From<Store> for Arc<dyn Storage> {
    fn from(store: Store) -> Self {
        Arc::new(store)
    }
}

impl Store {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A round trip to the database (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.bounded(sqlx::query("SELECT 1").execute(self.pool()?))
            .await?;
        Ok(())
    }

    /// Deletes sessions past their absolute expiry and revoked ones older
    /// than `keep_revoked` (apps poll revocations within that window).
    pub async fn purge(&self, now: u64, keep_revoked: Duration) -> Result<u64, StoreError> {
        let revoked_before = to_db(now.saturating_sub(keep_revoked.as_secs()));
        let result = self
            .bounded(
                sqlx::query(
                    "DELETE FROM sessions WHERE expires_at < $1 OR (revoked_at IS NOT NULL AND revoked_at < $2)",
                )
                .bind(to_db(now))
                .bind(revoked_before)
                .execute(self.pool()?),
            )
            .await?;
        // The apps each purged session was handed to go with it.
        self.bounded(
            sqlx::query(
                "DELETE FROM session_apps WHERE session_id NOT IN (SELECT id FROM sessions)",
            )
            .execute(self.pool()?),
        )
        .await?;
        Ok(result.rows_affected())
    }

    /// The pool, once the migrations have run.
    pub(crate) fn pool(&self) -> Result<&AnyPool, StoreError> {
        if self.migrated.load(Ordering::Acquire) {
            Ok(&self.pool)
        } else {
            Err(StoreError::Unavailable(
                "the database has not answered since start".into(),
            ))
        }
    }

    /// Runs one statement, giving up after the configured timeout (a
    /// database that stopped answering must not hold a request forever).
    pub(crate) async fn bounded<T>(
        &self,
        statement: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, statement).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(StoreError::Unavailable("timed out".into())),
        }
    }
}

/// Picks the backend and adds what a bare SQLite path needs to be created.
fn normalise(url: &str) -> Result<(Backend, String), StoreError> {
    if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        return Ok((Backend::Postgres, with_socket_host(rest)));
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

/// libpq reads `postgres://user:pw@/db?host=/cloudsql/P:R:I` as "connect
/// through the socket directory in `host=`", and it is the form Cloud SQL's
/// documentation gives
/// (<https://cloud.google.com/sql/docs/postgres/connect-run#connect_to>),
/// but the `url` crate (and so sqlx) refuses a URL with credentials and no
/// host. sqlx takes the `host` parameter over the URL's host
/// (<https://docs.rs/sqlx/0.8/sqlx/postgres/struct.PgConnectOptions.html>),
/// so `localhost` in the empty place changes nothing but the parse.
fn with_socket_host(rest: &str) -> String {
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_is_empty = authority.is_empty() || authority.ends_with('@');
    let socket_given = rest[authority_end..]
        .split_once('?')
        .is_some_and(|(_, query)| query.split('&').any(|pair| pair.starts_with("host=")));
    if host_is_empty && socket_given {
        format!("postgres://{authority}localhost{}", &rest[authority_end..])
    } else {
        format!("postgres://{rest}")
    }
}

/// What opening a SQL database that cannot be reached (or migrated) does.
/// Firestore is reached over HTTP per call: nothing is sent at opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnreachable {
    /// The service's start: a PostgreSQL server that is down is waited for
    /// in the background ([`Store::start`]).
    WaitInBackground,
    /// A one-off command or a test: an error at once ([`Store::connect`]).
    Fail,
}

/// Opens the backend `url` names, as the service and the admin commands
/// hold it: the SQL [`Store`] or the [`FirestoreStore`].
pub async fn open(
    url: &str,
    options: StoreOptions,
    firestore: &FirestoreAccess,
    unreachable: WhenUnreachable,
) -> Result<Arc<dyn Storage>, StoreError> {
    if firestore::config::is_firestore_url(url) {
        return Ok(Arc::new(FirestoreStore::open(url, &options, firestore)?));
    }
    Ok(Arc::new(match unreachable {
        WhenUnreachable::WaitInBackground => Store::start(url, options).await?,
        WhenUnreachable::Fail => Store::connect(url, options).await?,
    }))
}

/// Why `url` cannot be opened, in words without any part of it (it holds
/// a password): the check settings make at start.
pub fn check_url(url: &str) -> Result<(), String> {
    if firestore::config::is_firestore_url(url) {
        return firestore::config::parse(url).map(|_| ());
    }
    let (_, url) = normalise(url).map_err(|e| e.to_string())?;
    sqlx::any::install_default_drivers();
    sqlx::any::AnyConnectOptions::from_str(&url)
        .map(|_| ())
        .map_err(|e| match e {
            sqlx::Error::Configuration(reason) => reason.to_string(),
            _ => "it cannot be parsed".to_owned(),
        })
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
    fn a_cloud_sql_socket_url_without_a_host_opens_through_the_socket() {
        // The form Cloud SQL's documentation gives, which `url` refuses.
        let url = "postgres://auth:pw@/auth?host=/cloudsql/p:r:auth-db";
        assert!(url::Url::parse(url).is_err(), "the url crate refuses it");
        assert_eq!(
            normalise(url).unwrap().1,
            "postgres://auth:pw@localhost/auth?host=/cloudsql/p:r:auth-db"
        );
        check_url(url).unwrap();
        // With a host, or with no socket to use instead, nothing changes.
        let explicit = "postgres://auth:pw@localhost/auth?host=/cloudsql/p:r:i";
        assert_eq!(normalise(explicit).unwrap().1, explicit);
        assert_eq!(
            normalise("postgresql://u@h:5432/db?sslmode=require")
                .unwrap()
                .1,
            "postgres://u@h:5432/db?sslmode=require"
        );
        assert!(check_url("postgres://auth:pw@/auth").is_err());
    }

    #[test]
    fn a_url_that_cannot_be_opened_is_described_without_its_password() {
        let reason = check_url("postgres://auth:s3cret@/auth").unwrap_err();
        assert!(!reason.contains("s3cret"), "{reason}");
        assert!(!reason.is_empty());
    }

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

    #[tokio::test]
    async fn a_firestore_url_opens_the_firestore_store_without_a_round_trip() {
        check_url("firestore://my-project/sessions-db").unwrap();
        assert!(check_url("firestore://my-project:8080").is_err());
        let access = FirestoreAccess {
            // Nothing listens there: opening must not call it.
            emulator_host: Some("127.0.0.1:9".into()),
            ..FirestoreAccess::default()
        };
        let store = open(
            "firestore://my-project",
            StoreOptions::default(),
            &access,
            WhenUnreachable::WaitInBackground,
        )
        .await
        .unwrap();
        assert!(!store.is_prepared(), "not ready before Firestore answers");
        let refused = open(
            "firestore://My-Project",
            StoreOptions::default(),
            &access,
            WhenUnreachable::WaitInBackground,
        )
        .await;
        assert!(matches!(refused, Err(StoreError::MalformedUrl)));
    }
}

//! Browser sessions of the public service: who signed in, when, until when,
//! and whether they signed out. The session id is public (it is the
//! handoff token's `sid`); the cookie's secret is stored only as a hash.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{from_db, to_db, Store, StoreError};

const COLUMNS: &str = "id, secret_hash, subject, email, name, hosted_domain, created_at, \
    last_seen_at, expires_at, revoked_at, provider_sid, device, place, revoked_reason";

/// The `revoked_reason` of sessions ended by [`Store::revoke_sessions_of`]
/// ("end all others" on the sessions page, or an operator): their
/// browser's next sign-in may say so.
pub const SIGNED_OUT_EVERYWHERE: &str = "signed_out_everywhere";

/// Most live sessions [`Store::live_sessions_of`] returns: a page, not an
/// export (older ones still end with "end all others").
const MAX_LISTED: i64 = 100;

pub struct NewSession {
    pub id: String,
    pub secret_hash: Vec<u8>,
    pub subject: String,
    pub email: String,
    pub name: Option<String>,
    pub hosted_domain: Option<String>,
    pub created_at: u64,
    pub expires_at: u64,
    /// The provider's session id (the ID token's `sid`), which its
    /// back-channel logout tokens name.
    pub provider_sid: Option<String>,
    /// A summary such as "Chrome on macOS" (`crate::device`), never the
    /// raw User-Agent.
    pub device: Option<String>,
    /// The approximate place the operator's load balancer reported, when
    /// configured (`SESSION_PLACE_HEADER`).
    pub place: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: String,
    pub secret_hash: Vec<u8>,
    pub subject: String,
    pub email: String,
    pub name: Option<String>,
    pub hosted_domain: Option<String>,
    pub created_at: u64,
    pub last_seen_at: u64,
    /// The absolute end of the session, whatever its activity.
    pub expires_at: u64,
    pub revoked_at: Option<u64>,
    pub provider_sid: Option<String>,
    pub device: Option<String>,
    pub place: Option<String>,
    /// How a revoked session ended, when known ([`SIGNED_OUT_EVERYWHERE`]).
    pub revoked_reason: Option<String>,
}

impl Store {
    pub async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        self.bounded(
            sqlx::query(
                "INSERT INTO sessions (id, secret_hash, subject, email, name, hosted_domain, \
                created_at, last_seen_at, expires_at, revoked_at, provider_sid, device, place) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, NULL, $9, $10, $11)",
            )
            .bind(&session.id)
            .bind(session.secret_hash.clone())
            .bind(&session.subject)
            .bind(&session.email)
            .bind(session.name.clone())
            .bind(session.hosted_domain.clone())
            .bind(to_db(session.created_at))
            .bind(to_db(session.expires_at))
            .bind(session.provider_sid.clone())
            .bind(session.device.clone())
            .bind(session.place.clone())
            .execute(self.pool()?),
        )
        .await?;
        Ok(())
    }

    pub async fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row = self
            .bounded(
                sqlx::query(&format!("SELECT {COLUMNS} FROM sessions WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(self.pool()?),
            )
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// Records activity (a renewal or a new sign-in) on a live session.
    pub async fn touch_session(&self, id: &str, now: u64) -> Result<bool, StoreError> {
        let result = self
            .bounded(
                sqlx::query(
                    "UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(to_db(now))
                .bind(id)
                .execute(self.pool()?),
            )
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Whether `subject` has a session that is not revoked, not past its
    /// absolute expiry and used within `idle_timeout` (the same test as
    /// the session cookie's).
    pub async fn has_live_session(
        &self,
        subject: &str,
        now: u64,
        idle_timeout: u64,
    ) -> Result<bool, StoreError> {
        let row = self
            .bounded(
                sqlx::query(
                    "SELECT id FROM sessions WHERE subject = $1 AND revoked_at IS NULL \
                     AND expires_at > $2 AND last_seen_at > $3 LIMIT 1",
                )
                .bind(subject)
                .bind(to_db(now))
                .bind(to_db(now.saturating_sub(idle_timeout)))
                .fetch_optional(self.pool()?),
            )
            .await?;
        Ok(row.is_some())
    }

    /// Records a new sign-in of the session's own user on a live session:
    /// its last use, and the address, name and hosted domain the provider
    /// vouched for this time (they may have changed since the session
    /// started, and renewals check the access policy against them).
    pub async fn refresh_session(
        &self,
        id: &str,
        email: &str,
        name: Option<&str>,
        hosted_domain: Option<&str>,
        now: u64,
    ) -> Result<bool, StoreError> {
        let result = self
            .bounded(
                sqlx::query(
                    "UPDATE sessions SET last_seen_at = $1, email = $2, name = $3, \
                     hosted_domain = $4 WHERE id = $5 AND revoked_at IS NULL",
                )
                .bind(to_db(now))
                .bind(email)
                .bind(name)
                .bind(hosted_domain)
                .bind(id)
                .execute(self.pool()?),
            )
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Returns whether this call revoked it (false if unknown or already revoked).
    pub async fn revoke_session(&self, id: &str, now: u64) -> Result<bool, StoreError> {
        let result = self
            .bounded(
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(to_db(now))
                .bind(id)
                .execute(self.pool()?),
            )
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// The subject's sessions that are not revoked and not expired at
    /// `now`, newest first (at most [`MAX_LISTED`]).
    pub async fn live_sessions_of(
        &self,
        subject: &str,
        now: u64,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let rows = self
            .bounded(
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM sessions WHERE subject = $1 AND revoked_at IS NULL \
                     AND expires_at > $2 ORDER BY created_at DESC, id LIMIT $3"
                ))
                .bind(subject)
                .bind(to_db(now))
                .bind(MAX_LISTED)
                .fetch_all(self.pool()?),
            )
            .await?;
        rows.iter().map(session_from_row).collect()
    }

    /// Revokes every live session of `subject` except `keep` (a session
    /// id); returns how many were revoked. They are marked
    /// [`SIGNED_OUT_EVERYWHERE`], and reach the apps through
    /// [`Self::sessions_revoked_since`], like a sign-out.
    pub async fn revoke_sessions_of(
        &self,
        subject: &str,
        keep: Option<&str>,
        now: u64,
    ) -> Result<u64, StoreError> {
        let result = self
            .bounded(
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
                     WHERE subject = $3 AND revoked_at IS NULL AND expires_at > $1 AND id <> $4",
                )
                .bind(to_db(now))
                .bind(SIGNED_OUT_EVERYWHERE)
                .bind(subject)
                // No session id is empty.
                .bind(keep.unwrap_or(""))
                .execute(self.pool()?),
            )
            .await?;
        Ok(result.rows_affected())
    }

    /// Revokes session `id` only if it belongs to `subject` (a person ends
    /// one of their own sessions); returns whether this call revoked it.
    pub async fn revoke_session_of(
        &self,
        subject: &str,
        id: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let result = self
            .bounded(
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1 \
                     WHERE id = $2 AND subject = $3 AND revoked_at IS NULL",
                )
                .bind(to_db(now))
                .bind(id)
                .bind(subject)
                .execute(self.pool()?),
            )
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Records that session `id` was handed to `app` (its origin) at `now`.
    pub async fn record_session_app(
        &self,
        id: &str,
        app: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        self.bounded(
            sqlx::query(
                "INSERT INTO session_apps (session_id, app, first_at, last_at) \
                 VALUES ($1, $2, $3, $3) \
                 ON CONFLICT (session_id, app) DO UPDATE SET last_at = excluded.last_at",
            )
            .bind(id)
            .bind(app)
            .bind(to_db(now))
            .execute(self.pool()?),
        )
        .await?;
        Ok(())
    }

    /// The apps session `id` was handed to, most recently used first.
    pub async fn apps_of_session(&self, id: &str) -> Result<Vec<String>, StoreError> {
        let rows = self
            .bounded(
                sqlx::query(
                    "SELECT app FROM session_apps WHERE session_id = $1 ORDER BY last_at DESC, app",
                )
                .bind(id)
                .fetch_all(self.pool()?),
            )
            .await?;
        rows.iter().map(|row| Ok(row.try_get("app")?)).collect()
    }

    /// Sessions revoked at or after `since`, in (revoked_at, id) order,
    /// starting after `after` (the last entry of the previous page) when
    /// given: a cursor, so that any number of revocations within one
    /// second all come out, page by page.
    pub async fn sessions_revoked_since(
        &self,
        since: u64,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = self.bounded(sqlx::query(
            "SELECT id, revoked_at FROM sessions WHERE revoked_at > $1 OR (revoked_at = $1 AND id > $2) ORDER BY revoked_at, id LIMIT $3",
        )
        .bind(to_db(since))
        // Every id sorts after the empty string.
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(self.pool()?)).await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, from_db(row.try_get("revoked_at")?))))
            .collect()
    }
}

fn session_from_row(row: &AnyRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: row.try_get("id")?,
        secret_hash: row.try_get("secret_hash")?,
        subject: row.try_get("subject")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        hosted_domain: row.try_get("hosted_domain")?,
        created_at: from_db(row.try_get("created_at")?),
        last_seen_at: from_db(row.try_get("last_seen_at")?),
        expires_at: from_db(row.try_get("expires_at")?),
        revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(from_db),
        provider_sid: row.try_get("provider_sid")?,
        device: row.try_get("device")?,
        place: row.try_get("place")?,
        revoked_reason: row.try_get("revoked_reason")?,
    })
}

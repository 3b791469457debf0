//! What back-channel logout (OpenID Connect Back-Channel Logout 1.0) keeps:
//! the logout tokens' `jti`s seen, and the sessions a token ends, both in
//! one transaction so that a token is either taken whole or not at all.

use super::{to_db, Store, StoreError};

/// Which sessions a logout token ends (section 2.7): those signed in with
/// the provider session `sid` (and of `sub` too, when it names both), or
/// every session of `sub` when it names no `sid`.
#[derive(Debug, Clone, Copy)]
pub struct LogoutTarget<'a> {
    pub subject: Option<&'a str>,
    pub provider_sid: Option<&'a str>,
}

impl Store {
    /// Records `jti` until `remember_until` and revokes the sessions
    /// `target` names, atomically. `Ok(None)`: the `jti` was taken before
    /// and is still remembered (a replay), and nothing changed; otherwise
    /// how many sessions this revoked.
    pub async fn take_logout_token(
        &self,
        jti: &str,
        remember_until: u64,
        target: LogoutTarget<'_>,
        now: u64,
    ) -> Result<Option<u64>, StoreError> {
        let pool = self.pool()?;
        self.bounded(async {
            let mut tx = pool.begin().await?;
            // One statement that fails on a live duplicate: a remembered
            // `jti` is left alone (0 rows); one whose time is over (not
            // purged yet) is taken again, as a new token may reuse it.
            let recorded = sqlx::query(
                "INSERT INTO logout_token_jtis (jti, remember_until) VALUES ($1, $2) \
                 ON CONFLICT (jti) DO UPDATE SET remember_until = excluded.remember_until \
                 WHERE logout_token_jtis.remember_until <= $3",
            )
            .bind(jti)
            .bind(to_db(remember_until))
            .bind(to_db(now))
            .execute(&mut *tx)
            .await?;
            if recorded.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(None);
            }
            let revoked = match (target.provider_sid, target.subject) {
                (Some(sid), Some(subject)) => {
                    sqlx::query(
                        "UPDATE sessions SET revoked_at = $1 WHERE provider_sid = $2 \
                         AND subject = $3 AND revoked_at IS NULL",
                    )
                    .bind(to_db(now))
                    .bind(sid)
                    .bind(subject)
                    .execute(&mut *tx)
                    .await?
                }
                (Some(sid), None) => {
                    sqlx::query(
                        "UPDATE sessions SET revoked_at = $1 WHERE provider_sid = $2 \
                         AND revoked_at IS NULL",
                    )
                    .bind(to_db(now))
                    .bind(sid)
                    .execute(&mut *tx)
                    .await?
                }
                (None, Some(subject)) => {
                    sqlx::query(
                        "UPDATE sessions SET revoked_at = $1 WHERE subject = $2 \
                         AND revoked_at IS NULL AND expires_at > $1",
                    )
                    .bind(to_db(now))
                    .bind(subject)
                    .execute(&mut *tx)
                    .await?
                }
                // The token's verification requires one of them.
                (None, None) => {
                    tx.rollback().await?;
                    return Ok(Some(0));
                }
            };
            tx.commit().await?;
            Ok(Some(revoked.rows_affected()))
        })
        .await
    }

    /// Records the provider session a session was last signed in with
    /// (a new sign-in in the same browser may come from a new one).
    pub async fn set_session_provider_sid(
        &self,
        id: &str,
        provider_sid: Option<&str>,
    ) -> Result<(), StoreError> {
        self.bounded(
            sqlx::query("UPDATE sessions SET provider_sid = $1 WHERE id = $2")
                .bind(provider_sid)
                .bind(id)
                .execute(self.pool()?),
        )
        .await?;
        Ok(())
    }

    /// Forgets the `jti`s whose tokens would be refused anyway by now.
    pub async fn purge_logout_token_jtis(&self, now: u64) -> Result<u64, StoreError> {
        let result = self
            .bounded(
                sqlx::query("DELETE FROM logout_token_jtis WHERE remember_until <= $1")
                    .bind(to_db(now))
                    .execute(self.pool()?),
            )
            .await?;
        Ok(result.rows_affected())
    }
}

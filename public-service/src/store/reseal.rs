//! Moving stored tokens to the newest key of the ring (`admin grants
//! reseal`) and counting which key seals what (`admin keys status`).
//!
//! A re-seal holds the grant's refresh lease (the one the token broker
//! takes before calling the provider), so no refresh of that grant runs
//! meanwhile on any instance, and writes back only if the grant's
//! `version` is still the one read: a sign-in that stored a new refresh
//! token in between wins, and the grant is simply tried again later.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{GrantRecord, Store, StoreError};
use crate::token_cipher::Sealed;

/// "Some token of this grant is sealed by a key other than `$1`."
const STALE: &str = "((refresh_token_key_id IS NOT NULL AND refresh_token_key_id <> $1) \
     OR (access_token_key_id IS NOT NULL AND access_token_key_id <> $1))";

/// How many stored tokens one key id seals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyUsage {
    pub refresh_tokens: u64,
    pub access_tokens: u64,
}

/// What a re-seal writes: each token re-sealed under the newest key, or
/// `None` where the stored one stays.
pub struct Resealed {
    pub refresh_token: Option<Sealed>,
    pub access_token: Option<Sealed>,
}

impl Store {
    /// How many grants hold a token sealed by a key other than `newest_key`.
    pub async fn count_stale_grants(&self, newest_key: &str) -> Result<u64, StoreError> {
        let row = self
            .bounded(
                sqlx::query(&format!("SELECT COUNT(*) AS n FROM grants WHERE {STALE}"))
                    .bind(newest_key)
                    .fetch_one(self.pool()?),
            )
            .await?;
        Ok(super::from_db(row.try_get("n")?))
    }

    /// Subjects of grants holding a token sealed by a key other than
    /// `newest_key`, in subject order, after `after` when given.
    pub async fn stale_grant_subjects(
        &self,
        newest_key: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let rows = self
            .bounded(
                sqlx::query(&format!(
                    "SELECT subject FROM grants WHERE {STALE} AND subject > $2 \
                     ORDER BY subject LIMIT $3"
                ))
                .bind(newest_key)
                // Every subject sorts after the empty string.
                .bind(after.unwrap_or(""))
                .bind(i64::from(limit))
                .fetch_all(self.pool()?),
            )
            .await?;
        rows.iter().map(|row| Ok(row.try_get("subject")?)).collect()
    }

    /// Takes the grant's refresh lease for a re-seal, if nobody holds it;
    /// unlike the broker's, also for a grant with no refresh token (its
    /// access token may still need moving).
    pub async fn take_reseal_lease(
        &self,
        subject: &str,
        lease_id: &str,
        now: u64,
        until: u64,
    ) -> Result<Option<GrantRecord>, StoreError> {
        self.take_lease_where("1 = 1", subject, lease_id, now, until)
            .await
    }

    /// Writes a re-seal of `read` (taken under `lease_id`) and releases
    /// the lease. Returns false, writing nothing, if the lease was lost or
    /// the refresh token changed since it was read. The access token is
    /// replaced only if it is still the one read (a sign-in may store a new
    /// one without changing `version`).
    pub async fn finish_reseal(
        &self,
        read: &GrantRecord,
        lease_id: &str,
        resealed: &Resealed,
    ) -> Result<bool, StoreError> {
        let refresh = resealed
            .refresh_token
            .as_ref()
            .or(read.refresh_token.as_ref());
        let stored_access = read.access_token.as_ref().map(|(sealed, _)| sealed);
        let access = resealed.access_token.as_ref().or(stored_access);
        let result = self
            .bounded(
                sqlx::query(
                    "UPDATE grants SET refresh_token = $1, refresh_token_key_id = $2, \
                        version = version + $3, \
                        access_token = CASE WHEN access_token = $4 THEN $5 ELSE access_token END, \
                        access_token_key_id = CASE WHEN access_token = $4 THEN $6 \
                            ELSE access_token_key_id END, \
                        refresh_lease_id = NULL, refresh_lease_until = NULL \
                     WHERE subject = $7 AND refresh_lease_id = $8 AND version = $9",
                )
                .bind(refresh.map(|s| s.bytes.clone()))
                .bind(refresh.map(|s| s.key_id.clone()))
                .bind(i64::from(resealed.refresh_token.is_some()))
                .bind(stored_access.map(|s| s.bytes.clone()))
                .bind(access.map(|s| s.bytes.clone()))
                .bind(access.map(|s| s.key_id.clone()))
                .bind(&read.subject)
                .bind(lease_id)
                .bind(read.version)
                .execute(self.pool()?),
            )
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// How many refresh and access tokens each key id seals.
    pub async fn key_usage(&self) -> Result<BTreeMap<String, KeyUsage>, StoreError> {
        let mut usage: BTreeMap<String, KeyUsage> = BTreeMap::new();
        for column in ["refresh_token_key_id", "access_token_key_id"] {
            let rows = self
                .bounded(
                    sqlx::query(&format!(
                        "SELECT {column} AS key_id, COUNT(*) AS n FROM grants \
                         WHERE {column} IS NOT NULL GROUP BY {column}"
                    ))
                    .fetch_all(self.pool()?),
                )
                .await?;
            for row in rows {
                let entry = usage.entry(row.try_get("key_id")?).or_default();
                let count = super::from_db(row.try_get("n")?);
                if column.starts_with("refresh") {
                    entry.refresh_tokens = count;
                } else {
                    entry.access_tokens = count;
                }
            }
        }
        Ok(usage)
    }
}

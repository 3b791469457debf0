//! One-time handoff codes: created by a sign-in or renewal for one app,
//! redeemed once by that app over the back channel, with the verifier of
//! the browser the code is bound to.

use sqlx::Row;

use super::{to_db, Store, StoreError};

pub struct NewCode {
    pub code_hash: Vec<u8>,
    pub audience: String,
    pub session_id: String,
    pub return_to: String,
    /// SHA-256 of the verifier of the browser that asked for the code.
    pub binding_hash: Vec<u8>,
    pub created_at: u64,
    pub expires_at: u64,
}

/// What a redeemed code was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeemedCode {
    pub session_id: String,
    pub return_to: String,
    /// `None` for a code stored before codes were bound (never redeemable).
    pub binding_hash: Option<Vec<u8>>,
}

impl Store {
    pub async fn create_handoff_code(&self, code: &NewCode) -> Result<(), StoreError> {
        self.bounded(sqlx::query(
            "INSERT INTO handoff_codes (code_hash, audience, session_id, return_to, created_at, expires_at, used_at, binding_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
        )
        .bind(code.code_hash.clone())
        .bind(&code.audience)
        .bind(&code.session_id)
        .bind(&code.return_to)
        .bind(to_db(code.created_at))
        .bind(to_db(code.expires_at))
        .bind(code.binding_hash.clone())
        .execute(self.pool()?)).await?;
        Ok(())
    }

    /// Marks the code used and returns what it was for, in one statement:
    /// of any number of concurrent redemptions, one gets `Some`. Unknown,
    /// used, expired, and other apps' codes all give `None`. The caller
    /// checks the binding: a code brought with the wrong verifier is used
    /// up all the same.
    pub async fn redeem_handoff_code(
        &self,
        code_hash: &[u8],
        audience: &str,
        now: u64,
    ) -> Result<Option<RedeemedCode>, StoreError> {
        let row = self
            .bounded(
                sqlx::query(
                    "UPDATE handoff_codes SET used_at = $1 \
             WHERE code_hash = $2 AND audience = $3 AND used_at IS NULL AND expires_at > $1 \
             RETURNING session_id, return_to, binding_hash",
                )
                .bind(to_db(now))
                .bind(code_hash.to_vec())
                .bind(audience)
                .fetch_optional(self.pool()?),
            )
            .await?;
        row.map(|row| {
            Ok(RedeemedCode {
                session_id: row.try_get("session_id")?,
                return_to: row.try_get("return_to")?,
                binding_hash: row.try_get("binding_hash")?,
            })
        })
        .transpose()
    }

    /// Deletes codes that expired before `before`.
    pub async fn purge_handoff_codes(&self, before: u64) -> Result<u64, StoreError> {
        let result = self
            .bounded(
                sqlx::query("DELETE FROM handoff_codes WHERE expires_at < $1")
                    .bind(to_db(before))
                    .execute(self.pool()?),
            )
            .await?;
        Ok(result.rows_affected())
    }
}

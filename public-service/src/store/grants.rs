//! Offline grants: the sealed refresh token of each user, the last access
//! token, and the lease that makes one instance at a time refresh.
//!
//! Two counters keep concurrent writers honest:
//! - `version` changes whenever the refresh token or the revocation does.
//!   A refresh stores a rotated refresh token, and `invalid_grant` revokes,
//!   only if `version` is still what it was when the refresh token was
//!   read; a newer refresh token stored meanwhile (by a sign-in) wins.
//! - the lease (`refresh_lease_id` until `refresh_lease_until`) is taken
//!   atomically before calling the provider and released by the write that
//!   stores the result, so no two callers refresh one grant at once, on one
//!   instance or on several.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{from_db, to_db, Store, StoreError};
use crate::scopes::{canonicalised, ScopeSet};
use crate::token_cipher::Sealed;

const COLUMNS: &str =
    "subject, email, hosted_domain, scopes, refresh_token, refresh_token_key_id, \
     access_token, access_token_key_id, access_token_expires_at, version, \
     refresh_lease_until, created_at, updated_at, revoked_at";

#[derive(Debug, Clone)]
pub struct GrantRecord {
    pub subject: String,
    pub email: String,
    /// The Workspace domain (`hd`) of the user's last sign-in.
    pub hosted_domain: Option<String>,
    pub scopes: Vec<String>,
    pub refresh_token: Option<Sealed>,
    pub access_token: Option<(Sealed, u64)>,
    pub version: i64,
    pub lease_until: Option<u64>,
    pub created_at: u64,
    pub updated_at: u64,
    pub revoked_at: Option<u64>,
}

impl GrantRecord {
    /// Whether a refresh can be attempted with this grant.
    pub fn is_usable(&self) -> bool {
        self.revoked_at.is_none() && self.refresh_token.is_some()
    }

    /// Whether the grant carries `wanted`, however either spells them
    /// (Google reports `email` as `…/auth/userinfo.email`).
    pub fn has_scopes(&self, wanted: &[String]) -> bool {
        self.scope_set().contains_all(wanted)
    }

    pub fn scope_set(&self) -> ScopeSet {
        self.scopes.iter().collect()
    }
}

/// What a completed sign-in learned about the user's grant.
pub struct SignInGrant {
    pub subject: String,
    pub email: String,
    pub hosted_domain: Option<String>,
    pub scopes: Vec<String>,
    /// `None` when the provider sent no new refresh token: the stored one
    /// is kept.
    pub refresh_token: Option<Sealed>,
    pub access_token: Option<(Sealed, u64)>,
}

/// What a refresh at the provider returned, sealed.
pub struct FreshTokens {
    /// The access token and its expiry, stored when it carries the whole
    /// grant; `None` for a narrowed one (the stored token stays).
    pub access_token: Option<(Sealed, u64)>,
    /// The grant's scopes as the provider reported them; `None`: unchanged.
    pub scopes: Option<Vec<String>>,
    /// A rotated refresh token, or the current one re-sealed under the
    /// newest key; stored only if the grant's version is unchanged.
    pub refresh_token: Option<Sealed>,
}

impl Store {
    pub async fn grant(&self, subject: &str) -> Result<Option<GrantRecord>, StoreError> {
        let row = self
            .bounded(
                sqlx::query(&format!("SELECT {COLUMNS} FROM grants WHERE subject = $1"))
                    .bind(subject)
                    .fetch_optional(self.pool()?),
            )
            .await?;
        row.as_ref().map(grant_from_row).transpose()
    }

    /// Creates or updates the user's grant after a sign-in. A new refresh
    /// token replaces the stored one and lifts a revocation; without one,
    /// the stored token (and its revocation state) stays.
    pub async fn record_sign_in(&self, grant: &SignInGrant, now: u64) -> Result<(), StoreError> {
        let (refresh, refresh_kid) = split(grant.refresh_token.as_ref());
        let (access, access_kid, access_exp) = split_access(grant.access_token.as_ref());
        self.bounded(sqlx::query(
            "INSERT INTO grants (subject, email, scopes, refresh_token, refresh_token_key_id, \
                access_token, access_token_key_id, access_token_expires_at, version, \
                created_at, updated_at, revoked_at, hosted_domain) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $9, NULL, $10) \
             ON CONFLICT (subject) DO UPDATE SET \
                email = excluded.email, \
                hosted_domain = excluded.hosted_domain, \
                scopes = excluded.scopes, \
                refresh_token = COALESCE(excluded.refresh_token, grants.refresh_token), \
                refresh_token_key_id = COALESCE(excluded.refresh_token_key_id, grants.refresh_token_key_id), \
                revoked_at = CASE WHEN excluded.refresh_token IS NULL THEN grants.revoked_at ELSE NULL END, \
                version = CASE WHEN excluded.refresh_token IS NULL THEN grants.version ELSE grants.version + 1 END, \
                access_token = COALESCE(excluded.access_token, grants.access_token), \
                access_token_key_id = COALESCE(excluded.access_token_key_id, grants.access_token_key_id), \
                access_token_expires_at = COALESCE(excluded.access_token_expires_at, grants.access_token_expires_at), \
                updated_at = excluded.updated_at",
        )
        .bind(&grant.subject)
        .bind(&grant.email)
        .bind(canonicalised(&grant.scopes).join(" "))
        .bind(refresh)
        .bind(refresh_kid)
        .bind(access)
        .bind(access_kid)
        .bind(access_exp)
        .bind(to_db(now))
        .bind(grant.hosted_domain.clone())
        .execute(self.pool()?)).await?;
        Ok(())
    }

    /// Takes the refresh lease if nobody holds it and the grant is usable,
    /// returning the grant as it is under the lease.
    pub async fn take_refresh_lease(
        &self,
        subject: &str,
        lease_id: &str,
        now: u64,
        until: u64,
    ) -> Result<Option<GrantRecord>, StoreError> {
        self.take_lease_where(
            "revoked_at IS NULL AND refresh_token IS NOT NULL",
            subject,
            lease_id,
            now,
            until,
        )
        .await
    }

    /// Takes the grant's lease if nobody holds it and `condition` (a fixed
    /// SQL condition on the grant, never input) holds; the grant as it is
    /// under the lease. The broker's refresh and `admin grants reseal`
    /// share the lease, so neither overwrites the other.
    pub(super) async fn take_lease_where(
        &self,
        condition: &'static str,
        subject: &str,
        lease_id: &str,
        now: u64,
        until: u64,
    ) -> Result<Option<GrantRecord>, StoreError> {
        let row = self
            .bounded(
                sqlx::query(&format!(
                    "UPDATE grants SET refresh_lease_id = $1, refresh_lease_until = $2 \
                     WHERE subject = $3 AND {condition} \
                       AND (refresh_lease_until IS NULL OR refresh_lease_until <= $4) \
                     RETURNING {COLUMNS}"
                ))
                .bind(lease_id)
                .bind(to_db(until))
                .bind(subject)
                .bind(to_db(now))
                .fetch_optional(self.pool()?),
            )
            .await?;
        row.as_ref().map(grant_from_row).transpose()
    }

    /// Stores the result of a refresh and releases the lease. Returns
    /// whether the lease was still ours; the refresh token is replaced
    /// only if `read_version` is still current.
    pub async fn finish_refresh(
        &self,
        subject: &str,
        lease_id: &str,
        read_version: i64,
        fresh: &FreshTokens,
        now: u64,
    ) -> Result<bool, StoreError> {
        let (refresh, refresh_kid) = split(fresh.refresh_token.as_ref());
        let (access, access_kid, access_exp) = split_access(fresh.access_token.as_ref());
        let scopes = fresh.scopes.as_ref().map(|s| canonicalised(s).join(" "));
        let replace = "version = $1 AND $2 IS NOT NULL";
        // Not bounded in time: the provider may have rotated the refresh
        // token, and this write is the only place the new one lives.
        let result = sqlx::query(&format!(
            "UPDATE grants SET \
                refresh_token = CASE WHEN {replace} THEN $2 ELSE refresh_token END, \
                refresh_token_key_id = CASE WHEN {replace} THEN $3 ELSE refresh_token_key_id END, \
                version = CASE WHEN {replace} THEN version + 1 ELSE version END, \
                access_token = COALESCE($4, access_token), \
                access_token_key_id = COALESCE($5, access_token_key_id), \
                access_token_expires_at = COALESCE($6, access_token_expires_at), \
                scopes = COALESCE($7, scopes), \
                refresh_lease_id = NULL, refresh_lease_until = NULL, updated_at = $8 \
             WHERE subject = $9 AND refresh_lease_id = $10"
        ))
        .bind(read_version)
        .bind(refresh)
        .bind(refresh_kid)
        .bind(access)
        .bind(access_kid)
        .bind(access_exp)
        .bind(scopes)
        .bind(to_db(now))
        .bind(subject)
        .bind(lease_id)
        .execute(self.pool()?)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Stores a rotated refresh token outside a lease (the lease was lost):
    /// only if nothing replaced the token since it was read.
    pub async fn replace_refresh_token(
        &self,
        subject: &str,
        read_version: i64,
        refresh_token: &Sealed,
        now: u64,
    ) -> Result<bool, StoreError> {
        // Not bounded in time: the provider may have rotated the refresh
        // token, and this write is the only place the new one lives.
        let result = sqlx::query(
            "UPDATE grants SET refresh_token = $1, refresh_token_key_id = $2, \
                version = version + 1, updated_at = $3 \
             WHERE subject = $4 AND version = $5 AND revoked_at IS NULL",
        )
        .bind(refresh_token.bytes.clone())
        .bind(refresh_token.key_id.clone())
        .bind(to_db(now))
        .bind(subject)
        .bind(read_version)
        .execute(self.pool()?)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn release_refresh_lease(
        &self,
        subject: &str,
        lease_id: &str,
    ) -> Result<(), StoreError> {
        self.bounded(
            sqlx::query(
                "UPDATE grants SET refresh_lease_id = NULL, refresh_lease_until = NULL \
             WHERE subject = $1 AND refresh_lease_id = $2",
            )
            .bind(subject)
            .bind(lease_id)
            .execute(self.pool()?),
        )
        .await?;
        Ok(())
    }

    /// Marks the grant revoked and forgets its tokens. With
    /// `read_version`, only if the refresh token is still the one read
    /// (an `invalid_grant` for a token a sign-in has since replaced
    /// revokes nothing). Returns whether the grant was revoked by this call.
    pub async fn revoke_grant(
        &self,
        subject: &str,
        read_version: Option<i64>,
        now: u64,
    ) -> Result<bool, StoreError> {
        let result = self.bounded(sqlx::query(
            "UPDATE grants SET revoked_at = $1, refresh_token = NULL, refresh_token_key_id = NULL, \
                access_token = NULL, access_token_key_id = NULL, access_token_expires_at = NULL, \
                refresh_lease_id = NULL, refresh_lease_until = NULL, \
                version = version + 1, updated_at = $1 \
             WHERE subject = $2 AND revoked_at IS NULL AND ($3 IS NULL OR version = $3)",
        )
        .bind(to_db(now))
        .bind(subject)
        .bind(read_version)
        .execute(self.pool()?)).await?;
        Ok(result.rows_affected() == 1)
    }
}

fn split(sealed: Option<&Sealed>) -> (Option<Vec<u8>>, Option<String>) {
    match sealed {
        Some(s) => (Some(s.bytes.clone()), Some(s.key_id.clone())),
        None => (None, None),
    }
}

fn split_access(access: Option<&(Sealed, u64)>) -> (Option<Vec<u8>>, Option<String>, Option<i64>) {
    match access {
        Some((s, exp)) => (
            Some(s.bytes.clone()),
            Some(s.key_id.clone()),
            Some(to_db(*exp)),
        ),
        None => (None, None, None),
    }
}

fn sealed(bytes: Option<Vec<u8>>, key_id: Option<String>) -> Option<Sealed> {
    Some(Sealed {
        bytes: bytes?,
        key_id: key_id?,
    })
}

fn grant_from_row(row: &AnyRow) -> Result<GrantRecord, StoreError> {
    let access = sealed(
        row.try_get("access_token")?,
        row.try_get("access_token_key_id")?,
    )
    .zip(
        row.try_get::<Option<i64>, _>("access_token_expires_at")?
            .map(from_db),
    );
    let scopes: String = row.try_get("scopes")?;
    Ok(GrantRecord {
        subject: row.try_get("subject")?,
        email: row.try_get("email")?,
        hosted_domain: row.try_get("hosted_domain")?,
        // Rows written before scopes were stored canonically read the same.
        scopes: canonicalised(&scopes.split_whitespace().collect::<Vec<_>>()),
        refresh_token: sealed(
            row.try_get("refresh_token")?,
            row.try_get("refresh_token_key_id")?,
        ),
        access_token: access,
        version: row.try_get("version")?,
        lease_until: row
            .try_get::<Option<i64>, _>("refresh_lease_until")?
            .map(from_db),
        created_at: from_db(row.try_get("created_at")?),
        updated_at: from_db(row.try_get("updated_at")?),
        revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(from_db),
    })
}

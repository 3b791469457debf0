//! [`GrantStore`] and [`ResealStore`] on `grants/{subject}`: every write is
//! a read-modify-write conditional on the document read ([`Step`]), which
//! is what the SQL store's `WHERE version = …` and `WHERE lease …` are.

use std::collections::BTreeMap;

use serde_json::json;

use super::client::Doc;
use super::ops::{doc_id, Step, MAX_WRITES};
use super::records::StoredGrant;
use super::FirestoreStore;
use crate::scopes::canonicalised;
use crate::store::contracts::{GrantStore, LeasePurpose, ResealStore, StoreFuture};
use crate::store::{FreshTokens, GrantRecord, KeyUsage, Resealed, SignInGrant, StoreError};
use crate::token_cipher::Sealed;

const GRANTS: &str = "grants";

fn read(doc: Option<&Doc>) -> Result<Option<StoredGrant>, StoreError> {
    doc.map(StoredGrant::read).transpose()
}

/// A sign-in applied to the stored grant (or to none: a new one).
fn signed_in(stored: Option<StoredGrant>, grant: &SignInGrant, now: u64) -> StoredGrant {
    let mut g = stored.unwrap_or_else(|| StoredGrant {
        record: GrantRecord {
            subject: grant.subject.clone(),
            email: String::new(),
            hosted_domain: None,
            scopes: Vec::new(),
            refresh_token: None,
            access_token: None,
            version: -1,
            lease_until: None,
            created_at: now,
            updated_at: now,
            revoked_at: None,
        },
        lease_id: None,
    });
    let r = &mut g.record;
    r.email = grant.email.clone();
    r.hosted_domain = grant.hosted_domain.clone();
    r.scopes = canonicalised(&grant.scopes);
    if let Some(token) = &grant.refresh_token {
        r.refresh_token = Some(token.clone());
        r.revoked_at = None;
        r.version += 1;
    } else if r.version < 0 {
        // A new grant without a refresh token starts at version 0 too.
        r.version = 0;
    }
    if let Some(access) = &grant.access_token {
        r.access_token = Some(access.clone());
    }
    r.updated_at = now;
    g
}

fn suits(grant: &GrantRecord, purpose: LeasePurpose) -> bool {
    match purpose {
        LeasePurpose::Refresh => grant.is_usable(),
        LeasePurpose::Reseal => true,
    }
}

impl FirestoreStore {
    async fn take_lease_now(
        &self,
        subject: &str,
        lease_id: &str,
        purpose: LeasePurpose,
        now: u64,
        until: u64,
    ) -> Result<Option<GrantRecord>, StoreError> {
        self.modify(GRANTS, subject, |doc| {
            let Some(mut g) = read(doc)? else {
                return Ok(Step::Leave(None));
            };
            let free = g.lease_id.is_none() || g.record.lease_until.is_none_or(|u| u <= now);
            if !free || !suits(&g.record, purpose) {
                return Ok(Step::Leave(None));
            }
            g.lease_id = Some(lease_id.to_owned());
            g.record.lease_until = Some(until);
            Ok(Step::Write(g.fields(), Some(g.record)))
        })
        .await
    }

    async fn finish_refresh_now(
        &self,
        subject: &str,
        lease_id: &str,
        read_version: i64,
        fresh: &FreshTokens,
        now: u64,
    ) -> Result<bool, StoreError> {
        self.modify(GRANTS, subject, |doc| {
            let Some(mut g) = read(doc)? else {
                return Ok(Step::Leave(false));
            };
            if g.lease_id.as_deref() != Some(lease_id) {
                return Ok(Step::Leave(false));
            }
            let r = &mut g.record;
            if let (true, Some(token)) = (r.version == read_version, &fresh.refresh_token) {
                r.refresh_token = Some(token.clone());
                r.version += 1;
            }
            if let Some(access) = &fresh.access_token {
                r.access_token = Some(access.clone());
            }
            if let Some(scopes) = &fresh.scopes {
                r.scopes = canonicalised(scopes);
            }
            r.updated_at = now;
            g.release();
            Ok(Step::Write(g.fields(), true))
        })
        .await
    }

    async fn release_lease_now(&self, subject: &str, lease_id: &str) -> Result<(), StoreError> {
        self.modify(GRANTS, subject, |doc| match read(doc)? {
            Some(mut g) if g.lease_id.as_deref() == Some(lease_id) => {
                g.release();
                Ok(Step::Write(g.fields(), ()))
            }
            _ => Ok(Step::Leave(())),
        })
        .await
    }

    async fn replace_refresh_token_now(
        &self,
        subject: &str,
        read_version: i64,
        token: &Sealed,
        now: u64,
    ) -> Result<bool, StoreError> {
        self.modify(GRANTS, subject, |doc| match read(doc)? {
            Some(mut g) if g.record.version == read_version && g.record.revoked_at.is_none() => {
                g.record.refresh_token = Some(token.clone());
                g.record.version += 1;
                g.record.updated_at = now;
                Ok(Step::Write(g.fields(), true))
            }
            _ => Ok(Step::Leave(false)),
        })
        .await
    }

    async fn revoke_grant_now(
        &self,
        subject: &str,
        read_version: Option<i64>,
        now: u64,
    ) -> Result<bool, StoreError> {
        self.modify(GRANTS, subject, |doc| {
            let Some(mut g) = read(doc)? else {
                return Ok(Step::Leave(false));
            };
            let r = &mut g.record;
            if r.revoked_at.is_some() || read_version.is_some_and(|v| v != r.version) {
                return Ok(Step::Leave(false));
            }
            r.revoked_at = Some(now);
            r.refresh_token = None;
            r.access_token = None;
            r.version += 1;
            r.updated_at = now;
            g.release();
            Ok(Step::Write(g.fields(), true))
        })
        .await
    }

    async fn finish_reseal_now(
        &self,
        read_grant: &GrantRecord,
        lease_id: &str,
        resealed: &Resealed,
    ) -> Result<bool, StoreError> {
        self.modify(GRANTS, &read_grant.subject, |doc| {
            let Some(mut g) = read(doc)? else {
                return Ok(Step::Leave(false));
            };
            if g.lease_id.as_deref() != Some(lease_id) || g.record.version != read_grant.version {
                return Ok(Step::Leave(false));
            }
            let r = &mut g.record;
            if let Some(token) = &resealed.refresh_token {
                r.refresh_token = Some(token.clone());
                r.version += 1;
            }
            // Only the access token read is replaced: a sign-in may have
            // stored a newer one without moving the version.
            let read_access = read_grant.access_token.as_ref().map(|(s, _)| &s.bytes);
            let replaced = match (&r.access_token, &resealed.access_token) {
                (Some((stored, expires)), Some(new)) if Some(&stored.bytes) == read_access => {
                    Some((new.clone(), *expires))
                }
                _ => None,
            };
            if replaced.is_some() {
                r.access_token = replaced;
            }
            g.release();
            Ok(Step::Write(g.fields(), true))
        })
        .await
    }

    /// Every grant, in subject order: the admin commands' scans (rare, and
    /// a read per grant, like the SQL store's full-table statements).
    async fn all_grants(&self) -> Result<Vec<GrantRecord>, StoreError> {
        let mut grants = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut query = json!({
                "from": [{ "collectionId": GRANTS }],
                "orderBy": [{ "field": { "fieldPath": "__name__" }, "direction": "ASCENDING" }],
                "limit": MAX_WRITES,
            });
            if let Some(id) = &after {
                let reference = json!({ "referenceValue": self.client.name(GRANTS, id) });
                query["startAt"] = json!({ "values": [reference], "before": false });
            }
            let page = self.client.run_query(query).await?;
            for doc in &page {
                grants.push(StoredGrant::read(doc)?.record);
            }
            match page.last() {
                Some(last) if page.len() == MAX_WRITES => after = Some(last.id.clone()),
                _ => break,
            }
        }
        grants.sort_by(|a, b| a.subject.cmp(&b.subject));
        Ok(grants)
    }
}

/// Some token of the grant is sealed by a key other than `newest_key`.
fn is_stale(g: &GrantRecord, newest_key: &str) -> bool {
    let refresh = g.refresh_token.as_ref().map(|s| s.key_id.as_str());
    let access = g.access_token.as_ref().map(|(s, _)| s.key_id.as_str());
    [refresh, access]
        .into_iter()
        .flatten()
        .any(|key| key != newest_key)
}

impl GrantStore for FirestoreStore {
    fn grant<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Option<GrantRecord>> {
        Box::pin(async move {
            let doc = self.client.get(GRANTS, &doc_id(subject)).await?;
            Ok(read(doc.as_ref())?.map(|g| g.record))
        })
    }

    fn record_sign_in<'a>(&'a self, grant: &'a SignInGrant, now: u64) -> StoreFuture<'a, ()> {
        Box::pin(self.modify(GRANTS, &grant.subject, move |doc| {
            let g = signed_in(read(doc)?, grant, now);
            Ok(Step::Write(g.fields(), ()))
        }))
    }

    fn take_lease<'a>(
        &'a self,
        subject: &'a str,
        lease_id: &'a str,
        purpose: LeasePurpose,
        now: u64,
        until: u64,
    ) -> StoreFuture<'a, Option<GrantRecord>> {
        Box::pin(self.take_lease_now(subject, lease_id, purpose, now, until))
    }

    fn finish_refresh<'a>(
        &'a self,
        subject: &'a str,
        lease_id: &'a str,
        read_version: i64,
        fresh: &'a FreshTokens,
        now: u64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.finish_refresh_now(subject, lease_id, read_version, fresh, now))
    }

    fn release_lease<'a>(&'a self, subject: &'a str, lease_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.release_lease_now(subject, lease_id))
    }

    fn replace_refresh_token<'a>(
        &'a self,
        subject: &'a str,
        read_version: i64,
        refresh_token: &'a Sealed,
        now: u64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.replace_refresh_token_now(subject, read_version, refresh_token, now))
    }

    fn revoke_grant<'a>(
        &'a self,
        subject: &'a str,
        read_version: Option<i64>,
        now: u64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.revoke_grant_now(subject, read_version, now))
    }
}

impl ResealStore for FirestoreStore {
    fn count_stale_grants<'a>(&'a self, newest_key: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let grants = self.all_grants().await?;
            Ok(grants.iter().filter(|g| is_stale(g, newest_key)).count() as u64)
        })
    }

    fn stale_grant_subjects<'a>(
        &'a self,
        newest_key: &'a str,
        after: Option<&'a str>,
        limit: u32,
    ) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let grants = self.all_grants().await?;
            Ok(grants
                .into_iter()
                .filter(|g| is_stale(g, newest_key))
                .filter(|g| after.is_none_or(|a| g.subject.as_str() > a))
                .take(limit as usize)
                .map(|g| g.subject)
                .collect())
        })
    }

    fn finish_reseal<'a>(
        &'a self,
        read: &'a GrantRecord,
        lease_id: &'a str,
        resealed: &'a Resealed,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.finish_reseal_now(read, lease_id, resealed))
    }

    fn key_usage(&self) -> StoreFuture<'_, BTreeMap<String, KeyUsage>> {
        Box::pin(async move {
            let mut usage: BTreeMap<String, KeyUsage> = BTreeMap::new();
            for g in self.all_grants().await? {
                if let Some(token) = &g.refresh_token {
                    usage
                        .entry(token.key_id.clone())
                        .or_default()
                        .refresh_tokens += 1;
                }
                if let Some((token, _)) = &g.access_token {
                    usage.entry(token.key_id.clone()).or_default().access_tokens += 1;
                }
            }
            Ok(usage)
        })
    }
}

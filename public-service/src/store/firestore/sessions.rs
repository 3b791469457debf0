//! [`SessionStore`], [`RevocationFeedStore`] and [`UserDirectory`] on
//! `sessions/{id}` (and `grants` for the directory).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use super::client::Doc;
use super::ops::{doc_id, equal, range, unchanged_since, update, Step, MAX_WRITES};
use super::records::{StoredGrant, StoredSession};
use super::value::{seconds, string};
use super::FirestoreStore;
use crate::store::contracts::{RevocationFeedStore, SessionStore, StoreFuture, UserDirectory};
use crate::store::{KnownUser, NewSession, SessionRecord, StoreError, SIGNED_OUT_EVERYWHERE};

pub(super) const SESSIONS: &str = "sessions";
/// Most live sessions listed: a page, as the SQL store's.
const MAX_LISTED: usize = 100;

fn read(doc: Option<&Doc>) -> Result<Option<StoredSession>, StoreError> {
    doc.map(StoredSession::read).transpose()
}

fn new_stored(s: &NewSession) -> StoredSession {
    StoredSession {
        record: SessionRecord {
            id: s.id.clone(),
            secret_hash: s.secret_hash.clone(),
            subject: s.subject.clone(),
            email: s.email.clone(),
            name: s.name.clone(),
            hosted_domain: s.hosted_domain.clone(),
            created_at: s.created_at,
            last_seen_at: s.created_at,
            expires_at: s.expires_at,
            revoked_at: None,
            provider_sid: s.provider_sid.clone(),
            device: s.device.clone(),
            place: s.place.clone(),
            revoked_reason: None,
        },
        apps: Vec::new(),
    }
}

impl FirestoreStore {
    /// Changes a live session with `change`; whether it was live. `owner`:
    /// only if the session is that subject's.
    async fn change_live(
        &self,
        id: &str,
        owner: Option<&str>,
        change: impl Fn(&mut StoredSession),
    ) -> Result<bool, StoreError> {
        self.modify(SESSIONS, id, |doc| match read(doc)? {
            Some(mut s) if s.is_live() && owner.is_none_or(|o| o == s.record.subject) => {
                change(&mut s);
                Ok(Step::Write(s.fields(), true))
            }
            _ => Ok(Step::Leave(false)),
        })
        .await
    }

    /// Every session of `subject`, revoked or not (one equality on
    /// `subject`).
    pub(super) async fn sessions_of(
        &self,
        subject: &str,
    ) -> Result<Vec<(Doc, StoredSession)>, StoreError> {
        let query = equal(SESSIONS, "subject", string(subject));
        self.stored_sessions(query).await
    }

    /// The sessions `query` finds, each with the document it was read from.
    pub(super) async fn stored_sessions(
        &self,
        query: serde_json::Value,
    ) -> Result<Vec<(Doc, StoredSession)>, StoreError> {
        let docs = self.client.run_query(query).await?;
        docs.into_iter()
            .map(|d| {
                let s = StoredSession::read(&d)?;
                Ok((d, s))
            })
            .collect()
    }

    async fn revoke_all_of(
        &self,
        subject: &str,
        keep: Option<&str>,
        now: u64,
    ) -> Result<u64, StoreError> {
        let due = |s: &StoredSession| {
            s.is_live() && s.record.expires_at > now && Some(s.record.id.as_str()) != keep
        };
        let revoke = |s: &mut StoredSession| {
            s.record.revoked_at = Some(now);
            s.record.revoked_reason = Some(SIGNED_OUT_EVERYWHERE.to_owned());
        };
        let mut candidates = self.sessions_of(subject).await?;
        candidates.retain(|(_, s)| due(s));
        let mut revoked = 0;
        for chunk in candidates.chunks_mut(MAX_WRITES) {
            let writes = chunk
                .iter_mut()
                .map(|(doc, s)| {
                    revoke(s);
                    let name = self.client.name(SESSIONS, &doc.id);
                    update(name, s.fields(), unchanged_since(Some(&*doc)))
                })
                .collect();
            let applied = self.client.batch_write(writes).await?;
            for ((_, s), applied) in chunk.iter().zip(applied) {
                if applied {
                    revoked += 1;
                    continue;
                }
                // Changed since read: decide again on what is stored now.
                let id = s.record.id.as_str();
                let again = self.modify(SESSIONS, id, |doc| match read(doc)? {
                    Some(mut s) if due(&s) => {
                        revoke(&mut s);
                        Ok(Step::Write(s.fields(), true))
                    }
                    _ => Ok(Step::Leave(false)),
                });
                revoked += u64::from(again.await?);
            }
        }
        Ok(revoked)
    }

    async fn purge_sessions_now(
        &self,
        now: u64,
        keep_revoked: Duration,
    ) -> Result<u64, StoreError> {
        let revoked_before = now.saturating_sub(keep_revoked.as_secs());
        let expired = self
            .purge(SESSIONS, || {
                range(
                    SESSIONS,
                    "expires_at",
                    "LESS_THAN",
                    seconds(now),
                    MAX_WRITES,
                )
            })
            .await?;
        let old = self
            .purge(SESSIONS, || {
                range(
                    SESSIONS,
                    "revoked_at",
                    "LESS_THAN",
                    seconds(revoked_before),
                    MAX_WRITES,
                )
            })
            .await?;
        Ok(expired + old)
    }

    async fn revoked_since(
        &self,
        since: u64,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut query = range(
            SESSIONS,
            "revoked_at",
            "GREATER_THAN_OR_EQUAL",
            seconds(since),
            limit as usize,
        );
        if let Some(id) = after {
            let reference = json!({ "referenceValue": self.client.name(SESSIONS, &doc_id(id)) });
            query["startAt"] = json!({ "values": [seconds(since), reference], "before": false });
        }
        let page = self.stored_sessions(query).await?;
        Ok(page
            .into_iter()
            .filter_map(|(_, s)| Some((s.record.id, s.record.revoked_at?)))
            .collect())
    }

    async fn users_matching_now(&self, user: &str) -> Result<Vec<KnownUser>, StoreError> {
        let lower = user.to_lowercase();
        let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
        if let Some(doc) = self.client.get("grants", &doc_id(user)).await? {
            let g = StoredGrant::read(&doc)?.record;
            pairs.insert((g.subject, g.email));
        }
        let by_email = equal("grants", "email_lower", string(&lower));
        for doc in self.client.run_query(by_email).await? {
            let g = StoredGrant::read(&doc)?.record;
            pairs.insert((g.subject, g.email));
        }
        let by_subject = self.sessions_of(user).await?;
        let by_email = equal(SESSIONS, "email_lower", string(&lower));
        let by_email = self.stored_sessions(by_email).await?;
        for (_, s) in by_subject.into_iter().chain(by_email) {
            pairs.insert((s.record.subject, s.record.email));
        }
        // A set of pairs iterates sorted, as the SQL store's ORDER BY.
        Ok(KnownUser::grouped(pairs, user))
    }
}

impl SessionStore for FirestoreStore {
    fn create_session<'a>(&'a self, session: &'a NewSession) -> StoreFuture<'a, ()> {
        Box::pin(self.create(SESSIONS, &session.id, new_stored(session).fields()))
    }

    fn session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SessionRecord>> {
        Box::pin(async move {
            let doc = self.client.get(SESSIONS, &doc_id(id)).await?;
            Ok(read(doc.as_ref())?.map(|s| s.record))
        })
    }

    fn touch_session<'a>(&'a self, id: &'a str, now: u64) -> StoreFuture<'a, bool> {
        Box::pin(self.change_live(id, None, move |s| s.record.last_seen_at = now))
    }

    fn has_live_session<'a>(
        &'a self,
        subject: &'a str,
        now: u64,
        idle_timeout: u64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let idle_since = now.saturating_sub(idle_timeout);
            let sessions = self.sessions_of(subject).await?;
            Ok(sessions.iter().any(|(_, s)| {
                s.is_live() && s.record.expires_at > now && s.record.last_seen_at > idle_since
            }))
        })
    }

    fn refresh_session<'a>(
        &'a self,
        id: &'a str,
        email: &'a str,
        name: Option<&'a str>,
        hosted_domain: Option<&'a str>,
        now: u64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.change_live(id, None, move |s| {
            s.record.last_seen_at = now;
            s.record.email = email.to_owned();
            s.record.name = name.map(str::to_owned);
            s.record.hosted_domain = hosted_domain.map(str::to_owned);
        }))
    }

    fn set_session_provider_sid<'a>(
        &'a self,
        id: &'a str,
        provider_sid: Option<&'a str>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.modify(SESSIONS, id, move |doc| match read(doc)? {
            Some(mut s) => {
                s.record.provider_sid = provider_sid.map(str::to_owned);
                Ok(Step::Write(s.fields(), ()))
            }
            None => Ok(Step::Leave(())),
        }))
    }

    fn revoke_session<'a>(&'a self, id: &'a str, now: u64) -> StoreFuture<'a, bool> {
        Box::pin(self.change_live(id, None, move |s| s.record.revoked_at = Some(now)))
    }

    fn revoke_session_of<'a>(
        &'a self,
        subject: &'a str,
        id: &'a str,
        now: u64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.change_live(id, Some(subject), move |s| s.record.revoked_at = Some(now)))
    }

    fn revoke_sessions_of<'a>(
        &'a self,
        subject: &'a str,
        keep: Option<&'a str>,
        now: u64,
    ) -> StoreFuture<'a, u64> {
        Box::pin(self.revoke_all_of(subject, keep, now))
    }

    fn live_sessions_of<'a>(
        &'a self,
        subject: &'a str,
        now: u64,
    ) -> StoreFuture<'a, Vec<SessionRecord>> {
        Box::pin(async move {
            let mut live: Vec<SessionRecord> = self
                .sessions_of(subject)
                .await?
                .into_iter()
                .map(|(_, s)| s)
                .filter(|s| s.is_live() && s.record.expires_at > now)
                .map(|s| s.record)
                .collect();
            live.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
            live.truncate(MAX_LISTED);
            Ok(live)
        })
    }

    fn record_session_app<'a>(
        &'a self,
        id: &'a str,
        app: &'a str,
        now: u64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.modify(SESSIONS, id, move |doc| {
            let Some(mut s) = read(doc)? else {
                return Ok(Step::Leave(()));
            };
            match s.apps.iter_mut().find(|(a, _)| a == app) {
                Some((_, at)) => *at = now,
                None => s.apps.push((app.to_owned(), now)),
            }
            Ok(Step::Write(s.fields(), ()))
        }))
    }

    fn apps_of_session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let doc = self.client.get(SESSIONS, &doc_id(id)).await?;
            let Some(mut s) = read(doc.as_ref())? else {
                return Ok(Vec::new());
            };
            s.apps.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            Ok(s.apps.into_iter().map(|(app, _)| app).collect())
        })
    }

    fn purge_sessions(&self, now: u64, keep_revoked: Duration) -> StoreFuture<'_, u64> {
        Box::pin(self.purge_sessions_now(now, keep_revoked))
    }
}

impl RevocationFeedStore for FirestoreStore {
    fn sessions_revoked_since<'a>(
        &'a self,
        since: u64,
        after: Option<&'a str>,
        limit: u32,
    ) -> StoreFuture<'a, Vec<(String, u64)>> {
        Box::pin(self.revoked_since(since, after, limit))
    }
}

impl UserDirectory for FirestoreStore {
    fn users_matching<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<KnownUser>> {
        Box::pin(self.users_matching_now(user))
    }
}

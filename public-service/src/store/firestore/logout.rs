//! [`CodeStore`] on `handoff_codes/{hex of the hash}` and
//! [`LogoutTokenStore`] on `logout_jtis/{hex of SHA-256 of the jti}`.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::client::{Committed, Doc};
use super::ops::{contention, equal, hex, range, unchanged_since, update, Step, MAX_WRITES};
use super::records::StoredSession;
use super::sessions::SESSIONS;
use super::value::{
    bytes, read_bytes, read_seconds, read_string, required, seconds, string, timestamp, Fields,
};
use super::FirestoreStore;
use crate::store::contracts::{CodeStore, LogoutTokenStore, StoreFuture};
use crate::store::{LogoutTarget, NewCode, RedeemedCode, StoreError};

const CODES: &str = "handoff_codes";
const JTIS: &str = "logout_jtis";
/// Attempts of one logout whose commit met another writer's, before
/// giving up.
const TRANSACTION_ATTEMPTS: usize = 10;

fn code_fields(code: &NewCode) -> Fields {
    let mut f = Fields::new();
    f.insert("audience".into(), string(&code.audience));
    f.insert("session_id".into(), string(&code.session_id));
    f.insert("return_to".into(), string(&code.return_to));
    f.insert("binding_hash".into(), bytes(&code.binding_hash));
    f.insert("created_at".into(), seconds(code.created_at));
    f.insert("expires_at".into(), seconds(code.expires_at));
    f.insert("delete_after".into(), timestamp(code.expires_at));
    f
}

/// Marks the code used if `audience` may redeem it at `now`.
fn redeem(
    doc: Option<&Doc>,
    audience: &str,
    now: u64,
) -> Result<Step<Option<RedeemedCode>>, StoreError> {
    let Some(doc) = doc else {
        return Ok(Step::Leave(None));
    };
    let f = &doc.fields;
    let usable = read_string(f, "audience")?.as_deref() == Some(audience)
        && read_seconds(f, "used_at")?.is_none()
        && required(read_seconds(f, "expires_at"), "expires_at")? > now;
    if !usable {
        return Ok(Step::Leave(None));
    }
    let redeemed = RedeemedCode {
        session_id: required(read_string(f, "session_id"), "session_id")?,
        return_to: required(read_string(f, "return_to"), "return_to")?,
        binding_hash: read_bytes(f, "binding_hash")?,
    };
    let mut used = f.clone();
    used.insert("used_at".into(), seconds(now));
    Ok(Step::Write(used, Some(redeemed)))
}

fn jti_id(jti: &str) -> String {
    hex(&Sha256::digest(jti.as_bytes()))
}

/// What one attempt of a logout came to.
enum Attempt {
    /// Committed: the `jti` is remembered, and this many sessions revoked.
    Committed(u64),
    /// Nothing written: this is the answer (a replay's `None`).
    Unchanged(Option<u64>),
    /// A precondition failed (another writer came first): read again.
    Retry,
}

impl FirestoreStore {
    /// One attempt: the `jti` read, the sessions it names read, and one
    /// atomic commit of every write, each conditional on the document read
    /// being unchanged (the `jti` still absent or as read, each session as
    /// read). Two concurrent takes of one `jti` both read it absent; the
    /// first commit creates it and the other's precondition fails, so it
    /// reads again and is refused.
    async fn take_logout_once(
        &self,
        jti: &str,
        remember_until: u64,
        target: LogoutTarget<'_>,
        now: u64,
    ) -> Result<Attempt, StoreError> {
        let id = jti_id(jti);
        let stored = self.client.get(JTIS, &id).await?;
        if let Some(doc) = &stored {
            if read_seconds(&doc.fields, "remember_until")?.is_some_and(|until| until > now) {
                return Ok(Attempt::Unchanged(None));
            }
        }
        let Some(sessions) = self.named_sessions(target, now).await? else {
            // The token's verification requires a subject or a sid.
            return Ok(Attempt::Unchanged(Some(0)));
        };
        let mut jti_fields = Fields::new();
        jti_fields.insert("remember_until".into(), seconds(remember_until));
        jti_fields.insert("delete_after".into(), timestamp(remember_until));
        let mut writes: Vec<Value> = vec![update(
            self.client.name(JTIS, &id),
            jti_fields,
            unchanged_since(stored.as_ref()),
        )];
        for (doc, mut session) in sessions {
            session.record.revoked_at = Some(now);
            let name = self.client.name(SESSIONS, &doc.id);
            writes.push(update(name, session.fields(), unchanged_since(Some(&doc))));
        }
        let revoked = writes.len() as u64 - 1;
        match self.client.commit(writes).await? {
            Committed::Yes => Ok(Attempt::Committed(revoked)),
            Committed::Conflict => Ok(Attempt::Retry),
        }
    }

    /// The live sessions `target` names; `None` when it names none.
    async fn named_sessions(
        &self,
        target: LogoutTarget<'_>,
        now: u64,
    ) -> Result<Option<Vec<(Doc, StoredSession)>>, StoreError> {
        let sessions = match (target.provider_sid, target.subject) {
            (Some(sid), subject) => {
                let query = equal(SESSIONS, "provider_sid", string(sid));
                let mut found = self.stored_sessions(query).await?;
                found.retain(|(_, s)| subject.is_none_or(|sub| sub == s.record.subject));
                found
            }
            (None, Some(subject)) => {
                let mut found = self.sessions_of(subject).await?;
                found.retain(|(_, s)| s.record.expires_at > now);
                found
            }
            (None, None) => return Ok(None),
        };
        Ok(Some(
            sessions.into_iter().filter(|(_, s)| s.is_live()).collect(),
        ))
    }
}

impl CodeStore for FirestoreStore {
    fn create_handoff_code<'a>(&'a self, code: &'a NewCode) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let id = hex(&code.code_hash);
            self.create(CODES, &id, code_fields(code)).await
        })
    }

    fn redeem_handoff_code<'a>(
        &'a self,
        code_hash: &'a [u8],
        audience: &'a str,
        now: u64,
    ) -> StoreFuture<'a, Option<RedeemedCode>> {
        Box::pin(async move {
            let id = hex(code_hash);
            self.modify(CODES, &id, |doc| redeem(doc, audience, now))
                .await
        })
    }

    fn purge_handoff_codes(&self, before: u64) -> StoreFuture<'_, u64> {
        Box::pin(self.purge(CODES, move || {
            range(
                CODES,
                "expires_at",
                "LESS_THAN",
                seconds(before),
                MAX_WRITES,
            )
        }))
    }
}

impl LogoutTokenStore for FirestoreStore {
    fn take_logout_token<'a>(
        &'a self,
        jti: &'a str,
        remember_until: u64,
        target: LogoutTarget<'a>,
        now: u64,
    ) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move {
            for _ in 0..TRANSACTION_ATTEMPTS {
                match self
                    .take_logout_once(jti, remember_until, target, now)
                    .await?
                {
                    Attempt::Committed(revoked) => return Ok(Some(revoked)),
                    Attempt::Unchanged(answer) => return Ok(answer),
                    Attempt::Retry => continue,
                }
            }
            Err(contention())
        })
    }

    fn purge_logout_token_jtis(&self, now: u64) -> StoreFuture<'_, u64> {
        Box::pin(self.purge(JTIS, move || {
            range(
                JTIS,
                "remember_until",
                "LESS_THAN_OR_EQUAL",
                seconds(now),
                MAX_WRITES,
            )
        }))
    }
}

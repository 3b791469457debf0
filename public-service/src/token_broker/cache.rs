//! The broker's memory (layers 1 and 2): tokens minted on this instance,
//! trusted for [`RECHECK_AFTER`] before the grant is read again, and one
//! async lock per user so that callers on this instance wait for one
//! refresh instead of each starting one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{
    AccessToken, BrokerError, Holder, TokenBroker, TokenRequest, EXPIRY_MARGIN, RECHECK_AFTER,
};
use crate::scopes::ScopeSet;
use crate::store::GrantRecord;

/// Entries kept in memory before expired ones are dropped.
const CACHE_CAPACITY: usize = 10_000;
/// Narrowed tokens kept per user, of different scope sets.
const TOKENS_PER_USER: usize = 8;

type UserLock = Arc<tokio::sync::Mutex<()>>;

#[derive(Default)]
pub(super) struct Cache {
    entries: Mutex<HashMap<String, Cached>>,
    locks: Mutex<HashMap<String, UserLock>>,
}

/// What this instance knows of one user's grant, and the tokens it holds.
struct Cached {
    email: String,
    hosted_domain: Option<String>,
    /// The grant's scopes.
    scopes: ScopeSet,
    /// The grant's version the tokens were minted under.
    version: i64,
    checked_at: u64,
    /// By the scopes asked for ([`ScopeSet::to_scope_string`]); a token
    /// may carry more than its key says (a provider that did not narrow),
    /// which [`TokenBroker::access_token`] checks on the way out.
    tokens: HashMap<String, AccessToken>,
}

impl Cached {
    fn holder<'a>(&'a self, subject: &'a str) -> Holder<'a> {
        Holder {
            subject,
            email: &self.email,
            hosted_domain: self.hosted_domain.as_deref(),
        }
    }

    fn token_for(&self, asked: &ScopeSet, now: u64) -> Option<AccessToken> {
        self.tokens
            .get(&asked.to_scope_string())
            .filter(|t| t.expires_at > now + EXPIRY_MARGIN.as_secs())
            .cloned()
    }
}

impl TokenBroker {
    /// The answer from memory, while the grant was read recently enough.
    pub(super) fn cached(
        &self,
        request: &TokenRequest<'_>,
    ) -> Option<Result<AccessToken, BrokerError>> {
        let now = self.clock.unix_seconds();
        let cache = self.cache.entries();
        let entry = cache.get(request.subject)?;
        if now >= entry.checked_at + RECHECK_AFTER.as_secs() {
            return None;
        }
        if let Err(refusal) = (request.admit)(&entry.holder(request.subject)) {
            return Some(Err(BrokerError::Refused(refusal)));
        }
        // A scope the grant lacks: the row may have it by now.
        let asked = self.plan(&entry.scopes, &request.wanted).ok()?;
        entry.token_for(&asked, now).map(Ok)
    }

    /// A token held in memory for `asked`, minted under the grant's
    /// current version: the grant was just read, so it counts as re-checked.
    pub(super) fn rearmed(
        &self,
        grant: &GrantRecord,
        asked: &ScopeSet,
        now: u64,
    ) -> Option<AccessToken> {
        let mut cache = self.cache.entries();
        let entry = cache.get_mut(&grant.subject)?;
        if entry.version != grant.version {
            return None;
        }
        entry.checked_at = now;
        entry.email = grant.email.clone();
        entry.hosted_domain = grant.hosted_domain.clone();
        entry.scopes = grant.scope_set();
        entry.token_for(asked, now)
    }

    /// Keeps `token`, minted for `asked` under the grant's `version`.
    pub(super) fn remember(
        &self,
        grant: &GrantRecord,
        version: i64,
        granted: &ScopeSet,
        asked: &ScopeSet,
        token: AccessToken,
    ) -> AccessToken {
        let now = self.clock.unix_seconds();
        let mut cache = self.cache.entries();
        if cache.len() >= CACHE_CAPACITY && !cache.contains_key(&grant.subject) {
            cache.retain(|_, c| c.tokens.values().any(|t| t.expires_at > now));
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        let entry = cache
            .entry(grant.subject.clone())
            .or_insert_with(|| Cached {
                email: String::new(),
                hosted_domain: None,
                scopes: ScopeSet::default(),
                version,
                checked_at: now,
                tokens: HashMap::new(),
            });
        if entry.version != version {
            entry.tokens.clear();
        }
        entry.tokens.retain(|_, t| t.expires_at > now);
        if entry.tokens.len() >= TOKENS_PER_USER {
            entry.tokens.clear();
        }
        entry.email = grant.email.clone();
        entry.hosted_domain = grant.hosted_domain.clone();
        entry.scopes = granted.clone();
        entry.version = version;
        entry.checked_at = now;
        entry.tokens.insert(asked.to_scope_string(), token.clone());
        token
    }

    pub fn forget(&self, subject: &str) {
        self.cache.entries().remove(subject);
    }

    /// Runs `work` holding the user's lock on this instance: concurrent
    /// callers for one user wait for the first.
    pub(super) async fn single_flight<T>(
        &self,
        subject: &str,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let lock = self
            .cache
            .locks()
            .entry(subject.to_owned())
            .or_default()
            .clone();
        let held = lock.lock().await;
        let result = work.await;
        drop(held);
        let mut locks = self.cache.locks();
        // Two references: the map's and ours; nobody else is waiting.
        if Arc::strong_count(&lock) == 2 {
            locks.remove(subject);
        }
        result
    }
}

impl Cache {
    fn entries(&self) -> MutexGuard<'_, HashMap<String, Cached>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn locks(&self) -> MutexGuard<'_, HashMap<String, UserLock>> {
        self.locks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

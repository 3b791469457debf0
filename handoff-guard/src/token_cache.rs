//! Tokens already verified, so a token presented on every request costs
//! one signature check in its life, not one per request.
//!
//! Each verifier owns its cache, so an entry only ever answers for the
//! issuer, audiences and key source it was verified against. An entry is
//! keyed by the SHA-256 of the whole token (a changed byte anywhere is a
//! different token, and no token is kept in memory) and holds the claims,
//! their lifetime and the key that verified them. Only successful
//! verifications are stored. A hit is served only after the checks that
//! can change with time are made again, exactly as on a miss: the lifetime
//! against the verifier's clock (an expired entry is dropped and refused
//! with the verifier's error), and the key: the key source is asked for
//! the token's `kid` again (which re-fetches a stale key set as it would
//! for a miss), and the entry is served only if it answers with the very
//! key that verified it. A retired or replaced key therefore ends its
//! entries on the next request after the key set is refreshed. Checks
//! made by the caller after verification (revoked sessions, the access
//! policy, which audience a service may use) run on every request either
//! way.
//!
//! The bound: a fixed number of entries, split over shards each held by a
//! short lock (never across an `.await`). A full shard drops its oldest
//! entry (first in, first out, O(1)). Only tokens that verify can take a
//! place, so flooding the cache takes tokens the public service (or the
//! provider) signed for this audience, and each one costs its sender a full
//! verification, the very cost an evicted entry costs once when its token
//! comes back: a flood can make the cache as slow as having no cache, no
//! worse. A recency order (LRU) would need a write on every hit; FIFO keeps
//! hits to one lookup.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jsonwebtoken::DecodingKey;
use sha2::{Digest as _, Sha256};

use crate::verifier::{check_lifetime, KeySource, VerifyError};

/// Entries a verifier keeps unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 10_000;

const SHARDS: usize = 16;

/// The SHA-256 of a whole token.
pub(crate) type TokenDigest = [u8; 32];

pub(crate) fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// What a successful verification established.
pub(crate) struct Verified<C> {
    pub claims: Arc<C>,
    pub starts: u64,
    pub expires: u64,
    pub kid: Option<Arc<str>>,
    pub key: Arc<DecodingKey>,
}

impl<C> Clone for Verified<C> {
    fn clone(&self) -> Self {
        Self {
            claims: self.claims.clone(),
            starts: self.starts,
            expires: self.expires,
            kid: self.kid.clone(),
            key: self.key.clone(),
        }
    }
}

struct Shard<C> {
    /// Each entry with the place in `order` it owns.
    entries: HashMap<TokenDigest, (Verified<C>, usize)>,
    /// Insertion order, a ring once full; a place whose digest no longer
    /// owns it (removed, or inserted again elsewhere) is simply reused.
    order: Vec<TokenDigest>,
    next: usize,
}

pub struct VerifiedTokens<C> {
    shards: Box<[Mutex<Shard<C>>]>,
    per_shard: usize,
}

impl<C> VerifiedTokens<C> {
    /// At most `capacity` entries; `0` caches nothing.
    pub fn new(capacity: usize) -> Self {
        let shards = capacity.clamp(1, SHARDS);
        let shards = (0..shards)
            .map(|_| {
                Mutex::new(Shard {
                    entries: HashMap::new(),
                    order: Vec::new(),
                    next: 0,
                })
            })
            .collect();
        Self {
            shards,
            per_shard: capacity / capacity.clamp(1, SHARDS),
        }
    }

    pub fn len(&self) -> usize {
        (0..self.shards.len())
            .map(|i| lock(&self.shards[i]).entries.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The verified claims of the token whose digest is `digest`, if its
    /// entry may still be served (see the module docs); `None`: verify it.
    pub(crate) async fn lookup(
        &self,
        digest: &TokenDigest,
        keys: &KeySource,
        now: u64,
        leeway: Duration,
    ) -> Option<Result<Arc<C>, VerifyError>> {
        let hit = self.get(digest)?;
        if let Err(refused) = check_lifetime(hit.starts, hit.expires, now, leeway) {
            self.remove(digest);
            return Some(Err(refused));
        }
        match keys.key(hit.kid.as_deref()).await {
            Ok(key) if Arc::ptr_eq(&key, &hit.key) => Some(Ok(hit.claims)),
            _ => {
                self.remove(digest);
                None
            }
        }
    }

    pub(crate) fn insert(&self, digest: TokenDigest, verified: Verified<C>) {
        if self.per_shard == 0 {
            return;
        }
        let mut shard = self.shard(&digest);
        let place = if shard.order.len() < self.per_shard {
            shard.order.push(digest);
            shard.order.len() - 1
        } else {
            let place = shard.next;
            shard.next = (place + 1) % self.per_shard;
            let oldest = std::mem::replace(&mut shard.order[place], digest);
            if shard.entries.get(&oldest).is_some_and(|(_, p)| *p == place) {
                shard.entries.remove(&oldest);
            }
            place
        };
        shard.entries.insert(digest, (verified, place));
    }

    fn get(&self, digest: &TokenDigest) -> Option<Verified<C>> {
        self.shard(digest)
            .entries
            .get(digest)
            .map(|(verified, _)| verified.clone())
    }

    fn remove(&self, digest: &TokenDigest) {
        self.shard(digest).entries.remove(digest);
    }

    fn shard(&self, digest: &TokenDigest) -> MutexGuard<'_, Shard<C>> {
        lock(&self.shards[usize::from(digest[0]) % self.shards.len()])
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests;

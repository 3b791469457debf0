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
//! The bound: a fixed number of entries in a `quick_cache` cache (sharded,
//! a read lock per hit, S3-FIFO eviction: an entry seen once leaves before
//! one seen again). Only tokens that verify can take a place, so flooding
//! the cache takes tokens the public service (or the provider) signed for
//! this audience, and each one costs its sender a full verification, the
//! very cost an evicted entry costs once when its token comes back: a flood
//! can make the cache as slow as having no cache, no worse. S3-FIFO keeps
//! the entries that are used again through such a flood, which the
//! first-in-first-out ring this replaced did not.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::DecodingKey;
use sha2::{Digest as _, Sha256};

use crate::token_checks::{check_lifetime, KeySource, VerifyError};

/// Entries a verifier keeps unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 10_000;

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

/// The verified tokens of one verifier, with claims of type `C` (see the
/// module docs). Each verifier makes and owns its own, sized by its
/// `with_cache_capacity`; only the verifier reads and fills it.
pub struct VerifiedTokens<C> {
    /// `None`: a capacity of `0`, nothing is kept.
    cache: Option<quick_cache::sync::Cache<TokenDigest, Verified<C>>>,
}

impl<C> VerifiedTokens<C> {
    /// At most `capacity` entries; `0` caches nothing.
    pub fn new(capacity: usize) -> Self {
        Self {
            cache: (capacity > 0).then(|| quick_cache::sync::Cache::new(capacity)),
        }
    }

    /// How many tokens are kept now (at most the capacity; an expired
    /// entry counts until a request for its token or eviction drops it).
    pub fn len(&self) -> usize {
        self.cache.as_ref().map_or(0, |cache| cache.len())
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
        if let Some(cache) = &self.cache {
            cache.insert(digest, verified);
        }
    }

    fn get(&self, digest: &TokenDigest) -> Option<Verified<C>> {
        self.cache.as_ref()?.get(digest)
    }

    fn remove(&self, digest: &TokenDigest) {
        if let Some(cache) = &self.cache {
            cache.remove(digest);
        }
    }
}

#[cfg(test)]
mod tests;

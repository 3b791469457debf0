//! What the service needs of storage, one trait per aggregate, each
//! contract written where it is declared.
//!
//! Every backend (the SQL [`super::Store`] today) implements them all,
//! and `store::conformance` checks each promise, the races included, so
//! that a new backend is judged by the same tests. The traits are object
//! safe (`Arc<dyn SessionStore>`), so the backend is chosen at run time:
//! each method returns a boxed future ([`StoreFuture`]) rather than being an
//! `async fn`, which a trait object cannot hold.
//!
//! Times are Unix seconds passed in by the caller (who owns the clock);
//! no backend reads the time itself, so a test moves one clock for all.
//! "Absent" is always `Ok(None)` (or `false`, `0`, an empty list), never an
//! error: an error means the backend could not answer.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::{
    FreshTokens, GrantRecord, KeyUsage, KnownUser, LogoutTarget, NewCode, NewSession, RedeemedCode,
    Resealed, SessionRecord, SignInGrant, StoreError,
};
use crate::token_cipher::Sealed;

/// What every storage call returns: a `Send` future, so a call can be
/// spawned as well as awaited.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Why a grant's lease is taken: both kinds exclude each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeasePurpose {
    /// The broker's refresh at the provider: only a usable grant (not
    /// revoked, holding a refresh token) can be leased.
    Refresh,
    /// `admin grants reseal`: any grant (its access token alone may need
    /// moving to the newest key).
    Reseal,
}

/// Each user's grant: the sealed refresh token, the last access token of
/// the whole grant, the scopes, and the lease.
///
/// - **Version (compare-and-swap).** A grant carries a `version` that
///   changes whenever its refresh token or its revocation does. A write
///   given a `read_version` happens only if the grant's version is still
///   that one, and reports whether it did; of two writers that read one
///   version, exactly one succeeds. A new refresh token from a sign-in
///   always wins (it is newer than anything a refresh read).
/// - **Lease.** At most one holder at a time per grant, named by a lease id
///   the holder picks, until a time the holder gives. While it is held
///   (and not past that time) every other acquirer is refused; once
///   released, committed or expired, the next acquirer gets it. Only the
///   holder's id can commit or release it.
/// - **Absent.** An unknown subject reads as `None`, and every write to it
///   changes nothing and returns `false`.
pub trait GrantStore: Send + Sync {
    /// The grant as stored, or `None`.
    fn grant<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Option<GrantRecord>>;

    /// Creates or updates the grant after a sign-in. A new refresh token
    /// replaces the stored one, lifts a revocation and moves the version
    /// on; without one, the stored token, its revocation and the version
    /// stay. The e-mail, `hd` and scopes become the sign-in's, and an
    /// access token given replaces the stored one.
    fn record_sign_in<'a>(&'a self, grant: &'a SignInGrant, now: u64) -> StoreFuture<'a, ()>;

    /// Takes the lease as `lease_id` until `until` if nobody holds it (or
    /// its holder's time is over at `now`) and the grant suits `purpose`;
    /// returns the grant as it is under the lease, or `None` (absent,
    /// unsuitable, or held by another).
    fn take_lease<'a>(
        &'a self,
        subject: &'a str,
        lease_id: &'a str,
        purpose: LeasePurpose,
        now: u64,
        until: u64,
    ) -> StoreFuture<'a, Option<GrantRecord>>;

    /// The holder's commit of a refresh: stores `fresh` and frees the lease,
    /// in one write. The access token and scopes given are stored; the
    /// refresh token only if the version is still `read_version` (then the
    /// version moves on). `false`: the lease was no longer `lease_id`'s, and
    /// nothing was written.
    fn finish_refresh<'a>(
        &'a self,
        subject: &'a str,
        lease_id: &'a str,
        read_version: i64,
        fresh: &'a FreshTokens,
        now: u64,
    ) -> StoreFuture<'a, bool>;

    /// Frees the lease if `lease_id` still holds it; otherwise nothing.
    fn release_lease<'a>(&'a self, subject: &'a str, lease_id: &'a str) -> StoreFuture<'a, ()>;

    /// Stores `refresh_token` outside a lease (the lease was lost while the
    /// provider rotated the token), only if the version is still
    /// `read_version` and the grant is not revoked; the version moves on.
    fn replace_refresh_token<'a>(
        &'a self,
        subject: &'a str,
        read_version: i64,
        refresh_token: &'a Sealed,
        now: u64,
    ) -> StoreFuture<'a, bool>;

    /// Marks the grant revoked, forgets its tokens, frees its lease and
    /// moves the version on. With `read_version`, only if the version is
    /// still that one. Returns whether this call revoked it (`false` for an
    /// absent or already revoked grant).
    fn revoke_grant<'a>(
        &'a self,
        subject: &'a str,
        read_version: Option<i64>,
        now: u64,
    ) -> StoreFuture<'a, bool>;
}

/// Moving sealed tokens to the newest key (`admin grants reseal`) and
/// counting which key seals what. A re-seal holds the grant's lease
/// ([`LeasePurpose::Reseal`], through [`GrantStore::take_lease`]) and frees
/// it with [`Self::finish_reseal`] or [`GrantStore::release_lease`].
pub trait ResealStore: Send + Sync {
    /// How many grants hold a token sealed by a key other than `newest_key`.
    fn count_stale_grants<'a>(&'a self, newest_key: &'a str) -> StoreFuture<'a, u64>;

    /// Subjects of those grants in ascending order, strictly after `after`
    /// when given, at most `limit`.
    fn stale_grant_subjects<'a>(
        &'a self,
        newest_key: &'a str,
        after: Option<&'a str>,
        limit: u32,
    ) -> StoreFuture<'a, Vec<String>>;

    /// Writes the re-seal of `read` (taken under `lease_id`) and frees the
    /// lease. `false`, writing nothing, if the lease was lost or the version
    /// is no longer `read.version`. The access token is replaced only if it
    /// is still the one read.
    fn finish_reseal<'a>(
        &'a self,
        read: &'a GrantRecord,
        lease_id: &'a str,
        resealed: &'a Resealed,
    ) -> StoreFuture<'a, bool>;

    /// How many refresh and access tokens each key id seals.
    fn key_usage(&self) -> StoreFuture<'_, BTreeMap<String, KeyUsage>>;
}

/// Browser sessions. Ids are unique (the caller makes them random); only
/// a hash of the cookie's secret is stored. A revocation is final: no call
/// brings a revoked session back, and every revoking call reports whether
/// *it* revoked (so of two concurrent revocations of one session, one
/// reports `true`). Absent: `None`, `false`, `0`.
pub trait SessionStore: Send + Sync {
    /// Stores a new live session; an id already stored is an error.
    fn create_session<'a>(&'a self, session: &'a NewSession) -> StoreFuture<'a, ()>;

    /// The session as stored, revoked or not, or `None`.
    fn session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SessionRecord>>;

    /// Records activity on a live (not revoked) session; `false` otherwise.
    fn touch_session<'a>(&'a self, id: &'a str, now: u64) -> StoreFuture<'a, bool>;

    /// Whether `subject` has a session not revoked, not past its absolute
    /// expiry at `now`, and last used less than `idle_timeout` ago.
    fn has_live_session<'a>(
        &'a self,
        subject: &'a str,
        now: u64,
        idle_timeout: u64,
    ) -> StoreFuture<'a, bool>;

    /// A new sign-in on a live session: its last use, and the e-mail, name
    /// and `hd` the provider vouched for this time. `false` if not live.
    fn refresh_session<'a>(
        &'a self,
        id: &'a str,
        email: &'a str,
        name: Option<&'a str>,
        hosted_domain: Option<&'a str>,
        now: u64,
    ) -> StoreFuture<'a, bool>;

    /// Records the provider session (`sid`) the session was last signed in
    /// with.
    fn set_session_provider_sid<'a>(
        &'a self,
        id: &'a str,
        provider_sid: Option<&'a str>,
    ) -> StoreFuture<'a, ()>;

    /// Revokes one session; whether this call revoked it.
    fn revoke_session<'a>(&'a self, id: &'a str, now: u64) -> StoreFuture<'a, bool>;

    /// Revokes session `id` only if it belongs to `subject` (a person ends
    /// one of their own); whether this call revoked it.
    fn revoke_session_of<'a>(
        &'a self,
        subject: &'a str,
        id: &'a str,
        now: u64,
    ) -> StoreFuture<'a, bool>;

    /// Revokes every live session of `subject` but `keep`, marking them
    /// [`super::SIGNED_OUT_EVERYWHERE`]; how many this call revoked.
    fn revoke_sessions_of<'a>(
        &'a self,
        subject: &'a str,
        keep: Option<&'a str>,
        now: u64,
    ) -> StoreFuture<'a, u64>;

    /// The subject's sessions neither revoked nor expired at `now`, newest
    /// first, at most a page (100).
    fn live_sessions_of<'a>(
        &'a self,
        subject: &'a str,
        now: u64,
    ) -> StoreFuture<'a, Vec<SessionRecord>>;

    /// Records that session `id` was handed to `app` at `now`.
    fn record_session_app<'a>(&'a self, id: &'a str, app: &'a str, now: u64)
        -> StoreFuture<'a, ()>;

    /// The apps session `id` was handed to, most recently first.
    fn apps_of_session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<String>>;

    /// Deletes sessions past their absolute expiry, and revoked ones older
    /// than `keep_revoked` (the feed's window); how many were deleted.
    fn purge_sessions(&self, now: u64, keep_revoked: Duration) -> StoreFuture<'_, u64>;
}

/// The revoked-sessions feed apps poll.
///
/// Entries are `(session id, revoked_at)` in ascending `(revoked_at, id)`
/// order. A page holds those revoked at or after `since`, strictly after
/// the cursor `after` (the id of the previous page's last entry, whose
/// `revoked_at` is `since`) when given, at most `limit`. Paging on
/// `(revoked_at, id)` loses and repeats nothing however many sessions are
/// revoked within one second.
pub trait RevocationFeedStore: Send + Sync {
    fn sessions_revoked_since<'a>(
        &'a self,
        since: u64,
        after: Option<&'a str>,
        limit: u32,
    ) -> StoreFuture<'a, Vec<(String, u64)>>;
}

/// One-time handoff codes. Only a hash of each code is stored.
///
/// - **Single use.** Redemption marks the code used and returns what it
///   was issued for in one step: of any number of concurrent redemptions
///   of one code, exactly one gets `Some`.
/// - **Bound to an app.** Only the audience (app) it was issued to can
///   redeem it; another app's attempt gets `None` and leaves it unused.
/// - **Bound to a browser.** The binding hash stored is returned as given,
///   for the caller to compare with the verifier brought; a code brought
///   with the wrong verifier is used up all the same.
/// - **Absent.** Unknown, used and expired codes give `None`.
pub trait CodeStore: Send + Sync {
    /// Stores a new code; a hash already stored is an error.
    fn create_handoff_code<'a>(&'a self, code: &'a NewCode) -> StoreFuture<'a, ()>;

    fn redeem_handoff_code<'a>(
        &'a self,
        code_hash: &'a [u8],
        audience: &'a str,
        now: u64,
    ) -> StoreFuture<'a, Option<RedeemedCode>>;

    /// Deletes codes that expired before `before`; how many.
    fn purge_handoff_codes(&self, before: u64) -> StoreFuture<'_, u64>;
}

/// Back-channel logout tokens: each `jti` is taken once.
///
/// [`Self::take_logout_token`] is create-if-absent and the revocation of
/// the sessions the token names, atomically: a `jti` still remembered is
/// refused (`None`) and nothing changes; otherwise it is remembered until
/// `remember_until` and the count of sessions revoked is returned. Of two
/// concurrent takes of one `jti`, exactly one is not refused. A `jti` whose
/// time is over may be taken again.
pub trait LogoutTokenStore: Send + Sync {
    fn take_logout_token<'a>(
        &'a self,
        jti: &'a str,
        remember_until: u64,
        target: LogoutTarget<'a>,
        now: u64,
    ) -> StoreFuture<'a, Option<u64>>;

    /// Forgets the `jti`s whose time is over at `now`; how many.
    fn purge_logout_token_jtis(&self, now: u64) -> StoreFuture<'_, u64>;
}

/// Who the store knows, by what an operator knows of them.
pub trait UserDirectory: Send + Sync {
    /// The subjects whose grant or sessions carry `user` as subject or, in
    /// any case, as e-mail, in subject order, each with every e-mail seen.
    /// An exact subject match comes alone. None known: an empty list.
    fn users_matching<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<KnownUser>>;
}

/// Whether the backend can answer, and what it takes to get there.
pub trait BackendReadiness: Send + Sync {
    /// A round trip to the backend.
    fn ping(&self) -> StoreFuture<'_, ()>;

    /// Whether the backend has answered (and its schema is current).
    fn is_prepared(&self) -> bool;

    /// Starts another attempt at a backend that was down, if one is due;
    /// returns at once.
    fn prepare_if_due(&self);

    /// Makes an attempt now if one is due; `true` once prepared.
    fn try_prepare(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>>;
}

/// Document reads, writes and deletes, as Firestore bills them
/// (<https://cloud.google.com/firestore/pricing>).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Operations {
    pub reads: u64,
    pub writes: u64,
    pub deletes: u64,
}

impl std::ops::Sub for Operations {
    type Output = Self;

    fn sub(self, earlier: Self) -> Self {
        Self {
            reads: self.reads.saturating_sub(earlier.reads),
            writes: self.writes.saturating_sub(earlier.writes),
            deletes: self.deletes.saturating_sub(earlier.deletes),
        }
    }
}

/// What the backend bills by: counted where the bill is per operation.
pub trait BackendUsage: Send + Sync {
    /// The billed operations this store has made since it was opened, or
    /// `None` for a backend billed by the hour (SQL).
    fn billed_operations(&self) -> Option<Operations> {
        None
    }
}

/// Every contract: what the service is started with.
pub trait Storage:
    GrantStore
    + ResealStore
    + SessionStore
    + RevocationFeedStore
    + CodeStore
    + LogoutTokenStore
    + UserDirectory
    + BackendReadiness
    + BackendUsage
{
}

impl<T> Storage for T where
    T: GrantStore
        + ResealStore
        + SessionStore
        + RevocationFeedStore
        + CodeStore
        + LogoutTokenStore
        + UserDirectory
        + BackendReadiness
        + BackendUsage
{
}

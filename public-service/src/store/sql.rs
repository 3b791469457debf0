//! The SQL [`Store`] fulfils every contract of [`super::contracts`].
//!
//! Each method maps onto the statement that keeps its promise (written
//! beside its table: `grants.rs`, `sessions.rs`, `codes.rs`, …); the
//! compare-and-swap and single-use rules are `WHERE` clauses of one
//! statement, so they hold across instances sharing the database.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::contracts::{
    BackendReadiness, BackendUsage, CodeStore, GrantStore, LeasePurpose, LogoutTokenStore,
    ResealStore, RevocationFeedStore, SessionStore, StoreFuture, UserDirectory,
};
use super::{
    FreshTokens, GrantRecord, KeyUsage, KnownUser, LogoutTarget, NewCode, NewSession, RedeemedCode,
    Resealed, SessionRecord, SignInGrant, Store,
};
use crate::token_cipher::Sealed;

impl GrantStore for Store {
    fn grant<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Option<GrantRecord>> {
        Box::pin(Store::grant(self, subject))
    }

    fn record_sign_in<'a>(&'a self, grant: &'a SignInGrant, now: u64) -> StoreFuture<'a, ()> {
        Box::pin(Store::record_sign_in(self, grant, now))
    }

    fn take_lease<'a>(
        &'a self,
        subject: &'a str,
        lease_id: &'a str,
        purpose: LeasePurpose,
        now: u64,
        until: u64,
    ) -> StoreFuture<'a, Option<GrantRecord>> {
        match purpose {
            LeasePurpose::Refresh => {
                Box::pin(self.take_refresh_lease(subject, lease_id, now, until))
            }
            LeasePurpose::Reseal => Box::pin(self.take_reseal_lease(subject, lease_id, now, until)),
        }
    }

    fn finish_refresh<'a>(
        &'a self,
        subject: &'a str,
        lease_id: &'a str,
        read_version: i64,
        fresh: &'a FreshTokens,
        now: u64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(Store::finish_refresh(
            self,
            subject,
            lease_id,
            read_version,
            fresh,
            now,
        ))
    }

    fn release_lease<'a>(&'a self, subject: &'a str, lease_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.release_refresh_lease(subject, lease_id))
    }

    fn replace_refresh_token<'a>(
        &'a self,
        subject: &'a str,
        read_version: i64,
        refresh_token: &'a Sealed,
        now: u64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(Store::replace_refresh_token(
            self,
            subject,
            read_version,
            refresh_token,
            now,
        ))
    }

    fn revoke_grant<'a>(
        &'a self,
        subject: &'a str,
        read_version: Option<i64>,
        now: u64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(Store::revoke_grant(self, subject, read_version, now))
    }
}

impl ResealStore for Store {
    fn count_stale_grants<'a>(&'a self, newest_key: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(Store::count_stale_grants(self, newest_key))
    }

    fn stale_grant_subjects<'a>(
        &'a self,
        newest_key: &'a str,
        after: Option<&'a str>,
        limit: u32,
    ) -> StoreFuture<'a, Vec<String>> {
        Box::pin(Store::stale_grant_subjects(self, newest_key, after, limit))
    }

    fn finish_reseal<'a>(
        &'a self,
        read: &'a GrantRecord,
        lease_id: &'a str,
        resealed: &'a Resealed,
    ) -> StoreFuture<'a, bool> {
        Box::pin(Store::finish_reseal(self, read, lease_id, resealed))
    }

    fn key_usage(&self) -> StoreFuture<'_, BTreeMap<String, KeyUsage>> {
        Box::pin(Store::key_usage(self))
    }
}

impl SessionStore for Store {
    fn create_session<'a>(&'a self, session: &'a NewSession) -> StoreFuture<'a, ()> {
        Box::pin(Store::create_session(self, session))
    }

    fn session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SessionRecord>> {
        Box::pin(Store::session(self, id))
    }

    fn touch_session<'a>(&'a self, id: &'a str, now: u64) -> StoreFuture<'a, bool> {
        Box::pin(Store::touch_session(self, id, now))
    }

    fn has_live_session<'a>(
        &'a self,
        subject: &'a str,
        now: u64,
        idle_timeout: u64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(Store::has_live_session(self, subject, now, idle_timeout))
    }

    fn refresh_session<'a>(
        &'a self,
        id: &'a str,
        email: &'a str,
        name: Option<&'a str>,
        hosted_domain: Option<&'a str>,
        now: u64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(Store::refresh_session(
            self,
            id,
            email,
            name,
            hosted_domain,
            now,
        ))
    }

    fn set_session_provider_sid<'a>(
        &'a self,
        id: &'a str,
        provider_sid: Option<&'a str>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(Store::set_session_provider_sid(self, id, provider_sid))
    }

    fn revoke_session<'a>(&'a self, id: &'a str, now: u64) -> StoreFuture<'a, bool> {
        Box::pin(Store::revoke_session(self, id, now))
    }

    fn revoke_session_of<'a>(
        &'a self,
        subject: &'a str,
        id: &'a str,
        now: u64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(Store::revoke_session_of(self, subject, id, now))
    }

    fn revoke_sessions_of<'a>(
        &'a self,
        subject: &'a str,
        keep: Option<&'a str>,
        now: u64,
    ) -> StoreFuture<'a, u64> {
        Box::pin(Store::revoke_sessions_of(self, subject, keep, now))
    }

    fn live_sessions_of<'a>(
        &'a self,
        subject: &'a str,
        now: u64,
    ) -> StoreFuture<'a, Vec<SessionRecord>> {
        Box::pin(Store::live_sessions_of(self, subject, now))
    }

    fn record_session_app<'a>(
        &'a self,
        id: &'a str,
        app: &'a str,
        now: u64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(Store::record_session_app(self, id, app, now))
    }

    fn apps_of_session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(Store::apps_of_session(self, id))
    }

    fn purge_sessions(&self, now: u64, keep_revoked: Duration) -> StoreFuture<'_, u64> {
        Box::pin(self.purge(now, keep_revoked))
    }
}

impl RevocationFeedStore for Store {
    fn sessions_revoked_since<'a>(
        &'a self,
        since: u64,
        after: Option<&'a str>,
        limit: u32,
    ) -> StoreFuture<'a, Vec<(String, u64)>> {
        Box::pin(Store::sessions_revoked_since(self, since, after, limit))
    }
}

impl CodeStore for Store {
    fn create_handoff_code<'a>(&'a self, code: &'a NewCode) -> StoreFuture<'a, ()> {
        Box::pin(Store::create_handoff_code(self, code))
    }

    fn redeem_handoff_code<'a>(
        &'a self,
        code_hash: &'a [u8],
        audience: &'a str,
        now: u64,
    ) -> StoreFuture<'a, Option<RedeemedCode>> {
        Box::pin(Store::redeem_handoff_code(self, code_hash, audience, now))
    }

    fn purge_handoff_codes(&self, before: u64) -> StoreFuture<'_, u64> {
        Box::pin(Store::purge_handoff_codes(self, before))
    }
}

impl LogoutTokenStore for Store {
    fn take_logout_token<'a>(
        &'a self,
        jti: &'a str,
        remember_until: u64,
        target: LogoutTarget<'a>,
        now: u64,
    ) -> StoreFuture<'a, Option<u64>> {
        Box::pin(Store::take_logout_token(
            self,
            jti,
            remember_until,
            target,
            now,
        ))
    }

    fn purge_logout_token_jtis(&self, now: u64) -> StoreFuture<'_, u64> {
        Box::pin(Store::purge_logout_token_jtis(self, now))
    }
}

impl UserDirectory for Store {
    fn users_matching<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<KnownUser>> {
        Box::pin(Store::users_matching(self, user))
    }
}

/// Billed by the hour (an instance), not per operation.
impl BackendUsage for Store {}

impl BackendReadiness for Store {
    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(Store::ping(self))
    }

    fn is_prepared(&self) -> bool {
        Store::is_prepared(self)
    }

    fn prepare_if_due(&self) {
        Store::prepare_if_due(self)
    }

    fn try_prepare(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(Store::try_prepare(self))
    }
}

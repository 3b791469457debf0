// Over 400 lines: each test runs on both backends through one macro, so the storage contract reads as one list of behaviours.
//! The storage interface's behaviour, the same on SQLite and PostgreSQL.

mod user_sessions;

use std::sync::Arc;
use std::time::Duration;

use handoff_guard::Clock;
use integration_tests::db::{Backend, TestDatabase};
use integration_tests::on_both_backends;
use public_service::housekeeping::{Housekeeping, PURGE_INTERVAL};
use public_service::store::{FreshTokens, NewCode, NewSession, SignInGrant, Store, StoreOptions};
use public_service::token_cipher::{Sealed, TokenCipher};
use secrecy::ExposeSecret;

mod costs;
mod session_devices;

pub(crate) const NOW: u64 = 1_900_000_000;

pub(crate) async fn store_on(backend: Backend) -> Option<(Store, TestDatabase)> {
    let db = TestDatabase::create(backend).await?;
    let store = Store::connect(&db.url, StoreOptions::default())
        .await
        .expect("the store connects and migrates");
    Some((store, db))
}

/// The grant a sign-in of `subject` records (its tokens sealed).
fn sign_in_grant(
    cipher: &TokenCipher,
    subject: &str,
    refresh: Option<&str>,
    scopes: &str,
) -> SignInGrant {
    SignInGrant {
        subject: subject.into(),
        email: format!("{subject}@example.com"),
        hosted_domain: Some("example.com".into()),
        scopes: scopes.split(' ').map(str::to_owned).collect(),
        refresh_token: refresh.map(|r| cipher.seal(r, &format!("refresh_token:{subject}"))),
        access_token: Some((
            cipher.seal("at-1", &format!("access_token:{subject}")),
            NOW + 3600,
        )),
    }
}

fn open_refresh(cipher: &TokenCipher, subject: &str, sealed: &Option<Sealed>) -> String {
    cipher
        .open(
            sealed.as_ref().expect("a stored refresh token"),
            &format!("refresh_token:{subject}"),
        )
        .unwrap()
        .expose_secret()
        .to_owned()
}

fn fresh(cipher: &TokenCipher, subject: &str, rotated: Option<&str>) -> FreshTokens {
    FreshTokens {
        access_token: Some((
            cipher.seal("at-2", &format!("access_token:{subject}")),
            NOW + 7200,
        )),
        scopes: Some(vec!["openid".into(), "email".into()]),
        refresh_token: rotated.map(|r| cipher.seal(r, &format!("refresh_token:{subject}"))),
    }
}

async fn a_returning_sign_in_without_a_refresh_token_keeps_the_stored_one(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    let cipher = TokenCipher::ephemeral();
    store
        .record_sign_in(
            &sign_in_grant(&cipher, "alice", Some("rt-1"), "openid email"),
            NOW,
        )
        .await
        .unwrap();
    let first = store.grant("alice").await.unwrap().unwrap();
    assert!(first.is_usable());

    store
        .record_sign_in(
            &sign_in_grant(&cipher, "alice", None, "openid email drive"),
            NOW + 10,
        )
        .await
        .unwrap();
    let second = store.grant("alice").await.unwrap().unwrap();
    assert_eq!(
        open_refresh(&cipher, "alice", &second.refresh_token),
        "rt-1"
    );
    assert_eq!(
        second.version, first.version,
        "the refresh token did not change"
    );
    assert_eq!(second.scopes, ["openid", "email", "drive"]);
    assert_eq!(second.created_at, NOW);
    assert_eq!(second.updated_at, NOW + 10);
}

async fn a_new_refresh_token_replaces_the_old_and_lifts_a_revocation(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    let cipher = TokenCipher::ephemeral();
    store
        .record_sign_in(&sign_in_grant(&cipher, "bob", Some("rt-1"), "openid"), NOW)
        .await
        .unwrap();
    assert!(store.revoke_grant("bob", None, NOW + 1).await.unwrap());
    let revoked = store.grant("bob").await.unwrap().unwrap();
    assert!(!revoked.is_usable());
    assert!(
        revoked.refresh_token.is_none(),
        "a revoked grant forgets its token"
    );
    assert!(
        !store.revoke_grant("bob", None, NOW + 2).await.unwrap(),
        "already revoked"
    );

    // A sign-in without a refresh token cannot revive it.
    store
        .record_sign_in(&sign_in_grant(&cipher, "bob", None, "openid"), NOW + 3)
        .await
        .unwrap();
    assert!(!store.grant("bob").await.unwrap().unwrap().is_usable());

    store
        .record_sign_in(
            &sign_in_grant(&cipher, "bob", Some("rt-2"), "openid"),
            NOW + 4,
        )
        .await
        .unwrap();
    let revived = store.grant("bob").await.unwrap().unwrap();
    assert!(revived.is_usable());
    assert_eq!(open_refresh(&cipher, "bob", &revived.refresh_token), "rt-2");
}

async fn twenty_concurrent_lease_requests_give_exactly_one_lease(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    let cipher = TokenCipher::ephemeral();
    store
        .record_sign_in(&sign_in_grant(&cipher, "carol", Some("rt"), "openid"), NOW)
        .await
        .unwrap();
    let attempts = (0..20).map(|i| {
        let store = store.clone();
        async move {
            store
                .take_refresh_lease("carol", &format!("lease-{i}"), NOW, NOW + 30)
                .await
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let granted = results
        .into_iter()
        .map(Result::unwrap)
        .filter(Option::is_some)
        .count();
    assert_eq!(granted, 1);

    // Held until it ends; then another caller may take it.
    assert!(store
        .take_refresh_lease("carol", "late", NOW + 29, NOW + 60)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .take_refresh_lease("carol", "late", NOW + 30, NOW + 60)
        .await
        .unwrap()
        .is_some());
}

async fn a_rotated_refresh_token_is_stored_unless_a_newer_one_arrived(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    let cipher = TokenCipher::ephemeral();
    store
        .record_sign_in(&sign_in_grant(&cipher, "dave", Some("rt-1"), "openid"), NOW)
        .await
        .unwrap();

    let leased = store
        .take_refresh_lease("dave", "l1", NOW, NOW + 30)
        .await
        .unwrap()
        .unwrap();
    assert!(store
        .finish_refresh(
            "dave",
            "l1",
            leased.version,
            &fresh(&cipher, "dave", Some("rt-2")),
            NOW + 1
        )
        .await
        .unwrap());
    let after = store.grant("dave").await.unwrap().unwrap();
    assert_eq!(open_refresh(&cipher, "dave", &after.refresh_token), "rt-2");
    assert_eq!(after.version, leased.version + 1);
    assert_eq!(after.lease_until, None, "finishing releases the lease");
    let (access, expires_at) = after.access_token.unwrap();
    assert_eq!(
        cipher
            .open(&access, "access_token:dave")
            .unwrap()
            .expose_secret(),
        "at-2"
    );
    assert_eq!(expires_at, NOW + 7200);

    // A sign-in stores rt-3 while a refresh (which read rt-2) is in flight:
    // the refresh's rotated token must not overwrite the newer one.
    let leased = store
        .take_refresh_lease("dave", "l2", NOW + 2, NOW + 30)
        .await
        .unwrap()
        .unwrap();
    store
        .record_sign_in(
            &sign_in_grant(&cipher, "dave", Some("rt-3"), "openid"),
            NOW + 3,
        )
        .await
        .unwrap();
    assert!(store
        .finish_refresh(
            "dave",
            "l2",
            leased.version,
            &fresh(&cipher, "dave", Some("rt-2b")),
            NOW + 4
        )
        .await
        .unwrap());
    let after = store.grant("dave").await.unwrap().unwrap();
    assert_eq!(open_refresh(&cipher, "dave", &after.refresh_token), "rt-3");

    // An invalid_grant for a token that was replaced revokes nothing.
    assert!(!store
        .revoke_grant("dave", Some(leased.version), NOW + 5)
        .await
        .unwrap());
    assert!(store.grant("dave").await.unwrap().unwrap().is_usable());

    // A lease that is no longer ours stores nothing.
    assert!(!store
        .finish_refresh(
            "dave",
            "not-mine",
            after.version,
            &fresh(&cipher, "dave", None),
            NOW + 6
        )
        .await
        .unwrap());
}

async fn a_narrowed_refresh_keeps_the_stored_token_and_scopes_but_stores_a_rotation(
    backend: Backend,
) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    let cipher = TokenCipher::ephemeral();
    store
        .record_sign_in(
            &sign_in_grant(&cipher, "erin", Some("rt-1"), "openid email profile"),
            NOW,
        )
        .await
        .unwrap();
    let before = store.grant("erin").await.unwrap().unwrap();
    assert_eq!(before.hosted_domain.as_deref(), Some("example.com"));
    let leased = store
        .take_refresh_lease("erin", "l1", NOW, NOW + 30)
        .await
        .unwrap()
        .unwrap();
    let narrowed = FreshTokens {
        access_token: None,
        scopes: None,
        refresh_token: Some(cipher.seal("rt-2", "refresh_token:erin")),
    };
    assert!(store
        .finish_refresh("erin", "l1", leased.version, &narrowed, NOW + 1)
        .await
        .unwrap());
    let after = store.grant("erin").await.unwrap().unwrap();
    assert_eq!(open_refresh(&cipher, "erin", &after.refresh_token), "rt-2");
    assert_eq!(after.scopes, before.scopes, "the grant's scopes stay");
    let (access, expires_at) = after.access_token.unwrap();
    assert_eq!(
        cipher
            .open(&access, "access_token:erin")
            .unwrap()
            .expose_secret(),
        "at-1",
        "the stored (whole-grant) access token stays"
    );
    assert_eq!(expires_at, NOW + 3600);
    assert_eq!(after.lease_until, None);
}

async fn only_a_valid_session_counts_as_live(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    let idle = 600;
    let session = |id: &str, subject: &str, created: u64| NewSession {
        id: id.into(),
        secret_hash: vec![1; 32],
        subject: subject.into(),
        email: format!("{subject}@example.com"),
        name: None,
        hosted_domain: None,
        provider_sid: None,
        created_at: created,
        expires_at: created + 3600,
        device: None,
        place: None,
    };
    assert!(!store.has_live_session("frank", NOW, idle).await.unwrap());
    store
        .create_session(&session("s1", "frank", NOW))
        .await
        .unwrap();
    assert!(store
        .has_live_session("frank", NOW + 1, idle)
        .await
        .unwrap());
    assert!(!store.has_live_session("gina", NOW + 1, idle).await.unwrap());
    // Idle past the timeout, then touched: live again until the absolute end.
    assert!(!store
        .has_live_session("frank", NOW + idle, idle)
        .await
        .unwrap());
    store.touch_session("s1", NOW + 3000).await.unwrap();
    assert!(store
        .has_live_session("frank", NOW + 3001, idle)
        .await
        .unwrap());
    assert!(!store
        .has_live_session("frank", NOW + 3600, idle)
        .await
        .unwrap());
    // Revoked.
    store
        .create_session(&session("s2", "frank", NOW + 10))
        .await
        .unwrap();
    assert!(store
        .has_live_session("frank", NOW + 11, idle)
        .await
        .unwrap());
    store.revoke_session("s2", NOW + 12).await.unwrap();
    store.revoke_session("s1", NOW + 12).await.unwrap();
    assert!(!store
        .has_live_session("frank", NOW + 13, idle)
        .await
        .unwrap());
}

async fn sessions_are_created_touched_revoked_and_purged(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    let new = |id: &str, created: u64| NewSession {
        id: id.into(),
        secret_hash: vec![7; 32],
        subject: "alice".into(),
        email: "alice@example.com".into(),
        name: Some("Alice".into()),
        hosted_domain: None,
        provider_sid: None,
        created_at: created,
        expires_at: created + 1000,
        device: None,
        place: None,
    };
    store.create_session(&new("s1", NOW)).await.unwrap();
    store.create_session(&new("s2", NOW)).await.unwrap();
    assert!(
        store.create_session(&new("s1", NOW)).await.is_err(),
        "ids are unique"
    );

    assert!(store.touch_session("s1", NOW + 50).await.unwrap());
    let s1 = store.session("s1").await.unwrap().unwrap();
    assert_eq!(
        (s1.created_at, s1.last_seen_at, s1.expires_at),
        (NOW, NOW + 50, NOW + 1000)
    );
    assert_eq!(s1.secret_hash, vec![7; 32]);
    assert_eq!(s1.name.as_deref(), Some("Alice"));

    // A new sign-in of the same user carries what the provider says now.
    assert!(store
        .refresh_session(
            "s2",
            "alice@new.example",
            None,
            Some("new.example"),
            NOW + 55
        )
        .await
        .unwrap());
    let s2 = store.session("s2").await.unwrap().unwrap();
    assert_eq!(
        (
            s2.email.as_str(),
            s2.name.as_deref(),
            s2.hosted_domain.as_deref()
        ),
        ("alice@new.example", None, Some("new.example"))
    );
    assert_eq!((s2.created_at, s2.last_seen_at), (NOW, NOW + 55));

    assert!(store.revoke_session("s1", NOW + 60).await.unwrap());
    assert!(
        !store
            .refresh_session("s1", "x@example.com", None, None, NOW + 61)
            .await
            .unwrap(),
        "a revoked session is not signed in again"
    );
    assert!(!store.revoke_session("s1", NOW + 61).await.unwrap());
    assert!(
        !store.touch_session("s1", NOW + 62).await.unwrap(),
        "a revoked session stays revoked"
    );
    assert_eq!(
        store.session("s1").await.unwrap().unwrap().revoked_at,
        Some(NOW + 60)
    );
    assert_eq!(
        store
            .sessions_revoked_since(NOW + 60, None, 100)
            .await
            .unwrap(),
        vec![("s1".to_owned(), NOW + 60)]
    );
    assert!(store
        .sessions_revoked_since(NOW + 61, None, 100)
        .await
        .unwrap()
        .is_empty());
    assert!(store.session("nope").await.unwrap().is_none());

    // s2 expires at NOW+1000; s1 was revoked at NOW+60.
    let purged = store
        .purge(NOW + 500, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(
        purged, 0,
        "revoked sessions are kept while apps may poll them"
    );
    let purged = store
        .purge(NOW + 1001, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(purged, 2);
}

async fn revocations_within_one_second_page_on_a_cursor_and_none_is_lost(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    // More sessions revoked in one second than one page holds.
    let total = 25;
    for i in 0..total {
        let id = format!("s{i:03}");
        store
            .create_session(&NewSession {
                id: id.clone(),
                secret_hash: vec![1; 32],
                subject: "alice".into(),
                email: "alice@example.com".into(),
                name: None,
                hosted_domain: None,
                provider_sid: None,
                created_at: NOW,
                expires_at: NOW + 1000,
                device: None,
                place: None,
            })
            .await
            .unwrap();
        store.revoke_session(&id, NOW + 5).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<(u64, String)> = None;
    for _ in 0..10 {
        let page = match &cursor {
            None => store.sessions_revoked_since(NOW, None, 10).await.unwrap(),
            Some((at, id)) => store
                .sessions_revoked_since(*at, Some(id), 10)
                .await
                .unwrap(),
        };
        let Some((last_id, last_at)) = page.last().cloned() else {
            break;
        };
        seen.extend(page.into_iter().map(|(id, _)| id));
        cursor = Some((last_at, last_id));
    }
    let expected: Vec<String> = (0..total).map(|i| format!("s{i:03}")).collect();
    assert_eq!(seen, expected, "every revocation once, in order");
}

async fn a_reconnected_store_keeps_its_data(backend: Backend) {
    let Some((store, db)) = store_on(backend).await else {
        return;
    };
    let cipher = TokenCipher::ephemeral();
    store
        .record_sign_in(&sign_in_grant(&cipher, "erin", Some("rt"), "openid"), NOW)
        .await
        .unwrap();
    drop(store);
    let again = Store::connect(&db.url, StoreOptions::default())
        .await
        .unwrap();
    let grant = again.grant("erin").await.unwrap().unwrap();
    assert_eq!(open_refresh(&cipher, "erin", &grant.refresh_token), "rt");
}

fn code(hash: u8, audience: &str) -> NewCode {
    NewCode {
        code_hash: vec![hash; 32],
        audience: audience.into(),
        session_id: "s1".into(),
        return_to: "/reports?tab=2".into(),
        binding_hash: vec![hash ^ 0xff; 32],
        created_at: NOW,
        expires_at: NOW + 60,
    }
}

async fn a_handoff_code_is_redeemed_once_by_its_app_before_it_expires(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    let (app_a, app_b) = ("https://a.example", "https://b.example");
    store.create_handoff_code(&code(1, app_a)).await.unwrap();
    store.create_handoff_code(&code(2, app_a)).await.unwrap();

    assert_eq!(
        store
            .redeem_handoff_code(&[1; 32], app_b, NOW + 1)
            .await
            .unwrap(),
        None,
        "another app"
    );
    let redeemed = store
        .redeem_handoff_code(&[1; 32], app_a, NOW + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(redeemed.session_id, "s1");
    assert_eq!(redeemed.return_to, "/reports?tab=2");
    assert_eq!(
        redeemed.binding_hash,
        Some(vec![1 ^ 0xff; 32]),
        "the binding comes back"
    );
    assert_eq!(
        store
            .redeem_handoff_code(&[1; 32], app_a, NOW + 2)
            .await
            .unwrap(),
        None,
        "replay"
    );
    assert_eq!(
        store
            .redeem_handoff_code(&[2; 32], app_a, NOW + 60)
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        store
            .redeem_handoff_code(&[3; 32], app_a, NOW)
            .await
            .unwrap(),
        None,
        "unknown"
    );
    assert_eq!(store.purge_handoff_codes(NOW + 61).await.unwrap(), 2);
}

async fn twenty_concurrent_redemptions_of_one_code_give_one_success(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    store
        .create_handoff_code(&code(9, "https://a.example"))
        .await
        .unwrap();
    let attempts = (0..20).map(|_| {
        let store = store.clone();
        async move {
            store
                .redeem_handoff_code(&[9; 32], "https://a.example", NOW + 1)
                .await
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let successes = results
        .into_iter()
        .map(Result::unwrap)
        .filter(Option::is_some)
        .count();
    assert_eq!(successes, 1);
}

/// The purge rides on requests (Cloud Run throttles CPU outside them):
/// the first request starts it, the next ones within the interval do not,
/// and the first request after the interval starts it again.
async fn expired_sessions_are_purged_by_a_request_once_a_purge_is_due(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    let clock = handoff_guard::OffsetClock::default();
    let upkeep = Housekeeping::new(store.clone(), Arc::new(clock.clone()));
    let expired = |id: &str, now: u64| NewSession {
        id: id.into(),
        secret_hash: vec![3; 32],
        subject: "alice".into(),
        email: "alice@example.com".into(),
        name: None,
        hosted_domain: None,
        provider_sid: None,
        created_at: now - 7200,
        expires_at: now - 1,
        device: None,
        place: None,
    };
    let now = clock.unix_seconds();
    store.create_session(&expired("first", now)).await.unwrap();
    store
        .create_session(&expired("live-ish", now + 100_000))
        .await
        .unwrap();

    upkeep.start_due();
    assert!(
        gone_within_seconds(&store, "first", 10).await,
        "the first request purges"
    );
    assert!(store.session("live-ish").await.unwrap().is_some());

    store.create_session(&expired("second", now)).await.unwrap();
    upkeep.start_due();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        store.session("second").await.unwrap().is_some(),
        "no second purge within the interval"
    );

    clock.advance(PURGE_INTERVAL + Duration::from_secs(1));
    upkeep.start_due();
    assert!(
        gone_within_seconds(&store, "second", 10).await,
        "the first request after the interval purges again"
    );
}

async fn gone_within_seconds(store: &Store, id: &str, seconds: u64) -> bool {
    for _ in 0..seconds * 20 {
        if store.session(id).await.unwrap().is_none() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

on_both_backends!(
    expired_sessions_are_purged_by_a_request_once_a_purge_is_due,
    a_handoff_code_is_redeemed_once_by_its_app_before_it_expires,
    twenty_concurrent_redemptions_of_one_code_give_one_success,
    a_returning_sign_in_without_a_refresh_token_keeps_the_stored_one,
    a_new_refresh_token_replaces_the_old_and_lifts_a_revocation,
    twenty_concurrent_lease_requests_give_exactly_one_lease,
    a_rotated_refresh_token_is_stored_unless_a_newer_one_arrived,
    a_narrowed_refresh_keeps_the_stored_token_and_scopes_but_stores_a_rotation,
    only_a_valid_session_counts_as_live,
    sessions_are_created_touched_revoked_and_purged,
    revocations_within_one_second_page_on_a_cursor_and_none_is_lost,
    a_reconnected_store_keeps_its_data,
);

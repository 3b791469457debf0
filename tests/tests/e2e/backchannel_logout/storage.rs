//! The store's part of back-channel logout, the same on SQLite and
//! PostgreSQL: the provider's `sid` kept with each session, the `jti`s
//! taken once, and the sessions a logout token ends.

use std::sync::Arc;

use integration_tests::db::Backend;
use integration_tests::on_both_backends;
use public_service::store::{LogoutTarget, NewSession, Store};

use crate::storage::{store_on, NOW};

async fn session(store: &Store, id: &str, subject: &str, sid: Option<&str>, expires_at: u64) {
    store
        .create_session(&NewSession {
            id: id.into(),
            secret_hash: vec![7; 32],
            subject: subject.into(),
            email: format!("{subject}@example.com"),
            name: None,
            hosted_domain: None,
            created_at: NOW - 100,
            expires_at,
            provider_sid: sid.map(str::to_owned),
            device: None,
            place: None,
        })
        .await
        .unwrap();
}

async fn revoked_at(store: &Store, id: &str) -> Option<u64> {
    store.session(id).await.unwrap().unwrap().revoked_at
}

fn target<'a>(subject: Option<&'a str>, provider_sid: Option<&'a str>) -> LogoutTarget<'a> {
    LogoutTarget {
        subject,
        provider_sid,
    }
}

async fn sessions_keep_their_provider_sid_and_logout_tokens_end_the_named_ones(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    let live = NOW + 3600;
    session(&store, "a1", "alice", Some("op-1"), live).await;
    session(&store, "a2", "alice", Some("op-2"), live).await;
    session(&store, "a3", "alice", None, live).await;
    session(&store, "b1", "bob", Some("op-3"), live).await;
    session(&store, "old", "alice", None, NOW - 1).await;
    let a1 = store.session("a1").await.unwrap().unwrap();
    assert_eq!(a1.provider_sid.as_deref(), Some("op-1"));
    assert_eq!(
        store.session("a3").await.unwrap().unwrap().provider_sid,
        None
    );

    // sid and sub of different users: nothing.
    let taken = store.take_logout_token("j1", NOW + 60, target(Some("bob"), Some("op-1")), NOW);
    assert_eq!(taken.await.unwrap(), Some(0));
    // sid and sub: that one.
    let taken = store.take_logout_token("j2", NOW + 60, target(Some("alice"), Some("op-1")), NOW);
    assert_eq!(taken.await.unwrap(), Some(1));
    assert_eq!(revoked_at(&store, "a1").await, Some(NOW));
    assert_eq!(revoked_at(&store, "a2").await, None);
    // sid alone.
    let taken = store.take_logout_token("j3", NOW + 60, target(None, Some("op-3")), NOW);
    assert_eq!(taken.await.unwrap(), Some(1));
    assert_eq!(revoked_at(&store, "b1").await, Some(NOW));
    // sub alone: every live session of alice, not the expired one, and an
    // earlier revocation keeps its time.
    let later = NOW + 5;
    let taken = store.take_logout_token("j4", NOW + 60, target(Some("alice"), None), later);
    assert_eq!(taken.await.unwrap(), Some(2));
    assert_eq!(revoked_at(&store, "a1").await, Some(NOW));
    assert_eq!(revoked_at(&store, "a2").await, Some(later));
    assert_eq!(revoked_at(&store, "a3").await, Some(later));
    assert_eq!(revoked_at(&store, "old").await, None);

    // A new provider session for a session signed in again.
    store
        .set_session_provider_sid("a2", Some("op-9"))
        .await
        .unwrap();
    let a2 = store.session("a2").await.unwrap().unwrap();
    assert_eq!(a2.provider_sid.as_deref(), Some("op-9"));
}

async fn a_jti_is_taken_once_while_remembered_and_purged_after(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    session(&store, "s1", "carol", Some("op-1"), NOW + 3600).await;
    let by_sub = target(Some("carol"), None);
    assert_eq!(
        store
            .take_logout_token("j", NOW + 60, by_sub, NOW)
            .await
            .unwrap(),
        Some(1)
    );
    // A replay is refused and changes nothing, even for a session that
    // started since.
    session(&store, "s2", "carol", None, NOW + 3600).await;
    let replay = store.take_logout_token("j", NOW + 60, by_sub, NOW + 30);
    assert_eq!(replay.await.unwrap(), None);
    assert_eq!(revoked_at(&store, "s2").await, None);
    // Past its time the purge forgets it; one not due stays.
    store
        .take_logout_token("k", NOW + 600, target(None, Some("x")), NOW)
        .await
        .unwrap();
    assert_eq!(store.purge_logout_token_jtis(NOW + 60).await.unwrap(), 1);
    let kept = store.take_logout_token("k", NOW + 600, target(None, Some("x")), NOW + 60);
    assert_eq!(kept.await.unwrap(), None);
    // A jti whose time is over counts as new even before the purge.
    let reused = store.take_logout_token("k", NOW + 1200, target(None, Some("x")), NOW + 600);
    assert_eq!(reused.await.unwrap(), Some(0));
}

async fn twenty_concurrent_deliveries_of_one_jti_take_it_once(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    session(&store, "s1", "dave", Some("op-1"), NOW + 3600).await;
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .take_logout_token("once", NOW + 60, target(Some("dave"), None), NOW)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut taken = Vec::new();
    for task in tasks {
        taken.push(task.await.unwrap());
    }
    assert_eq!(taken.iter().filter(|t| t.is_some()).count(), 1, "{taken:?}");
    assert_eq!(taken.iter().flatten().sum::<u64>(), 1);
}

on_both_backends!(
    sessions_keep_their_provider_sid_and_logout_tokens_end_the_named_ones,
    a_jti_is_taken_once_while_remembered_and_purged_after,
    twenty_concurrent_deliveries_of_one_jti_take_it_once,
);

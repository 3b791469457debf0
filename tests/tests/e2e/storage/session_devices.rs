//! The store's part of the sessions page (docs/flows.md, "Where you're
//! signed in"): listing a person's live sessions, ending one of theirs or
//! all others, and the apps each session was handed to; on both backends.

use std::time::Duration;

use integration_tests::db::Backend;
use integration_tests::on_both_backends;
use public_service::store::{NewSession, SIGNED_OUT_EVERYWHERE};

use super::{store_on, NOW};

fn session(id: &str, subject: &str, created: u64, device: Option<&str>) -> NewSession {
    NewSession {
        id: id.into(),
        secret_hash: vec![3; 32],
        subject: subject.into(),
        email: format!("{subject}@example.com"),
        name: None,
        hosted_domain: None,
        created_at: created,
        expires_at: created + 1000,
        device: device.map(str::to_owned),
        place: device.map(|_| "USCA,Mountain View".to_owned()),
        provider_sid: None,
    }
}

async fn live_sessions_are_the_subjects_own_newest_first(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    for new in [
        session("a1", "alice", NOW, Some("Chrome on macOS")),
        session("a2", "alice", NOW + 20, None),
        session("a3", "alice", NOW + 10, Some("Firefox on Linux")),
        session("old", "alice", NOW - 2000, None),
        session("gone", "alice", NOW + 5, None),
        session("b1", "bob", NOW + 30, None),
    ] {
        store.create_session(&new).await.unwrap();
    }
    store.revoke_session("gone", NOW + 6).await.unwrap();
    let live = store.live_sessions_of("alice", NOW + 30).await.unwrap();
    let ids: Vec<&str> = live.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        ["a2", "a3", "a1"],
        "expired, revoked and bob's are not listed"
    );
    let a1 = live.iter().find(|s| s.id == "a1").unwrap();
    assert_eq!(a1.device.as_deref(), Some("Chrome on macOS"));
    assert_eq!(a1.place.as_deref(), Some("USCA,Mountain View"));
    assert_eq!(live[0].device, None);
    assert!(store
        .live_sessions_of("alice", NOW + 1020)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .live_sessions_of("carol", NOW)
        .await
        .unwrap()
        .is_empty());
}

async fn a_person_ends_only_their_own_sessions(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    for new in [
        session("a1", "alice", NOW, None),
        session("a2", "alice", NOW + 1, None),
        session("a3", "alice", NOW + 2, None),
        session("b1", "bob", NOW, None),
    ] {
        store.create_session(&new).await.unwrap();
    }
    assert!(
        !store
            .revoke_session_of("bob", "a1", NOW + 10)
            .await
            .unwrap(),
        "bob cannot end alice's session"
    );
    assert_eq!(store.session("a1").await.unwrap().unwrap().revoked_at, None);
    assert!(store
        .revoke_session_of("alice", "a1", NOW + 10)
        .await
        .unwrap());
    assert!(!store
        .revoke_session_of("alice", "a1", NOW + 11)
        .await
        .unwrap());
    let a1 = store.session("a1").await.unwrap().unwrap();
    assert_eq!((a1.revoked_at, a1.revoked_reason), (Some(NOW + 10), None));

    // "End all others": every live one but the kept one, marked, in the feed.
    assert_eq!(
        store
            .revoke_sessions_of("alice", Some("a3"), NOW + 20)
            .await
            .unwrap(),
        1
    );
    let a2 = store.session("a2").await.unwrap().unwrap();
    assert_eq!(a2.revoked_at, Some(NOW + 20));
    assert_eq!(a2.revoked_reason.as_deref(), Some(SIGNED_OUT_EVERYWHERE));
    assert_eq!(
        store.session("a1").await.unwrap().unwrap().revoked_at,
        Some(NOW + 10),
        "an ended session keeps its first end"
    );
    assert_eq!(store.session("a3").await.unwrap().unwrap().revoked_at, None);
    assert_eq!(store.session("b1").await.unwrap().unwrap().revoked_at, None);
    assert_eq!(
        store
            .sessions_revoked_since(NOW + 20, None, 100)
            .await
            .unwrap(),
        vec![("a2".to_owned(), NOW + 20)]
    );
    // Without one to keep (an operator): all of them.
    assert_eq!(
        store
            .revoke_sessions_of("alice", None, NOW + 30)
            .await
            .unwrap(),
        1
    );
    assert!(store
        .live_sessions_of("alice", NOW + 31)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.live_sessions_of("bob", NOW + 31).await.unwrap().len(),
        1
    );
}

async fn the_apps_a_session_was_handed_to_are_kept_until_it_is_purged(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    store
        .create_session(&session("s1", "alice", NOW, None))
        .await
        .unwrap();
    store
        .create_session(&session("s2", "alice", NOW + 900, None))
        .await
        .unwrap();
    assert!(store.apps_of_session("s1").await.unwrap().is_empty());
    let app = "https://app.example.test";
    let other = "https://reports.example.test";
    store.record_session_app("s1", app, NOW + 1).await.unwrap();
    store
        .record_session_app("s1", other, NOW + 2)
        .await
        .unwrap();
    store
        .record_session_app("s2", other, NOW + 901)
        .await
        .unwrap();
    assert_eq!(store.apps_of_session("s1").await.unwrap(), [other, app]);
    // Used again: one row per app, the newest use first.
    store.record_session_app("s1", app, NOW + 3).await.unwrap();
    assert_eq!(store.apps_of_session("s1").await.unwrap(), [app, other]);

    // s1 expires at NOW+1000; its apps go with it, s2's stay.
    store
        .purge(NOW + 1001, Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(store.session("s1").await.unwrap().is_none());
    assert!(store.apps_of_session("s1").await.unwrap().is_empty());
    assert_eq!(store.apps_of_session("s2").await.unwrap(), [other]);
}

on_both_backends!(
    live_sessions_are_the_subjects_own_newest_first,
    a_person_ends_only_their_own_sessions,
    the_apps_a_session_was_handed_to_are_kept_until_it_is_purged,
);

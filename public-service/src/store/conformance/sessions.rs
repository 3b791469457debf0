//! [`SessionStore`]: a revocation is final and reported once.

use std::time::Duration;

use super::{new_session, NOW};
use crate::store::{SessionStore, SIGNED_OUT_EVERYWHERE};

pub async fn sessions(store: &dyn SessionStore) {
    a_session_is_stored_whole_and_an_absent_one_reads_as_none(store).await;
    activity_counts_on_live_sessions_only(store).await;
    of_two_concurrent_revocations_exactly_one_reports_it(store).await;
    a_person_ends_their_own_sessions_and_no_one_elses(store).await;
    apps_and_purges(store).await;
}

async fn a_session_is_stored_whole_and_an_absent_one_reads_as_none(store: &dyn SessionStore) {
    assert!(store.session("nope").await.unwrap().is_none());
    assert!(!store.touch_session("nope", NOW).await.unwrap());
    assert!(!store.revoke_session("nope", NOW).await.unwrap());
    assert!(store.apps_of_session("nope").await.unwrap().is_empty());
    assert!(store
        .live_sessions_of("nobody", NOW)
        .await
        .unwrap()
        .is_empty());

    let mut new = new_session("s1", "ada", NOW);
    new.name = Some("Ada".to_owned());
    new.hosted_domain = Some("example.com".to_owned());
    new.provider_sid = Some("psid".to_owned());
    new.device = Some("Firefox on Linux".to_owned());
    new.place = Some("Paris".to_owned());
    store.create_session(&new).await.unwrap();
    let stored = store.session("s1").await.unwrap().expect("stored");
    assert_eq!(stored.secret_hash, new.secret_hash);
    assert_eq!(
        (stored.subject.as_str(), stored.email.as_str()),
        ("ada", "ada@example.com")
    );
    assert_eq!(stored.name.as_deref(), Some("Ada"));
    assert_eq!(stored.hosted_domain.as_deref(), Some("example.com"));
    assert_eq!((stored.created_at, stored.last_seen_at), (NOW, NOW));
    assert_eq!(stored.expires_at, NOW + 86_400);
    assert_eq!(stored.provider_sid.as_deref(), Some("psid"));
    assert_eq!(stored.device.as_deref(), Some("Firefox on Linux"));
    assert_eq!(stored.place.as_deref(), Some("Paris"));
    assert!(stored.revoked_at.is_none() && stored.revoked_reason.is_none());
    assert!(
        store.create_session(&new).await.is_err(),
        "an id is stored once"
    );
    store.set_session_provider_sid("s1", None).await.unwrap();
    let cleared = store.session("s1").await.unwrap().unwrap();
    assert_eq!(cleared.provider_sid, None);
}

async fn activity_counts_on_live_sessions_only(store: &dyn SessionStore) {
    store
        .create_session(&new_session("b1", "bo", NOW))
        .await
        .unwrap();
    assert!(store.touch_session("b1", NOW + 10).await.unwrap());
    assert_eq!(
        store.session("b1").await.unwrap().unwrap().last_seen_at,
        NOW + 10
    );
    // Used 10 s ago: live for an idle timeout of 60 s, not of 5 s.
    assert!(store.has_live_session("bo", NOW + 20, 60).await.unwrap());
    assert!(!store.has_live_session("bo", NOW + 20, 5).await.unwrap());
    assert!(!store
        .has_live_session("bo", NOW + 86_400, 1_000_000)
        .await
        .unwrap());

    let renewed = store.refresh_session(
        "b1",
        "bo@new.example",
        Some("Bo"),
        Some("new.example"),
        NOW + 30,
    );
    assert!(renewed.await.unwrap());
    let stored = store.session("b1").await.unwrap().unwrap();
    assert_eq!(stored.email, "bo@new.example");
    assert_eq!(stored.name.as_deref(), Some("Bo"));
    assert_eq!(stored.hosted_domain.as_deref(), Some("new.example"));
    assert_eq!(stored.last_seen_at, NOW + 30);

    assert!(store.revoke_session("b1", NOW + 40).await.unwrap());
    assert!(!store.touch_session("b1", NOW + 50).await.unwrap());
    let late = store.refresh_session("b1", "x@example.com", None, None, NOW + 50);
    assert!(!late.await.unwrap(), "a revoked session is not renewed");
    assert!(!store.has_live_session("bo", NOW + 50, 60).await.unwrap());
    let stored = store.session("b1").await.unwrap().unwrap();
    assert_eq!(stored.revoked_at, Some(NOW + 40));
    assert_eq!(
        stored.email, "bo@new.example",
        "nothing changed after revocation"
    );
}

async fn of_two_concurrent_revocations_exactly_one_reports_it(store: &dyn SessionStore) {
    store
        .create_session(&new_session("c1", "cy", NOW))
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        store.revoke_session("c1", NOW + 1),
        store.revoke_session_of("cy", "c1", NOW + 1),
    );
    assert!(a.unwrap() ^ b.unwrap(), "exactly one call revokes it");
    assert!(!store.revoke_session("c1", NOW + 2).await.unwrap());
    assert_eq!(
        store.session("c1").await.unwrap().unwrap().revoked_at,
        Some(NOW + 1)
    );
}

async fn a_person_ends_their_own_sessions_and_no_one_elses(store: &dyn SessionStore) {
    for (id, at) in [
        ("d1", NOW),
        ("d2", NOW + 1),
        ("d3", NOW + 2),
        ("d4", NOW + 3),
    ] {
        store
            .create_session(&new_session(id, "di", at))
            .await
            .unwrap();
    }
    store
        .create_session(&new_session("e1", "ed", NOW))
        .await
        .unwrap();
    let listed: Vec<String> = store
        .live_sessions_of("di", NOW + 5)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, ["d4", "d3", "d2", "d1"], "newest first");

    assert!(
        !store.revoke_session_of("di", "e1", NOW + 6).await.unwrap(),
        "not theirs"
    );
    assert!(store
        .session("e1")
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_none());
    assert!(store.revoke_session_of("di", "d1", NOW + 6).await.unwrap());

    let ended = store
        .revoke_sessions_of("di", Some("d4"), NOW + 7)
        .await
        .unwrap();
    assert_eq!(ended, 2, "d2 and d3: d1 was already revoked, d4 kept");
    let d2 = store.session("d2").await.unwrap().unwrap();
    assert_eq!(d2.revoked_at, Some(NOW + 7));
    assert_eq!(d2.revoked_reason.as_deref(), Some(SIGNED_OUT_EVERYWHERE));
    let d1 = store.session("d1").await.unwrap().unwrap();
    assert_eq!(d1.revoked_at, Some(NOW + 6), "a revocation is not redone");
    let listed: Vec<String> = store
        .live_sessions_of("di", NOW + 8)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, ["d4"]);
    assert!(store
        .session("e1")
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_none());
    assert_eq!(
        store.revoke_sessions_of("di", None, NOW + 9).await.unwrap(),
        1
    );
    assert!(store
        .live_sessions_of("di", NOW + 9)
        .await
        .unwrap()
        .is_empty());
    // Expired sessions are not listed.
    assert!(store
        .live_sessions_of("ed", NOW + 86_400)
        .await
        .unwrap()
        .is_empty());
}

async fn apps_and_purges(store: &dyn SessionStore) {
    store
        .create_session(&new_session("f1", "fay", NOW))
        .await
        .unwrap();
    store
        .record_session_app("f1", "https://a.example", NOW)
        .await
        .unwrap();
    store
        .record_session_app("f1", "https://b.example", NOW + 1)
        .await
        .unwrap();
    store
        .record_session_app("f1", "https://a.example", NOW + 2)
        .await
        .unwrap();
    let apps = store.apps_of_session("f1").await.unwrap();
    assert_eq!(
        apps,
        ["https://a.example", "https://b.example"],
        "most recent first"
    );

    store
        .create_session(&new_session("f2", "fay", NOW))
        .await
        .unwrap();
    store.revoke_session("f2", NOW + 10).await.unwrap();
    let keep = Duration::from_secs(100);
    // f2 was revoked less than `keep` ago; nothing has expired.
    assert_eq!(store.purge_sessions(NOW + 50, keep).await.unwrap(), 0);
    assert!(store.session("f2").await.unwrap().is_some());
    // Revoked at NOW + 10 and before: gone; b1 (NOW + 40) is kept.
    assert!(store.purge_sessions(NOW + 111, keep).await.unwrap() >= 1);
    assert!(
        store.session("f2").await.unwrap().is_none(),
        "an old revocation goes"
    );
    assert!(
        store.session("b1").await.unwrap().is_some(),
        "a recent one stays"
    );
    // Past its absolute expiry, a live session goes too, with its apps.
    assert!(store.purge_sessions(NOW + 86_401, keep).await.unwrap() >= 1);
    assert!(store.session("f1").await.unwrap().is_none());
    assert!(store.apps_of_session("f1").await.unwrap().is_empty());
}

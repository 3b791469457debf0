//! [`UserDirectory`] and [`ResealStore`].

use super::{new_session, sealed, sign_in, NOW};
use crate::store::{KeyUsage, LeasePurpose, Resealed, Storage};

pub async fn users(store: &dyn Storage) {
    assert!(store.users_matching("nobody").await.unwrap().is_empty());
    store
        .record_sign_in(&sign_in("ada", Some("r")), NOW)
        .await
        .unwrap();
    let mut session = new_session("s1", "ada", NOW);
    session.email = "Ada@Old.Example".to_owned();
    store.create_session(&session).await.unwrap();
    // Another person who once had the same address.
    let mut other = new_session("s2", "bo", NOW);
    other.email = "ada@example.com".to_owned();
    store.create_session(&other).await.unwrap();

    let by_old = store.users_matching("ada@old.example").await.unwrap();
    assert_eq!(by_old.len(), 1, "any case");
    assert_eq!(by_old[0].subject, "ada");
    assert_eq!(
        by_old[0].emails,
        ["Ada@Old.Example"],
        "the matching addresses"
    );
    let shared = store.users_matching("ADA@example.com").await.unwrap();
    let subjects: Vec<&str> = shared.iter().map(|u| u.subject.as_str()).collect();
    assert_eq!(subjects, ["ada", "bo"], "in subject order");
    let exact = store.users_matching("bo").await.unwrap();
    assert_eq!(exact.len(), 1, "an exact subject comes alone");
    assert_eq!(exact[0].subject, "bo");
}

pub async fn reseal(store: &dyn Storage) {
    assert!(store.key_usage().await.unwrap().is_empty());
    for subject in ["a", "b", "c"] {
        store
            .record_sign_in(&sign_in(subject, Some("r")), NOW)
            .await
            .unwrap();
    }
    let mut newer = sign_in("d", Some("r"));
    newer.refresh_token = Some(sealed("r", "k2"));
    newer.access_token = Some((sealed("a", "k2"), NOW + 60));
    store.record_sign_in(&newer, NOW).await.unwrap();

    let usage = store.key_usage().await.unwrap();
    let k1 = KeyUsage {
        refresh_tokens: 3,
        access_tokens: 3,
    };
    let k2 = KeyUsage {
        refresh_tokens: 1,
        access_tokens: 1,
    };
    assert_eq!(usage.get("k1"), Some(&k1));
    assert_eq!(usage.get("k2"), Some(&k2));
    assert_eq!(store.count_stale_grants("k2").await.unwrap(), 3);
    assert_eq!(
        store.stale_grant_subjects("k2", None, 2).await.unwrap(),
        ["a", "b"]
    );
    assert_eq!(
        store
            .stale_grant_subjects("k2", Some("b"), 2)
            .await
            .unwrap(),
        ["c"]
    );

    let leased = store.take_lease("a", "l", LeasePurpose::Reseal, NOW, NOW + 30);
    let leased = leased.await.unwrap().expect("a free lease");
    let resealed = Resealed {
        refresh_token: Some(sealed("r", "k2")),
        access_token: Some(sealed("access", "k2")),
    };
    assert!(
        !store
            .finish_reseal(&leased, "other", &resealed)
            .await
            .unwrap(),
        "not the holder"
    );
    assert!(store.finish_reseal(&leased, "l", &resealed).await.unwrap());
    let after = store.grant("a").await.unwrap().unwrap();
    assert_eq!(after.refresh_token, Some(sealed("r", "k2")));
    assert_eq!(
        after.access_token,
        Some((sealed("access", "k2"), NOW + 3600))
    );
    assert_eq!(after.lease_until, None, "the re-seal frees the lease");
    assert_eq!(store.count_stale_grants("k2").await.unwrap(), 2);

    // A sign-in between the lease and the write wins.
    let leased = store.take_lease("b", "l", LeasePurpose::Reseal, NOW, NOW + 30);
    let leased = leased.await.unwrap().unwrap();
    store
        .record_sign_in(&sign_in("b", Some("signed-in")), NOW + 1)
        .await
        .unwrap();
    assert!(
        !store.finish_reseal(&leased, "l", &resealed).await.unwrap(),
        "version moved"
    );
    let b = store.grant("b").await.unwrap().unwrap();
    assert_eq!(b.refresh_token, Some(sealed("signed-in", "k1")));
    store.release_lease("b", "l").await.unwrap();
    let next = store.take_lease("b", "m", LeasePurpose::Reseal, NOW + 2, NOW + 30);
    assert!(next.await.unwrap().is_some(), "released by its holder");
}

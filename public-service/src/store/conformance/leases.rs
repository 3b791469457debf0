//! [`GrantStore`]'s lease: one holder at a time, freed by its holder's
//! commit or release, or by time.

use super::{sealed, sign_in, NOW};
use crate::store::{FreshTokens, GrantStore, LeasePurpose};

const REFRESH: LeasePurpose = LeasePurpose::Refresh;

pub async fn leases(store: &dyn GrantStore) {
    a_second_acquirer_is_refused_until_the_holder_releases(store).await;
    a_lease_whose_time_is_over_goes_to_the_next_acquirer(store).await;
    of_two_concurrent_acquirers_exactly_one_holds_the_lease(store).await;
    a_commit_stores_the_result_and_frees_the_lease(store).await;
    only_a_usable_grant_is_leased_for_a_refresh(store).await;
}

async fn a_second_acquirer_is_refused_until_the_holder_releases(store: &dyn GrantStore) {
    store
        .record_sign_in(&sign_in("ada", Some("r")), NOW)
        .await
        .unwrap();
    let held = store.take_lease("ada", "first", REFRESH, NOW, NOW + 30);
    let held = held.await.unwrap().expect("a free lease is taken");
    assert_eq!(held.lease_until, Some(NOW + 30));
    assert_eq!(held.refresh_token, Some(sealed("r", "k1")));
    let second = store.take_lease("ada", "second", REFRESH, NOW + 1, NOW + 31);
    assert!(second.await.unwrap().is_none(), "refused while held");
    let reseal = store.take_lease("ada", "second", LeasePurpose::Reseal, NOW + 1, NOW + 31);
    assert!(reseal.await.unwrap().is_none(), "a re-seal is refused too");

    // Only the holder's id frees it.
    store.release_lease("ada", "second").await.unwrap();
    let still = store.take_lease("ada", "second", REFRESH, NOW + 2, NOW + 32);
    assert!(
        still.await.unwrap().is_none(),
        "another's release frees nothing"
    );
    store.release_lease("ada", "first").await.unwrap();
    let after = store.take_lease("ada", "second", REFRESH, NOW + 3, NOW + 33);
    assert!(after.await.unwrap().is_some(), "taken once released");
}

async fn a_lease_whose_time_is_over_goes_to_the_next_acquirer(store: &dyn GrantStore) {
    store
        .record_sign_in(&sign_in("bo", Some("r")), NOW)
        .await
        .unwrap();
    let first = store.take_lease("bo", "slow", REFRESH, NOW, NOW + 10);
    assert!(first.await.unwrap().is_some());
    let early = store.take_lease("bo", "next", REFRESH, NOW + 9, NOW + 20);
    assert!(
        early.await.unwrap().is_none(),
        "refused before its time is over"
    );
    let late = store.take_lease("bo", "next", REFRESH, NOW + 10, NOW + 20);
    assert!(late.await.unwrap().is_some(), "taken once its time is over");
    // The expired holder can no longer commit over the new one.
    let fresh = FreshTokens {
        access_token: Some((sealed("late", "k1"), NOW + 3600)),
        scopes: None,
        refresh_token: Some(sealed("late", "k1")),
    };
    let version = store.grant("bo").await.unwrap().unwrap().version;
    let commit = store.finish_refresh("bo", "slow", version, &fresh, NOW + 11);
    assert!(!commit.await.unwrap(), "a lost lease commits nothing");
    let grant = store.grant("bo").await.unwrap().unwrap();
    assert_eq!(grant.refresh_token, Some(sealed("r", "k1")));
    assert_eq!(grant.lease_until, Some(NOW + 20), "the new holder keeps it");
}

async fn of_two_concurrent_acquirers_exactly_one_holds_the_lease(store: &dyn GrantStore) {
    store
        .record_sign_in(&sign_in("cy", Some("r")), NOW)
        .await
        .unwrap();
    for round in 0..5u64 {
        let now = NOW + round * 100;
        let (a, b) = tokio::join!(
            store.take_lease("cy", "a", REFRESH, now, now + 50),
            store.take_lease("cy", "b", REFRESH, now, now + 50),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(
            a.is_some() ^ b.is_some(),
            "round {round}: exactly one holder"
        );
        let holder = if a.is_some() { "a" } else { "b" };
        store.release_lease("cy", holder).await.unwrap();
    }
}

async fn a_commit_stores_the_result_and_frees_the_lease(store: &dyn GrantStore) {
    store
        .record_sign_in(&sign_in("di", Some("r0")), NOW)
        .await
        .unwrap();
    let leased = store.take_lease("di", "l1", REFRESH, NOW, NOW + 30);
    let leased = leased.await.unwrap().unwrap();
    let fresh = FreshTokens {
        access_token: Some((sealed("a1", "k2"), NOW + 3600)),
        scopes: Some(vec!["openid".to_owned(), "drive".to_owned()]),
        refresh_token: Some(sealed("r1", "k2")),
    };
    let commit = store.finish_refresh("di", "l1", leased.version, &fresh, NOW + 1);
    assert!(commit.await.unwrap(), "the holder commits");
    let after = store.grant("di").await.unwrap().unwrap();
    assert_eq!(after.refresh_token, Some(sealed("r1", "k2")));
    assert_eq!(after.access_token, Some((sealed("a1", "k2"), NOW + 3600)));
    assert_eq!(after.scopes, ["openid", "drive"]);
    assert_ne!(
        after.version, leased.version,
        "a stored refresh token moves it"
    );
    assert_eq!(after.lease_until, None, "a commit frees the lease");
    let again = store.finish_refresh("di", "l1", after.version, &fresh, NOW + 2);
    assert!(!again.await.unwrap(), "a lease commits once");

    // A sign-in replaced the token during the refresh: the commit stores
    // the access token but keeps the sign-in's refresh token.
    let leased = store.take_lease("di", "l2", REFRESH, NOW + 3, NOW + 30);
    let leased = leased.await.unwrap().unwrap();
    store
        .record_sign_in(&sign_in("di", Some("signed-in")), NOW + 4)
        .await
        .unwrap();
    let fresh = FreshTokens {
        access_token: Some((sealed("a2", "k2"), NOW + 3600)),
        scopes: None,
        refresh_token: Some(sealed("rotated", "k2")),
    };
    let commit = store.finish_refresh("di", "l2", leased.version, &fresh, NOW + 5);
    assert!(commit.await.unwrap(), "the lease was still held");
    let after = store.grant("di").await.unwrap().unwrap();
    assert_eq!(after.refresh_token, Some(sealed("signed-in", "k1")));
    assert_eq!(after.access_token, Some((sealed("a2", "k2"), NOW + 3600)));
    assert_eq!(
        after.scopes,
        ["openid", "email"],
        "no scopes given: unchanged"
    );
    let next = store.take_lease("di", "l3", REFRESH, NOW + 6, NOW + 30);
    assert!(next.await.unwrap().is_some(), "freed by the commit");
}

async fn only_a_usable_grant_is_leased_for_a_refresh(store: &dyn GrantStore) {
    store
        .record_sign_in(&sign_in("ed", Some("r")), NOW)
        .await
        .unwrap();
    store.revoke_grant("ed", None, NOW + 1).await.unwrap();
    let refresh = store.take_lease("ed", "l", REFRESH, NOW + 2, NOW + 30);
    assert!(
        refresh.await.unwrap().is_none(),
        "a revoked grant is not refreshed"
    );
    let reseal = store.take_lease("ed", "l", LeasePurpose::Reseal, NOW + 2, NOW + 30);
    assert!(
        reseal.await.unwrap().is_some(),
        "but it is leased for a re-seal"
    );

    store
        .record_sign_in(&sign_in("fay", None), NOW)
        .await
        .unwrap();
    let no_token = store.take_lease("fay", "l", REFRESH, NOW, NOW + 30);
    assert!(
        no_token.await.unwrap().is_none(),
        "no refresh token, no refresh"
    );
}

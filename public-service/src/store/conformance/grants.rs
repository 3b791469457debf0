//! [`GrantStore`]: sign-ins, the version's compare-and-swap, revocation.

use super::{sealed, sign_in, NOW};
use crate::store::{GrantStore, LeasePurpose};

pub async fn grants(store: &dyn GrantStore) {
    absent_grants_read_as_none_and_no_write_touches_them(store).await;
    a_sign_in_creates_then_updates_the_grant(store).await;
    of_two_concurrent_swaps_on_one_version_exactly_one_wins(store).await;
    revocation_is_a_swap_too_and_a_new_sign_in_lifts_it(store).await;
}

async fn absent_grants_read_as_none_and_no_write_touches_them(store: &dyn GrantStore) {
    assert!(store.grant("nobody").await.unwrap().is_none());
    assert!(!store.revoke_grant("nobody", None, NOW).await.unwrap());
    assert!(!store
        .replace_refresh_token("nobody", 0, &sealed("r", "k1"), NOW)
        .await
        .unwrap());
    for purpose in [LeasePurpose::Refresh, LeasePurpose::Reseal] {
        let lease = store.take_lease("nobody", "l", purpose, NOW, NOW + 10);
        assert!(
            lease.await.unwrap().is_none(),
            "no lease on an absent grant"
        );
    }
    store.release_lease("nobody", "l").await.unwrap();
    assert!(
        store.grant("nobody").await.unwrap().is_none(),
        "nothing created"
    );
}

async fn a_sign_in_creates_then_updates_the_grant(store: &dyn GrantStore) {
    store
        .record_sign_in(&sign_in("ada", Some("r1")), NOW)
        .await
        .unwrap();
    let first = store.grant("ada").await.unwrap().expect("created");
    assert_eq!(first.email, "ada@example.com");
    assert_eq!(first.hosted_domain.as_deref(), Some("example.com"));
    assert_eq!(first.scopes, ["openid", "email"]);
    assert_eq!(first.refresh_token, Some(sealed("r1", "k1")));
    assert_eq!(
        first.access_token,
        Some((sealed("access", "k1"), NOW + 3600))
    );
    assert!(first.is_usable() && first.revoked_at.is_none());
    assert_eq!((first.created_at, first.updated_at), (NOW, NOW));

    // A sign-in without a refresh token keeps the stored one and the
    // version, but takes the new e-mail, `hd`, scopes and access token.
    let mut again = sign_in("ada", None);
    again.email = "ada@new.example".to_owned();
    again.hosted_domain = None;
    again.scopes = vec!["openid".to_owned()];
    again.access_token = Some((sealed("access2", "k1"), NOW + 7200));
    store.record_sign_in(&again, NOW + 5).await.unwrap();
    let kept = store.grant("ada").await.unwrap().unwrap();
    assert_eq!(kept.refresh_token, Some(sealed("r1", "k1")));
    assert_eq!(
        kept.version, first.version,
        "no new refresh token, same version"
    );
    assert_eq!(kept.email, "ada@new.example", "the last sign-in's e-mail");
    assert_eq!(kept.hosted_domain, None, "the last sign-in's hd");
    assert_eq!(kept.scopes, ["openid"]);
    assert_eq!(
        kept.access_token,
        Some((sealed("access2", "k1"), NOW + 7200))
    );
    assert_eq!((kept.created_at, kept.updated_at), (NOW, NOW + 5));

    // Without an access token, the stored one stays.
    let mut bare = sign_in("ada", Some("r2"));
    bare.access_token = None;
    store.record_sign_in(&bare, NOW + 6).await.unwrap();
    let rotated = store.grant("ada").await.unwrap().unwrap();
    assert_eq!(rotated.refresh_token, Some(sealed("r2", "k1")));
    assert_ne!(
        rotated.version, first.version,
        "a new refresh token moves it"
    );
    assert_eq!(rotated.access_token, kept.access_token);
}

async fn of_two_concurrent_swaps_on_one_version_exactly_one_wins(store: &dyn GrantStore) {
    store
        .record_sign_in(&sign_in("bo", Some("r0")), NOW)
        .await
        .unwrap();
    let read = store.grant("bo").await.unwrap().unwrap();
    let (left, right) = (sealed("left", "k1"), sealed("right", "k1"));
    let (a, b) = tokio::join!(
        store.replace_refresh_token("bo", read.version, &left, NOW + 1),
        store.replace_refresh_token("bo", read.version, &right, NOW + 1),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a ^ b, "exactly one swap on version {} wins", read.version);
    let after = store.grant("bo").await.unwrap().unwrap();
    let winner = if a { left } else { right };
    assert_eq!(
        after.refresh_token,
        Some(winner),
        "the winner's token is stored"
    );
    assert_ne!(after.version, read.version);

    // The loser, retried on the version it read, still loses.
    let (late, next) = (sealed("late", "k1"), sealed("next", "k1"));
    let stale = store.replace_refresh_token("bo", read.version, &late, NOW + 2);
    assert!(!stale.await.unwrap(), "a swap on an old version is refused");
    let current = store.replace_refresh_token("bo", after.version, &next, NOW + 2);
    assert!(current.await.unwrap(), "a swap on the current version wins");
}

async fn revocation_is_a_swap_too_and_a_new_sign_in_lifts_it(store: &dyn GrantStore) {
    store
        .record_sign_in(&sign_in("cy", Some("r0")), NOW)
        .await
        .unwrap();
    let read = store.grant("cy").await.unwrap().unwrap();
    // A sign-in replaces the token after `read`: an `invalid_grant` for the
    // old one must not revoke the new one.
    store
        .record_sign_in(&sign_in("cy", Some("r1")), NOW + 1)
        .await
        .unwrap();
    let stale = store.revoke_grant("cy", Some(read.version), NOW + 2);
    assert!(
        !stale.await.unwrap(),
        "a revocation on an old version is refused"
    );
    assert!(store.grant("cy").await.unwrap().unwrap().is_usable());

    let current = store.grant("cy").await.unwrap().unwrap();
    let (a, b) = tokio::join!(
        store.revoke_grant("cy", Some(current.version), NOW + 3),
        store.revoke_grant("cy", None, NOW + 3),
    );
    assert!(a.unwrap() ^ b.unwrap(), "exactly one call revokes it");
    let revoked = store.grant("cy").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(NOW + 3));
    assert!(revoked.refresh_token.is_none() && revoked.access_token.is_none());
    assert!(!revoked.is_usable());
    assert!(!store.revoke_grant("cy", None, NOW + 4).await.unwrap());
    let token = sealed("x", "k1");
    let swap = store.replace_refresh_token("cy", revoked.version, &token, NOW + 4);
    assert!(
        !swap.await.unwrap(),
        "a revoked grant takes no refresh token"
    );

    // A sign-in without a refresh token leaves it revoked; one with lifts it.
    store
        .record_sign_in(&sign_in("cy", None), NOW + 5)
        .await
        .unwrap();
    assert!(store
        .grant("cy")
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());
    store
        .record_sign_in(&sign_in("cy", Some("r2")), NOW + 6)
        .await
        .unwrap();
    let lifted = store.grant("cy").await.unwrap().unwrap();
    assert!(lifted.is_usable() && lifted.revoked_at.is_none());
    assert_eq!(lifted.refresh_token, Some(sealed("r2", "k1")));
}

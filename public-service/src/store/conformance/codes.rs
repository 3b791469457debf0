//! [`CodeStore`] (single use, bound to an app and a browser) and
//! [`LogoutTokenStore`] (each `jti` once).

use futures_util::future::join_all;

use super::{new_session, NOW};
use crate::store::{CodeStore, LogoutTarget, NewCode, Storage};

/// Redemptions of one code at once.
const RACERS: usize = 8;

fn code(hash: &[u8], app: &str) -> NewCode {
    NewCode {
        code_hash: hash.to_vec(),
        audience: app.to_owned(),
        session_id: "s1".to_owned(),
        return_to: format!("{app}/home"),
        binding_hash: vec![9; 32],
        created_at: NOW,
        expires_at: NOW + 60,
    }
}

pub async fn codes(store: &dyn CodeStore) {
    const APP: &str = "https://a.example";
    const OTHER: &str = "https://b.example";
    let unknown = store.redeem_handoff_code(b"unknown", APP, NOW);
    assert!(
        unknown.await.unwrap().is_none(),
        "an unknown code is absent"
    );

    store.create_handoff_code(&code(b"c1", APP)).await.unwrap();
    assert!(
        store.create_handoff_code(&code(b"c1", APP)).await.is_err(),
        "stored once"
    );
    let stolen = store.redeem_handoff_code(b"c1", OTHER, NOW + 1);
    assert!(
        stolen.await.unwrap().is_none(),
        "another app cannot redeem it"
    );
    let redeemed = store
        .redeem_handoff_code(b"c1", APP, NOW + 1)
        .await
        .unwrap();
    let redeemed = redeemed.expect("its own app redeems it, after the other's try");
    assert_eq!(redeemed.session_id, "s1");
    assert_eq!(redeemed.return_to, "https://a.example/home");
    assert_eq!(
        redeemed.binding_hash,
        Some(vec![9; 32]),
        "the browser's binding"
    );
    let again = store.redeem_handoff_code(b"c1", APP, NOW + 2);
    assert!(again.await.unwrap().is_none(), "a code is redeemed once");

    store.create_handoff_code(&code(b"c2", APP)).await.unwrap();
    let expired = store.redeem_handoff_code(b"c2", APP, NOW + 60);
    assert!(
        expired.await.unwrap().is_none(),
        "an expired code is absent"
    );

    store.create_handoff_code(&code(b"c3", APP)).await.unwrap();
    let racers = (0..RACERS).map(|_| store.redeem_handoff_code(b"c3", APP, NOW + 1));
    let winners = join_all(racers)
        .await
        .into_iter()
        .filter_map(Result::unwrap)
        .count();
    assert_eq!(
        winners, 1,
        "of {RACERS} concurrent redemptions, exactly one succeeds"
    );

    assert_eq!(
        store.purge_handoff_codes(NOW + 60).await.unwrap(),
        0,
        "none expired before"
    );
    assert_eq!(store.purge_handoff_codes(NOW + 61).await.unwrap(), 3);
}

pub async fn logout_tokens(store: &dyn Storage) {
    let sid = LogoutTarget {
        subject: None,
        provider_sid: Some("psid"),
    };
    for id in ["a1", "a2"] {
        let mut session = new_session(id, "ada", NOW);
        session.provider_sid = Some("psid".to_owned());
        store.create_session(&session).await.unwrap();
    }
    let taken = store
        .take_logout_token("j1", NOW + 600, sid, NOW + 1)
        .await
        .unwrap();
    assert_eq!(taken, Some(2), "the first take revokes the sid's sessions");

    // A replay changes nothing, not even a session signed in since.
    let mut later = new_session("a3", "ada", NOW + 2);
    later.provider_sid = Some("psid".to_owned());
    store.create_session(&later).await.unwrap();
    let replay = store
        .take_logout_token("j1", NOW + 600, sid, NOW + 3)
        .await
        .unwrap();
    assert_eq!(
        replay, None,
        "a jti stored twice is refused the second time"
    );
    assert!(store
        .session("a3")
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_none());

    let (a, b) = tokio::join!(
        store.take_logout_token("j2", NOW + 600, sid, NOW + 4),
        store.take_logout_token("j2", NOW + 600, sid, NOW + 4),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(
        a.is_some() ^ b.is_some(),
        "of two concurrent takes exactly one counts"
    );
    assert_eq!(a.or(b), Some(1), "it revoked a3");

    // By subject alone: every live session of that person, nobody else's.
    store
        .create_session(&new_session("b1", "bo", NOW))
        .await
        .unwrap();
    store
        .create_session(&new_session("c1", "cy", NOW))
        .await
        .unwrap();
    let bo = LogoutTarget {
        subject: Some("bo"),
        provider_sid: None,
    };
    assert_eq!(
        store
            .take_logout_token("j3", NOW + 600, bo, NOW + 5)
            .await
            .unwrap(),
        Some(1)
    );
    assert!(store
        .session("c1")
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_none());
    // Both: the sid's sessions of that subject only.
    let mismatch = LogoutTarget {
        subject: Some("cy"),
        provider_sid: Some("psid"),
    };
    assert_eq!(
        store
            .take_logout_token("j4", NOW + 600, mismatch, NOW + 6)
            .await
            .unwrap(),
        Some(0)
    );

    // Once its time is over a jti may be taken again, and purged.
    let reused = store
        .take_logout_token("j1", NOW + 1200, sid, NOW + 600)
        .await
        .unwrap();
    assert_eq!(reused, Some(0), "remembered until NOW + 600 only");
    assert_eq!(
        store.purge_logout_token_jtis(NOW + 601).await.unwrap(),
        3,
        "j2, j3, j4"
    );
    let j1 = store
        .take_logout_token("j1", NOW + 1300, sid, NOW + 700)
        .await
        .unwrap();
    assert_eq!(j1, None, "j1 is remembered again until NOW + 1200");
}

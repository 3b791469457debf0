//! What flows cost on Firestore, counted as it bills them, against the
//! emulator at `FIRESTORE_EMULATOR_HOST` (skipped without it).

use super::{FirestoreAccess, FirestoreStore, Operations};
use crate::store::contracts::{CodeStore, RevocationFeedStore, SessionStore};
use crate::store::{NewCode, NewSession, StoreOptions};

fn store() -> Option<FirestoreStore> {
    let Ok(host) = std::env::var("FIRESTORE_EMULATOR_HOST") else {
        eprintln!("skipped: FIRESTORE_EMULATOR_HOST is not set (e.g. 127.0.0.1:8686)");
        return None;
    };
    let mut random = [0u8; 6];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut random);
    let url = format!("firestore://costs-{}", super::ops::hex(&random));
    let access = FirestoreAccess {
        emulator_host: Some(host),
        ..FirestoreAccess::default()
    };
    Some(FirestoreStore::open(&url, &StoreOptions::default(), &access).unwrap())
}

/// The operations `store` made since `before`.
fn since(store: &FirestoreStore, before: Operations) -> Operations {
    let now = store.operations();
    Operations {
        reads: now.reads - before.reads,
        writes: now.writes - before.writes,
        deletes: now.deletes - before.deletes,
    }
}

fn ops(reads: u64, writes: u64, deletes: u64) -> Operations {
    Operations {
        reads,
        writes,
        deletes,
    }
}

#[tokio::test]
async fn each_step_of_a_sign_in_and_a_poll_costs_what_it_must() {
    let Some(store) = store() else { return };
    const NOW: u64 = 1_700_000_000;

    let before = store.operations();
    let empty = store.sessions_revoked_since(NOW, None, 100).await.unwrap();
    assert!(empty.is_empty());
    assert_eq!(
        since(&store, before),
        ops(1, 0, 0),
        "an empty poll: one read"
    );

    let before = store.operations();
    let session = NewSession {
        id: "s1".into(),
        secret_hash: vec![1; 32],
        subject: "ada".into(),
        email: "ada@example.com".into(),
        name: None,
        hosted_domain: None,
        created_at: NOW,
        expires_at: NOW + 3600,
        provider_sid: None,
        device: None,
        place: None,
    };
    store.create_session(&session).await.unwrap();
    assert_eq!(
        since(&store, before),
        ops(0, 1, 0),
        "a new session: one write"
    );

    let code = NewCode {
        code_hash: vec![2; 32],
        audience: "https://a.example".into(),
        session_id: "s1".into(),
        return_to: "https://a.example/".into(),
        binding_hash: vec![3; 32],
        created_at: NOW,
        expires_at: NOW + 60,
    };
    let before = store.operations();
    store.create_handoff_code(&code).await.unwrap();
    let redeemed = store
        .redeem_handoff_code(&code.code_hash, &code.audience, NOW + 1)
        .await
        .unwrap();
    assert!(redeemed.is_some());
    assert_eq!(
        since(&store, before),
        ops(1, 2, 0),
        "a code: written, then read and marked used"
    );

    let before = store.operations();
    assert!(store.revoke_session("s1", NOW + 2).await.unwrap());
    let feed = store.sessions_revoked_since(NOW, None, 100).await.unwrap();
    assert_eq!(feed, [("s1".to_owned(), NOW + 2)]);
    assert_eq!(
        since(&store, before),
        ops(2, 1, 0),
        "a revocation and a poll"
    );

    let before = store.operations();
    assert_eq!(store.purge_handoff_codes(NOW + 61).await.unwrap(), 1);
    assert_eq!(since(&store, before), ops(1, 0, 1), "a purge of one code");
}

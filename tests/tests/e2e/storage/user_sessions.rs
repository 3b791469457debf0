//! The store functions of the admin commands and the sessions page: one
//! user's live sessions, revoking them all but one, finding a user by
//! e-mail or subject; the same on SQLite and PostgreSQL.

use integration_tests::db::Backend;
use integration_tests::on_both_backends;
use public_service::store::NewSession;

use super::{store_on, NOW};

fn session(id: &str, subject: &str, email: &str, created: u64, lifetime: u64) -> NewSession {
    NewSession {
        id: id.into(),
        secret_hash: vec![1; 32],
        subject: subject.into(),
        email: email.into(),
        name: None,
        hosted_domain: None,
        created_at: created,
        expires_at: created + lifetime,
        provider_sid: None,
        device: None,
        place: None,
    }
}

async fn revoking_a_users_sessions_keeps_the_one_asked_and_touches_nobody_else(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    for new in [
        session("a-old", "alice", "alice@example.com", NOW - 100, 3600),
        session("a-new", "alice", "Alice@Example.com", NOW - 10, 3600),
        session("a-kept", "alice", "alice@example.com", NOW - 50, 3600),
        session("a-expired", "alice", "alice@example.com", NOW - 7200, 3600),
        session("b-1", "bob", "bob@example.com", NOW - 10, 3600),
    ] {
        store.create_session(&new).await.unwrap();
    }
    let live: Vec<String> = store
        .live_sessions_of("alice", NOW)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(
        live,
        ["a-new", "a-kept", "a-old"],
        "live ones, newest first"
    );

    let revoked = store
        .revoke_sessions_of("alice", Some("a-kept"), NOW)
        .await
        .unwrap();
    assert_eq!(revoked, 2);
    let live = store.live_sessions_of("alice", NOW).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].id, "a-kept");
    assert_eq!(store.live_sessions_of("bob", NOW).await.unwrap().len(), 1);
    // The apps' feed carries exactly the two revoked now.
    let feed: Vec<String> = store
        .sessions_revoked_since(NOW, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(feed, ["a-new", "a-old"]);
    assert_eq!(
        store.revoke_sessions_of("alice", None, NOW).await.unwrap(),
        1
    );
    assert_eq!(
        store.revoke_sessions_of("alice", None, NOW).await.unwrap(),
        0
    );
}

async fn a_user_is_found_by_subject_or_by_any_case_of_an_email(backend: Backend) {
    let Some((store, _db)) = store_on(backend).await else {
        return;
    };
    for new in [
        session("s1", "sub-1", "Shared@Example.com", NOW, 3600),
        session("s2", "sub-2", "shared@example.com", NOW, 3600),
        session("s3", "sub-3", "carol@example.com", NOW, 3600),
    ] {
        store.create_session(&new).await.unwrap();
    }
    let shared = store.users_matching("SHARED@example.com").await.unwrap();
    let subjects: Vec<&str> = shared.iter().map(|u| u.subject.as_str()).collect();
    assert_eq!(subjects, ["sub-1", "sub-2"]);
    let carol = store.users_matching("sub-3").await.unwrap();
    assert_eq!(carol.len(), 1);
    assert_eq!(carol[0].emails, ["carol@example.com"]);
    assert!(store.users_matching("nobody").await.unwrap().is_empty());
}

on_both_backends!(
    revoking_a_users_sessions_keeps_the_one_asked_and_touches_nobody_else,
    a_user_is_found_by_subject_or_by_any_case_of_an_email,
);

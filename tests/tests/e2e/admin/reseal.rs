//! `admin grants reseal` and `admin keys status`: every grant moved to the
//! newest key, in batches, resumable, without losing a token a refresh
//! rotates meanwhile; then the old key leaves the ring and every grant
//! still refreshes.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use handoff_guard::{Clock, SystemClock};
use integration_tests::db::{Backend, TestDatabase};
use integration_tests::on_both_backends;
use integration_tests::TestApp;
use mock_provider::MockUser;
use public_service::admin::{AdminError, Console};
use public_service::store::{FreshTokens, SignInGrant, Store, StoreOptions};
use public_service::token_cipher::TokenCipher;
use secrecy::{ExposeSecret, SecretString};
use service_kit::config::Env;

use super::{refuse_grant_changes_of, signed_in};

const USERS: [&str; 3] = [
    "alice@example.com",
    "bob@corp.example",
    "carol@corp.example",
];

fn new_key(id: &str) -> String {
    format!("{id}:{}", STANDARD.encode(rand::random::<[u8; 32]>()))
}

fn ring_var(app: &TestApp) -> String {
    app.admin_env(&[])
        .secret("TOKEN_ENCRYPTION_KEYS")
        .unwrap()
        .unwrap()
        .expose_secret()
        .to_owned()
}

async fn reseal_moves_every_grant_to_the_newest_key_and_the_old_one_can_go(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    for user in USERS {
        signed_in(&app, user).await;
    }
    let old_ring = ring_var(&app);
    let k2 = new_key("k2");
    let rotated = format!("{k2},{old_ring}");
    let both = [("TOKEN_ENCRYPTION_KEYS", rotated.as_str())];
    let only_new = [("TOKEN_ENCRYPTION_KEYS", k2.as_str())];

    let status = app
        .admin(&["keys", "status", "--json"], &both)
        .await
        .ok()
        .json();
    let keys = &status["token_keys"];
    assert_eq!(keys[0]["key_id"], "k2");
    assert_eq!(keys[0]["refresh_tokens"], 0);
    assert_eq!(keys[1]["key_id"], "k1");
    assert_eq!(keys[1]["refresh_tokens"], 3);
    assert_eq!(keys[1]["access_tokens"], 3);
    assert_eq!(status["signing_keys"][0]["signs"], true);
    assert_eq!(status["signing_keys"][0]["alg"], "ES256");

    // The service is deployed with both keys; nothing was written since,
    // so the operator says so. Interrupted: a limit stops it after two
    // grants, in batches of one.
    app.redeploy_public_service_with(&both).await;
    let first = app
        .admin(
            &[
                "grants",
                "reseal",
                "--batch-size",
                "1",
                "--limit",
                "2",
                "--new-key-is-deployed",
            ],
            &both,
        )
        .await
        .ok();
    assert!(
        first.stdout.contains("resealed 1/2\nresealed 2/2\n"),
        "{}",
        first.stdout
    );
    assert_eq!(first.audit[0]["action"], "grants.reseal");
    assert_eq!(first.audit[0]["resealed"], 2);
    assert_eq!(first.audit[0]["remaining"], 1);
    // The old key cannot go yet, and status says so instead of losing it.
    let early = app.admin(&["keys", "status"], &only_new).await;
    assert!(
        matches!(&early.result, Err(AdminError::UnconfiguredKeys(ids)) if ids == &["k1"]),
        "{:?}",
        early.result.err()
    );
    assert!(early.stdout.contains("NOT CONFIGURED"), "{}", early.stdout);

    // Resumed (the grants sealed by k2 are the evidence now): the rest,
    // then a run with nothing to do.
    let second = app.admin(&["grants", "reseal"], &both).await.ok();
    assert!(
        second.stdout.contains("1 grant(s) hold a token"),
        "{}",
        second.stdout
    );
    assert!(second.stdout.contains("resealed 1/1"), "{}", second.stdout);
    assert!(
        second.stdout.contains("every stored token is sealed by k2"),
        "{}",
        second.stdout
    );
    let third = app
        .admin(&["grants", "reseal", "--json"], &both)
        .await
        .ok()
        .json();
    assert_eq!(third["stale_before"], 0);
    assert_eq!(third["resealed"], 0);

    // The old key leaves the ring: status is clean, and every grant opens
    // to the very token the provider holds.
    let status = app
        .admin(&["keys", "status", "--json"], &only_new)
        .await
        .ok()
        .json();
    assert_eq!(
        status["token_keys"].as_array().unwrap().len(),
        1,
        "{status}"
    );
    assert_eq!(status["token_keys"][0]["refresh_tokens"], 3);
    let cipher = TokenCipher::from_key_ring(&SecretString::from(k2.clone())).unwrap();
    let store = app.store().await;
    for user in USERS {
        let subject = MockUser::new(user).sub;
        let grant = store.grant(&subject).await.unwrap().unwrap();
        let sealed = grant.refresh_token.unwrap();
        let opened = cipher
            .open(&sealed, &format!("refresh_token:{subject}"))
            .expect("the re-sealed token opens with the new key alone");
        let at_provider = app.provider.live_refresh_tokens_of(user);
        assert!(
            at_provider.contains(&opened.expose_secret().to_owned()),
            "{user}: token lost"
        );
    }
    // The service, redeployed without the old key, refreshes every grant.
    app.redeploy_public_service_with(&only_new).await;
    app.advance_time(Duration::from_secs(2 * 3600));
    let calls = app.provider.token_endpoint_calls();
    for user in USERS {
        let answer = app.broker_token_for(user, &[]).await;
        assert_eq!(answer.status, 200, "{user}: {}", answer.json);
    }
    assert_eq!(app.provider.token_endpoint_calls(), calls + USERS.len());
}

/// The job reads the newest secret version, which may not be deployed
/// yet: until a token sealed by the new key shows the service has it, the
/// re-seal refuses to start unless the operator says it is deployed.
async fn reseal_waits_for_evidence_that_the_service_has_the_new_key(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    signed_in(&app, USERS[0]).await;
    let k2 = new_key("k2");
    let rotated = format!("{k2},{}", ring_var(&app));
    let both = [("TOKEN_ENCRYPTION_KEYS", rotated.as_str())];
    let subject = MockUser::new(USERS[0]).sub;
    let key_of = |subject: String| {
        let app = &app;
        async move {
            let grant = app.store().await.grant(&subject).await.unwrap().unwrap();
            grant.refresh_token.unwrap().key_id
        }
    };

    // The secret has k2, the running service does not.
    let early = app.admin(&["grants", "reseal"], &both).await;
    assert!(
        matches!(&early.result, Err(AdminError::NewKeyNotDeployed(id)) if id == "k2"),
        "{:?}",
        early.result.err()
    );
    let said = early.result.unwrap_err().to_string();
    assert!(
        said.contains("Deploy the new TOKEN_ENCRYPTION_KEYS first"),
        "{said}"
    );
    assert!(
        early.audit.is_empty(),
        "nothing was done, so nothing is audited"
    );
    assert_eq!(key_of(subject.clone()).await, "k1");

    // Deployed: the service's first write with k2 is the evidence.
    app.redeploy_public_service_with(&both).await;
    signed_in(&app, USERS[1]).await;
    assert_eq!(key_of(MockUser::new(USERS[1]).sub).await, "k2");
    let run = app.admin(&["grants", "reseal"], &both).await.ok();
    assert!(run.stdout.contains("resealed 1/1"), "{}", run.stdout);
    assert_eq!(key_of(subject).await, "k2");

    // Or the operator's word, when nothing was written since the deploy.
    let k3 = new_key("k3");
    let again = format!("{k3},{rotated}");
    let newer = [("TOKEN_ENCRYPTION_KEYS", again.as_str())];
    let refused = app.admin(&["grants", "reseal"], &newer).await;
    assert!(matches!(
        refused.result,
        Err(AdminError::NewKeyNotDeployed(_))
    ));
    let told = app
        .admin(&["grants", "reseal", "--new-key-is-deployed"], &newer)
        .await
        .ok();
    assert!(told.stdout.contains("resealed 2/2"), "{}", told.stdout);
}

/// The database fails in the third batch, after two grants were re-sealed:
/// the run fails, and its audit line says how far it got.
async fn a_reseal_that_fails_on_storage_midway_is_audited_with_its_counts(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    for user in USERS {
        signed_in(&app, user).await;
    }
    let mut subjects: Vec<String> = USERS.iter().map(|u| MockUser::new(u).sub).collect();
    subjects.sort();
    // Grants are taken in subject order: the last one fails.
    refuse_grant_changes_of(&app, &subjects[2]).await;
    let rotated = format!("{},{}", new_key("k2"), ring_var(&app));

    let run = app
        .admin(
            &[
                "grants",
                "reseal",
                "--batch-size",
                "1",
                "--reason",
                "retire k1",
                "--new-key-is-deployed",
            ],
            &[("TOKEN_ENCRYPTION_KEYS", rotated.as_str())],
        )
        .await;
    assert!(
        matches!(run.result, Err(AdminError::Store(_))),
        "{:?}",
        run.result.err()
    );
    assert!(run.stdout.contains("resealed 2/3"), "{}", run.stdout);
    assert_eq!(run.audit.len(), 1, "{:?}", run.audit);
    let line = &run.audit[0];
    assert_eq!(line["action"], "grants.reseal");
    assert_eq!(line["outcome"], "failed");
    assert_eq!(line["severity"], "WARNING");
    assert_eq!(line["reason"], "retire k1");
    assert_eq!(line["newest_key"], "k2");
    assert_eq!(line["stale_before"], 3);
    assert_eq!(line["resealed"], 2);
    assert_eq!(line["skipped"], 0);
    let store = app.store().await;
    for subject in &subjects[..2] {
        let grant = store.grant(subject).await.unwrap().unwrap();
        assert_eq!(grant.refresh_token.unwrap().key_id, "k2");
    }
}

/// A refresh that holds the grant's lease and rotates the refresh token
/// while the re-seal waits: the re-seal stores nothing over it, and seals
/// the rotated token once the lease is free.
async fn reseal_waits_for_a_refresh_in_progress_and_keeps_its_rotated_token(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let store = Store::connect(&db.url, StoreOptions::default())
        .await
        .unwrap();
    let (k1, k2) = (new_key("k1"), new_key("k2"));
    let old = TokenCipher::from_key_ring(&SecretString::from(k1.clone())).unwrap();
    let subject = "sub-dana";
    let context = format!("refresh_token:{subject}");
    let now = SystemClock.unix_seconds();
    store
        .record_sign_in(
            &SignInGrant {
                subject: subject.into(),
                email: "dana@example.com".into(),
                hosted_domain: None,
                scopes: vec!["openid".into()],
                refresh_token: Some(old.seal("rt-before", &context)),
                access_token: None,
            },
            now,
        )
        .await
        .unwrap();
    let leased = store
        .take_refresh_lease(subject, "broker-lease", now, now + 20)
        .await
        .unwrap()
        .expect("the broker takes the lease");

    let env = Env::from_map([
        ("DATABASE_URL", db.url.clone()),
        ("TOKEN_ENCRYPTION_KEYS", format!("{k2},{k1}")),
    ]);
    let reseal = tokio::spawn(async move {
        let (mut out, mut audit) = (Vec::new(), Vec::new());
        let mut console = Console {
            out: &mut out,
            audit: &mut audit,
        };
        let args = ["admin", "grants", "reseal", "--new-key-is-deployed"];
        let result =
            public_service::admin::execute(args, &env, Arc::new(SystemClock), &mut console).await;
        (result, String::from_utf8(out).unwrap())
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    // The refresh finishes: the provider rotated the token (the broker
    // still runs with the old ring here, as an instance not yet redeployed).
    let fresh = FreshTokens {
        access_token: None,
        scopes: None,
        refresh_token: Some(old.seal("rt-rotated", &context)),
    };
    let finished = store
        .finish_refresh(subject, "broker-lease", leased.version, &fresh, now)
        .await
        .unwrap();
    assert!(
        finished,
        "the re-seal must not take the grant from under a refresh"
    );

    let (result, out) = reseal.await.unwrap();
    assert!(result.is_ok(), "{result:?}: {out}");
    let grant = store.grant(subject).await.unwrap().unwrap();
    let sealed = grant.refresh_token.unwrap();
    assert_eq!(sealed.key_id, "k2", "{out}");
    let new = TokenCipher::from_key_ring(&SecretString::from(k2)).unwrap();
    assert_eq!(
        new.open(&sealed, &context).unwrap().expose_secret(),
        "rt-rotated"
    );
}

on_both_backends!(
    reseal_moves_every_grant_to_the_newest_key_and_the_old_one_can_go,
    reseal_waits_for_a_refresh_in_progress_and_keeps_its_rotated_token,
    a_reseal_that_fails_on_storage_midway_is_audited_with_its_counts,
    reseal_waits_for_evidence_that_the_service_has_the_new_key,
);

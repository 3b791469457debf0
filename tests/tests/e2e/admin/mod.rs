//! `public-service admin …` (for operators): sessions and grants
//! of one user ended with one command, on the service's own environment;
//! the re-seal and key status are in [`reseal`]. Each test runs on SQLite
//! and on PostgreSQL, and one runs the real binary.

mod reseal;

use std::time::Duration;

use integration_tests::app::TestOptions;
use integration_tests::db::{Backend, TestDatabase};
use integration_tests::on_both_backends;
use integration_tests::{logs, Browser, Landing, TestApp};
use mock_provider::MockUser;
use public_service::admin::AdminError;
use public_service::store::{NewSession, Store, StoreOptions};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@corp.example";

/// A new browser `email` signed in with.
async fn signed_in(app: &TestApp, email: &str) -> Browser {
    app.signing_in(email)
        .landing(Landing::Ok)
        .run()
        .await
        .browser
}

/// Makes the database refuse every change to `subject`'s grant from now
/// on (a trigger), as a full disk or a lost connection would refuse it:
/// the failure comes mid-command, after the command changed something.
async fn refuse_grant_changes_of(app: &TestApp, subject: &str) {
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&app.db.url).await.unwrap();
    let statements = match app.db.backend {
        Backend::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_grant_change BEFORE UPDATE ON grants \
             WHEN OLD.subject = '{subject}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )],
        Backend::Postgres => vec![
            "CREATE FUNCTION refuse_grant_change() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
                .to_owned(),
            format!(
                "CREATE TRIGGER refuse_grant_change BEFORE UPDATE ON grants FOR EACH ROW \
                 WHEN (OLD.subject = '{subject}') EXECUTE FUNCTION refuse_grant_change()"
            ),
        ],
        Backend::Firestore => panic!("a SQL trigger: this suite runs on the SQL backends"),
    };
    for statement in statements {
        db.execute(statement.as_str()).await.unwrap();
    }
}

/// No token the provider issued reached the admin output or audit lines.
fn assert_no_token_in(app: &TestApp, text: &str) {
    for token in app.provider.issued_tokens() {
        assert!(!text.contains(&token), "a provider token was printed");
    }
    for secret in &app.configured_secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a configured secret was printed"
        );
    }
}

async fn sessions_revoke_ends_every_session_of_one_user_and_the_apps_hear_of_it(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let laptop = signed_in(&app, ALICE).await;
    let phone = signed_in(&app, ALICE).await;
    let bob = signed_in(&app, BOB).await;
    let alice_sub = MockUser::new(ALICE).sub;

    let listed = app
        .admin(&["sessions", "list", "--user", ALICE, "--json"], &[])
        .await
        .ok();
    let listed = listed.json();
    assert_eq!(listed["subject"], alice_sub.as_str());
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 2, "{listed}");
    let table = app
        .admin(&["sessions", "list", "--user", "ALICE@example.com"], &[])
        .await
        .ok();
    assert!(
        table.stdout.contains("2 live session(s)"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("SESSION"), "{}", table.stdout);
    assert!(table.audit.is_empty(), "listing is not an action");

    let revoked = app
        .admin(
            &[
                "sessions",
                "revoke",
                "--user",
                ALICE,
                "--reason",
                "laptop stolen",
            ],
            &[],
        )
        .await
        .ok();
    assert!(
        revoked.stdout.contains("revoked 2 session(s)"),
        "{}",
        revoked.stdout
    );
    assert_eq!(revoked.audit.len(), 1, "one audit line per action");
    let line = &revoked.audit[0];
    assert_eq!(line["target"], "audit");
    assert_eq!(line["severity"], "NOTICE");
    assert_eq!(line["action"], "sessions.revoke");
    assert_eq!(line["reason"], "laptop stolen");
    assert_eq!(line["subject"], alice_sub.as_str());
    assert_eq!(line["sessions_revoked"], 2);

    // The apps' revocation feed carries both: their tokens die now, not
    // at expiry; the other user is untouched.
    assert!(
        app.refuses_within_polls(&laptop, &app.app("/api/me"), 4)
            .await,
        "the laptop's token lived on"
    );
    assert!(
        app.refuses_within_polls(&phone, &app.app("/api/me"), 4)
            .await,
        "the phone's token lived on"
    );
    assert_eq!(bob.get_json(&app.app("/api/me")).await.status, 200);
    let after = app
        .admin(&["sessions", "list", "--user", ALICE, "--json"], &[])
        .await
        .ok();
    assert!(after.json()["sessions"].as_array().unwrap().is_empty());
    let again = app
        .admin(&["sessions", "revoke", "--user", ALICE], &[])
        .await
        .ok();
    assert!(
        again.stdout.contains("revoked 0 session(s)"),
        "{}",
        again.stdout
    );
    assert_no_token_in(&app, &format!("{}{:?}", revoked.stdout, revoked.audit));
    logs::assert_no_service_panics();
}

async fn grants_revoke_revokes_at_the_provider_then_here(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let _browser = signed_in(&app, ALICE).await;
    let refresh_token = app.provider.live_refresh_tokens_of(ALICE).pop().unwrap();
    let subject = MockUser::new(ALICE).sub;

    let run = app
        .admin(
            &["grants", "revoke", "--user", &subject, "--reason", "left"],
            &[],
        )
        .await
        .ok();
    assert!(
        run.stdout.contains("revoked at the provider"),
        "{}",
        run.stdout
    );
    assert!(app.provider.revoked_tokens().contains(&refresh_token));
    assert!(app.provider.live_refresh_tokens_of(ALICE).is_empty());
    let grant = app.store().await.grant(&subject).await.unwrap().unwrap();
    assert!(grant.revoked_at.is_some() && grant.refresh_token.is_none());
    assert_eq!(
        app.broker_token_for(ALICE, &[]).await.error(),
        "consent_required"
    );
    assert_eq!(run.audit.len(), 1);
    assert_eq!(run.audit[0]["action"], "grants.revoke");
    assert_eq!(run.audit[0]["at_provider"], "revoked");
    assert_eq!(run.audit[0]["revoked_here"], true);
    assert_no_token_in(&app, &format!("{}{:?}", run.stdout, run.audit));
}

async fn with_the_provider_down_a_grant_is_kept_unless_the_operator_says_otherwise(
    backend: Backend,
) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = signed_in(&app, BOB).await;
    let subject = MockUser::new(BOB).sub;
    // A provider nobody answers for (loopback, a port just released).
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port())
    };
    let down = [("OIDC_ISSUER_URL", dead.as_str())];

    let args = ["sessions", "revoke", "--user", BOB, "--with-grant"];
    let refused = app.admin(&args, &down).await;
    assert!(
        matches!(refused.result, Err(AdminError::ProviderFailed(_))),
        "{:?}",
        refused.result.err()
    );
    // The sessions are gone (they need no provider), the grant is not:
    // its token is the only means left to revoke it at the provider.
    assert!(
        app.refuses_within_polls(&browser, &app.app("/api/me"), 4)
            .await
    );
    let grant = app.store().await.grant(&subject).await.unwrap().unwrap();
    assert!(
        grant.is_usable(),
        "the grant was dropped without --even-if-provider-fails"
    );
    let actions: Vec<String> = refused
        .audit
        .iter()
        .map(|l| format!("{} {}", l["action"], l["outcome"]))
        .collect();
    assert_eq!(
        actions,
        [
            r#""sessions.revoke" "ok""#,
            r#""grants.revoke" "provider_failed""#
        ]
    );

    let forced = app
        .admin(
            &[
                "grants",
                "revoke",
                "--user",
                BOB,
                "--even-if-provider-fails",
            ],
            &down,
        )
        .await
        .ok();
    assert!(
        forced.stdout.contains("NOT revoked at the provider"),
        "{}",
        forced.stdout
    );
    assert_eq!(forced.audit[0]["outcome"], "revoked_here_only");
    let grant = app.store().await.grant(&subject).await.unwrap().unwrap();
    assert!(grant.revoked_at.is_some());
}

/// The provider revoked the token, then the database refused to record
/// it: the audit line still says what happened.
async fn a_grant_revoke_that_fails_on_storage_after_the_provider_revoked_is_audited(
    backend: Backend,
) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let _browser = signed_in(&app, ALICE).await;
    let refresh_token = app.provider.live_refresh_tokens_of(ALICE).pop().unwrap();
    let subject = MockUser::new(ALICE).sub;
    refuse_grant_changes_of(&app, &subject).await;

    let run = app
        .admin(
            &["grants", "revoke", "--user", ALICE, "--reason", "left"],
            &[],
        )
        .await;
    assert!(
        matches!(run.result, Err(AdminError::Store(_))),
        "{:?}",
        run.result.err()
    );
    assert!(app.provider.revoked_tokens().contains(&refresh_token));
    assert_eq!(run.audit.len(), 1, "{:?}", run.audit);
    let line = &run.audit[0];
    assert_eq!(line["action"], "grants.revoke");
    assert_eq!(line["outcome"], "failed");
    assert_eq!(line["severity"], "WARNING");
    assert_eq!(line["reason"], "left");
    assert_eq!(line["subject"], subject.as_str());
    assert_eq!(line["at_provider"], "revoked");
    assert_eq!(line["revoked_here"], false);
    assert_no_token_in(&app, &format!("{}{:?}", run.stdout, run.audit));
}

async fn an_email_of_several_subjects_is_refused_and_nothing_is_revoked(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let store = Store::connect(&db.url, StoreOptions::default())
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (id, subject) in [("s-1", "sub-one"), ("s-2", "sub-two")] {
        store
            .create_session(&NewSession {
                id: id.into(),
                secret_hash: vec![1; 32],
                subject: subject.into(),
                email: "Shared@Example.com".into(),
                name: None,
                hosted_domain: None,
                created_at: now,
                expires_at: now + 3600,
                provider_sid: None,
                device: None,
                place: None,
            })
            .await
            .unwrap();
    }
    let env = service_kit::config::Env::from_map([("DATABASE_URL", db.url.clone())]);
    let run = |args: &'static [&'static str]| {
        let env = &env;
        async move {
            let (mut out, mut audit) = (Vec::new(), Vec::new());
            let mut console = public_service::admin::Console {
                out: &mut out,
                audit: &mut audit,
            };
            let clock = std::sync::Arc::new(handoff_guard::SystemClock);
            let result =
                public_service::admin::execute(args.iter().copied(), env, clock, &mut console)
                    .await;
            (result, String::from_utf8(out).unwrap(), audit.is_empty())
        }
    };
    let (result, _, no_audit) = run(&[
        "admin",
        "sessions",
        "revoke",
        "--user",
        "shared@example.com",
    ])
    .await;
    match result {
        Err(AdminError::AmbiguousUser { subjects, .. }) => {
            assert_eq!(subjects, ["sub-one", "sub-two"]);
        }
        other => panic!("not refused as ambiguous: {other:?}"),
    }
    assert!(no_audit, "nothing was done, so nothing is audited");
    for subject in ["sub-one", "sub-two"] {
        assert_eq!(store.live_sessions_of(subject, now).await.unwrap().len(), 1);
    }
    // Named by subject, one user is acted on, and only that one.
    let (result, out, _) = run(&["admin", "sessions", "revoke", "--user", "sub-one"]).await;
    assert!(result.is_ok(), "{result:?}");
    assert!(out.contains("revoked 1 session(s) of sub-one"), "{out}");
    assert!(store
        .live_sessions_of("sub-one", now)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.live_sessions_of("sub-two", now).await.unwrap().len(),
        1
    );
    let (result, _, _) = run(&["admin", "sessions", "list", "--user", "nobody@example.com"]).await;
    assert!(
        matches!(result, Err(AdminError::UnknownUser(_))),
        "{result:?}"
    );
}

on_both_backends!(
    sessions_revoke_ends_every_session_of_one_user_and_the_apps_hear_of_it,
    grants_revoke_revokes_at_the_provider_then_here,
    with_the_provider_down_a_grant_is_kept_unless_the_operator_says_otherwise,
    a_grant_revoke_that_fails_on_storage_after_the_provider_revoked_is_audited,
    an_email_of_several_subjects_is_refused_and_nothing_is_revoked,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_admin_commands_with_only_the_variables_they_need() {
    let app = TestApp::spawn_with(TestOptions::default()).await;
    let _browser = signed_in(&app, ALICE).await;
    let binary = env!("CARGO_BIN_EXE_public-service-under-test");
    let limit = Duration::from_secs(20);
    let run = |args: &'static [&'static str], changes: &'static [(&'static str, &'static str)]| {
        let app = &app;
        async move {
            let output = app
                .run_admin_binary(binary, args, changes, limit)
                .await
                .expect("the admin command finished");
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            (output.status.code(), stdout, stderr)
        }
    };

    let (code, stdout, _) = run(&["--help"], &[]).await;
    assert_eq!(code, Some(0));
    for command in ["sessions", "grants", "keys"] {
        assert!(stdout.contains(command), "{stdout}");
    }
    let (code, _, stderr) = run(&["sessions", "revoke"], &[]).await;
    assert_eq!(code, Some(2), "a usage error: {stderr}");
    assert!(stderr.contains("--user"), "{stderr}");

    // Listing sessions needs the database only: no keys, no provider.
    let no_keys = &[
        ("TOKEN_ENCRYPTION_KEYS", ""),
        ("SIGNING_KEY", ""),
        ("OIDC_CLIENT_SECRET", ""),
        ("COOKIE_SECRET", ""),
    ];
    let (code, stdout, stderr) = run(&["sessions", "list", "--user", ALICE], no_keys).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("1 live session(s)"), "{stdout}");

    // What a command does need and lacks is named, in one line.
    for (args, missing) in [
        (&["keys", "status"][..], "DATABASE_URL"),
        (&["keys", "status"][..], "SIGNING_KEY"),
        (&["grants", "reseal"][..], "TOKEN_ENCRYPTION_KEYS"),
    ] {
        let changes: &'static [(&'static str, &'static str)] = match missing {
            "DATABASE_URL" => &[("DATABASE_URL", "")],
            "SIGNING_KEY" => &[("SIGNING_KEY", "")],
            _ => &[("TOKEN_ENCRYPTION_KEYS", "")],
        };
        let (code, stdout, stderr) = run(args, changes).await;
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(missing), "{args:?}: {stderr}");
        assert_no_token_in(&app, &format!("{stdout}{stderr}"));
    }

    // An action's audit line is one JSON object on stderr.
    let (code, stdout, stderr) = run(
        &["sessions", "revoke", "--user", ALICE, "--reason", "drill"],
        &[],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("revoked 1 session(s)"), "{stdout}");
    let line: serde_json::Value = serde_json::from_str(stderr.trim()).expect("one JSON line");
    assert_eq!(line["target"], "audit");
    assert_eq!(line["reason"], "drill");
    assert_no_token_in(&app, &format!("{stdout}{stderr}"));
}

//! deploy.sh with its default store, Firestore: the API, the database, the
//! public service's role and the TTL policies made once and found again,
//! the URL given as a plain variable; and the stand-in `gcloud` refusing
//! the Firestore commands the real one refuses (checked against Google's
//! gcloud in `cloud_run::real_gcloud_firestore`).

use serde_json::Value;

use super::rehearsal::{self, call_is, Rehearsal};

/// The stand-in's Firestore state: {database: {type, location, ttl}}.
fn firestore_state(project: &Rehearsal) -> Value {
    let text = std::fs::read_to_string(project.state.path().join("project.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["firestore"].clone()
}

fn project_grants(project: &Rehearsal) -> Vec<Vec<String>> {
    project
        .calls()
        .into_iter()
        .filter(|c| call_is(c, &["projects", "add-iam-policy-binding"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_run_from_an_empty_project_ends_with_both_services_ready() {
    let project = Rehearsal::start().await;
    let run = project.deploy(&[]);
    // Before it deploys: the store's resources are made whatever the
    // service then does with them.
    let state = firestore_state(&project);
    let database = &state["(default)"];
    assert_eq!(database["type"], "FIRESTORE_NATIVE", "{}", run.output);
    assert_eq!(database["location"], rehearsal::REGION);
    for group in ["sessions", "handoff_codes", "logout_jtis"] {
        assert_eq!(database["ttl"][group], "delete_after", "{group}: {state}");
    }
    assert!(
        database["ttl"].get("grants").is_none(),
        "grants never expire"
    );
    let calls = project.calls();
    assert!(calls.iter().any(|c| call_is(c, &["services", "enable"])
        && c.iter().any(|a| a == "firestore.googleapis.com")
        && !c.iter().any(|a| a == "sqladmin.googleapis.com")));
    let role = |role: &str| {
        project_grants(&project)
            .iter()
            .any(|c| c.iter().any(|a| a == role))
    };
    assert!(role("roles/datastore.user"), "{}", run.output);
    assert!(!role("roles/cloudsql.client"));
    // Nothing of Cloud SQL: no instance, no user, no URL secret.
    assert!(
        !calls.iter().any(|c| c.first().is_some_and(|w| w == "sql")),
        "a Cloud SQL call with Firestore"
    );
    assert!(!project.state.path().join("secrets/database-url").exists());
    // The URL the public service was given: the (default) database's.
    let log = project.raw_calls();
    assert!(!log.contains("database-url"), "{log}");

    assert!(
        run.ok,
        "deploy.sh failed from empty (a public service without a Firestore store refuses \
         DATABASE_URL=firestore://… at start):\n{}\nauth's logs:\n{}",
        run.output,
        project.logs("auth").await
    );
    for service in ["auth", "app"] {
        project.assert_ready_through_its_url(service).await;
    }
    assert_eq!(
        project.replaced_services(),
        ["auth", "auth", "app", "app", "auth"],
        "{}",
        run.output
    );
}

/// Each step of the Firestore path stops a run once, before or after it
/// acted; the next run finds what the last one made and finishes.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_stopped_half_way_is_finished_by_the_next() {
    let project = Rehearsal::start().await;
    for (variable, call) in [
        ("GCLOUD_STANDIN_FAIL_AT", "firestore databases create"),
        ("GCLOUD_STANDIN_FAIL_AFTER", "firestore databases create"),
        ("GCLOUD_STANDIN_FAIL_AT", "firestore fields ttls update"),
        ("GCLOUD_STANDIN_FAIL_AFTER", "firestore fields ttls update"),
    ] {
        let run = project.deploy(&[(variable, call)]);
        assert!(!run.ok, "{variable}={call} did not stop deploy.sh");
        assert!(run.output.contains("injected failure"), "{}", run.output);
    }
    let last = project.deploy(&[]);
    let creates = |prefix: &[&str]| {
        project
            .calls()
            .iter()
            .filter(|c| call_is(c, prefix))
            .count()
    };
    // Twice: refused before it acted, then made (and reported failed).
    assert_eq!(creates(&["firestore", "databases", "create"]), 2);
    let state = firestore_state(&project);
    assert_eq!(
        state["(default)"]["ttl"].as_object().map(|t| t.len()),
        Some(3),
        "{state}"
    );
    assert!(last.ok, "the run after the failures:\n{}", last.output);
}

#[test]
fn the_stand_in_refuses_what_gcloud_refuses_on_firestore() {
    let state = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| rehearsal::gcloud(state.path(), args);
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(run(&["config", "set", "project", "p"]).status.success());
    let create = |extra: &[&str]| {
        let mut args = vec!["firestore", "databases", "create"];
        args.extend(extra);
        run(&args)
    };
    // The API is off until enabled.
    let off = create(&["--location=europe-west1"]);
    assert!(
        stderr(&off).contains("reason: SERVICE_DISABLED")
            && stderr(&off).contains("firestore.googleapis.com"),
        "{}",
        stderr(&off)
    );
    assert!(run(&["services", "enable", "firestore.googleapis.com"])
        .status
        .success());
    // What gcloud refuses before calling (exit 2), as gcloud 528 does.
    for (args, expected) in [
        (
            &["--database=auth"][..],
            "argument --location: Must be specified",
        ),
        (
            &["--location=nam5", "--type=native"],
            "argument --type: Invalid choice",
        ),
        (
            &["--location=nam5", "--region=nam5"],
            "unrecognized arguments: --region=nam5",
        ),
        (&["--location=nam5", "--tags=a=b"], "unrecognized arguments"),
    ] {
        let out = create(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // What the API refuses (exit 1): a database ID or location it does not
    // take, a database that exists.
    for (args, expected) in [
        (
            &["--location=europe-west1", "--database=Auth"][..],
            "INVALID_ARGUMENT",
        ),
        (
            &["--location=europe-west1", "--database=db"],
            "INVALID_ARGUMENT",
        ),
        (
            &[
                "--location=europe-west1",
                "--database=0123abcd-0123-0123-0123-0123456789ab",
            ],
            "INVALID_ARGUMENT",
        ),
        (&["--location=moon-1"], "INVALID_ARGUMENT"),
    ] {
        let out = create(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert!(
        create(&["--location=europe-west1", "--type=firestore-native"])
            .status
            .success()
    );
    let again = create(&["--location=europe-west1"]);
    assert!(
        stderr(&again).contains("is the subject of a conflict: Database already exists"),
        "{}",
        stderr(&again)
    );
    assert!(create(&["--location=nam5", "--database=auth-store"])
        .status
        .success());

    let ttl = |extra: &[&str]| {
        let mut args = vec!["firestore", "fields", "ttls", "update", "delete_after"];
        args.extend(extra);
        run(&args)
    };
    let neither = ttl(&["--collection-group=sessions"]);
    assert_eq!(neither.status.code(), Some(2));
    assert!(stderr(&neither).contains("Exactly one of (--disable-ttl | --enable-ttl)"));
    let both = ttl(&[
        "--collection-group=sessions",
        "--enable-ttl",
        "--disable-ttl",
    ]);
    assert_eq!(both.status.code(), Some(2));
    let elsewhere = ttl(&[
        "--collection-group=sessions",
        "--enable-ttl",
        "--database=nowhere",
    ]);
    assert!(
        stderr(&elsewhere).contains("NOT_FOUND"),
        "{}",
        stderr(&elsewhere)
    );
    assert!(
        ttl(&["--collection-group=sessions", "--enable-ttl", "--async"])
            .status
            .success()
    );
    // The same policy again changes nothing; a second TTL field is refused.
    assert!(
        ttl(&["--collection-group=sessions", "--enable-ttl", "--async"])
            .status
            .success()
    );
    let second = run(&[
        "firestore",
        "fields",
        "ttls",
        "update",
        "expires",
        "--collection-group=sessions",
        "--enable-ttl",
    ]);
    assert!(
        stderr(&second).contains("FAILED_PRECONDITION"),
        "{}",
        stderr(&second)
    );
    let listed = run(&[
        "firestore",
        "fields",
        "ttls",
        "list",
        "--collection-group=sessions",
        "--format",
        "value(name)",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).trim(),
        "projects/p/databases/(default)/collectionGroups/sessions/fields/delete_after"
    );
}

/// A store deploy.sh does not know stops it before it touches the project.
#[test]
fn deploy_sh_refuses_a_store_it_does_not_know() {
    let (status, said) = super::deploy_sh_before_gcloud(&[
        ("ALLOWED_HOSTED_DOMAINS", "example.com"),
        ("STORE", "postgres"),
    ]);
    assert_eq!(status.code(), Some(2), "deploy.sh said: {said}");
    assert!(
        said.contains("STORE must be firestore (the default) or cloudsql, e.g. STORE=cloudsql"),
        "deploy.sh said: {said}"
    );
    assert!(!said.contains("gcloud"), "it went on: {said}");
}

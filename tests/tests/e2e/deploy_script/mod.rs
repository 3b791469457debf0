//! `deploy/deploy.sh` rehearsed from an empty project: the stand-in
//! `gcloud` and `docker` of `deploy/rehearsal/` first on `PATH`, keeping the
//! project's state in a temporary directory, and the Cloud Run emulator of
//! this crate (`cloud-run-emulator`) behind `gcloud run services`, running
//! the real service binaries with the rendered definitions.

mod rehearsal;

use rehearsal::{call_is, Rehearsal};

#[tokio::test(flavor = "multi_thread")]
async fn a_first_run_from_an_empty_project_ends_with_both_services_ready() {
    let project = Rehearsal::start().await;
    let run = project.deploy(&[]);
    assert!(
        run.ok,
        "deploy.sh failed from empty:\n{}\napp's logs:\n{}",
        run.output,
        project.logs("app").await
    );

    for service in ["auth", "app"] {
        let status = project.service(service).await;
        assert_eq!(status["ready"], true, "{service}: {status}");
        project.assert_ready_through_its_url(service).await;
    }
    // The public service was deployed before the app, and again at once
    // with its own URL (the app's readiness needs the public service to
    // know it); then the app, and each again with the URLs Cloud Run gave
    // them (a first run).
    let replaced = project.replaced_services();
    assert_eq!(
        replaced,
        ["auth", "auth", "app", "app", "auth"],
        "{}",
        run.output
    );
    // A role granted right after its account was created was refused while
    // IAM propagated, and retried.
    let grants = project
        .calls()
        .iter()
        .filter(|c| call_is(c, &["projects", "add-iam-policy-binding"]))
        .count();
    assert!(
        grants > 1,
        "the propagation delay was not met: {grants} grant"
    );
    // No allUsers binding: the invoker check is disabled by the definitions
    // (the stand-in refuses allUsers as a restricted organisation does).
    assert!(!project
        .calls()
        .iter()
        .any(|c| c.iter().any(|a| a.contains("allUsers"))));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_changes_nothing() {
    let project = Rehearsal::start().await;
    let first = project.deploy(&[]);
    assert!(first.ok, "{}", first.output);
    let before = project.snapshot().await;
    let calls_before = project.calls().len();

    let second = project.deploy(&[]);
    assert!(second.ok, "{}", second.output);
    assert_eq!(project.snapshot().await, before, "{}", second.output);
    let creating: Vec<_> = project.calls()[calls_before..]
        .iter()
        .filter(|c| {
            [
                &["secrets", "create"][..],
                &["secrets", "versions", "add"],
                &["sql", "users", "create"],
                &["sql", "instances", "create"],
                &["iam", "service-accounts", "create"],
                &["artifacts", "repositories", "create"],
            ]
            .iter()
            .any(|prefix| call_is(c, prefix))
        })
        .cloned()
        .collect();
    assert!(creating.is_empty(), "a second run created {creating:?}");
    // A first run sends five definitions (see the test above); a second
    // sends both again, once each, and changes nothing.
    assert_eq!(project.replaced_services().len(), 5 + 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_stopped_half_way_is_finished_by_the_next() {
    let project = Rehearsal::start().await;
    // Each run stops at a later point than the one before: a call failing
    // before it acts, or after (a timeout once the change was made).
    for (variable, call) in [
        ("GCLOUD_STANDIN_FAIL_AT", "secrets versions add"),
        ("GCLOUD_STANDIN_FAIL_AFTER", "secrets create"),
        ("GCLOUD_STANDIN_FAIL_AFTER", "sql users create"),
        ("GCLOUD_STANDIN_FAIL_AFTER", "run services replace"),
        ("GCLOUD_STANDIN_FAIL_AT", "run services replace"),
    ] {
        let run = project.deploy(&[(variable, call)]);
        assert!(!run.ok, "{variable}={call} did not stop deploy.sh");
        assert!(run.output.contains("injected failure"), "{}", run.output);
    }
    let last = project.deploy(&[]);
    assert!(last.ok, "the run after the failures:\n{}", last.output);
    for service in ["auth", "app"] {
        project.assert_ready_through_its_url(service).await;
    }
    let snapshot = project.snapshot().await;
    assert_eq!(snapshot.users, ["auth"]);
    assert!(
        snapshot.secret_versions.values().all(|v| *v == 1),
        "{snapshot:?}"
    );
}

#[test]
fn the_stand_in_refuses_flags_the_gcloud_reference_does_not_have() {
    let state = tempfile::tempdir().unwrap();
    let out = rehearsal::gcloud(
        state.path(),
        &[
            "run",
            "services",
            "replace",
            "x.yaml",
            "--allow-unauthenticated",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "ERROR: (gcloud.run.services.replace) unrecognized arguments: --allow-unauthenticated"
        ),
        "{out:?}"
    );
    // And fails as gcloud fails for what exists already, or does not.
    let ok = |args: &[&str]| rehearsal::gcloud(state.path(), args).status.success();
    assert!(ok(&["config", "set", "project", "p"]));
    assert!(!ok(&[
        "secrets",
        "create",
        "s",
        "--replication-policy",
        "automatic"
    ]));
    assert!(ok(&["services", "enable", "secretmanager.googleapis.com"]));
    assert!(ok(&[
        "secrets",
        "create",
        "s",
        "--replication-policy",
        "automatic"
    ]));
    assert!(!ok(&[
        "secrets",
        "create",
        "s",
        "--replication-policy",
        "automatic"
    ]));
    assert!(!ok(&["secrets", "describe", "t"]));
    assert!(!ok(&[
        "secrets", "versions", "describe", "latest", "--secret", "s"
    ]));
}

#[test]
fn without_postgresql_the_stand_in_says_what_is_missing() {
    // `sql instances create` runs a real PostgreSQL; on a machine without
    // its server the stand-in names the missing program (no traceback),
    // and records no instance, so a rerun once it is installed creates it.
    let state = tempfile::tempdir().unwrap();
    let nowhere = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    // Only what the stand-in itself needs on PATH.
    for tool in ["python3", "dirname"] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| std::path::Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("no {tool}"));
        std::os::unix::fs::symlink(found, bin.path().join(tool)).unwrap();
    }
    let gcloud = |args: &[&str]| {
        std::process::Command::new(rehearsal::stand_ins().join("gcloud"))
            .args(args)
            .env("GCLOUD_STANDIN_STATE", state.path())
            .env("GCLOUD_STANDIN_POSTGRES", "1")
            .env("GCLOUD_STANDIN_POSTGRES_DIR", nowhere.path())
            .env("PATH", bin.path())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("the stand-in gcloud runs")
    };
    assert!(gcloud(&["config", "set", "project", "p"]).status.success());
    assert!(gcloud(&["services", "enable", "sqladmin.googleapis.com"])
        .status
        .success());
    let create = [
        "sql",
        "instances",
        "create",
        "auth-db",
        "--database-version",
        "POSTGRES_15",
        "--tier",
        "db-f1-micro",
        "--edition",
        "enterprise",
        "--region",
        "europe-west1",
    ];
    let out = gcloud(&create);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("Traceback"), "{stderr}");
    assert!(
        stderr.contains("`initdb` is neither in") && stderr.contains("apt-get install postgresql"),
        "{stderr}"
    );
    let describe = gcloud(&["sql", "instances", "describe", "auth-db"]);
    assert!(
        !describe.status.success(),
        "an instance that did not start was recorded"
    );
}

/// Issue 15, item 6: the example admits by Workspace domain
/// (`ALLOWED_HOSTED_DOMAINS`; the rehearsals above set only that), and a
/// run with no access list at all stops before it touches the project,
/// naming what to set.
#[test]
fn deploy_sh_without_an_access_list_stops_and_names_the_variables() {
    // A machine may have the real gcloud: one that answers instead, so a
    // deploy.sh that went on could not reach Google.
    let path_without_gcloud = FailingGcloud::new();
    let output = std::process::Command::new("bash")
        .arg(rehearsal::root().join("deploy/deploy.sh"))
        .env_clear()
        .env("PATH", path_without_gcloud.path_var())
        .env("PROJECT_ID", "my-project")
        .env("REGION", "europe-west1")
        .env("OIDC_CLIENT_ID", "123-abc.apps.googleusercontent.com")
        .env("OIDC_CLIENT_SECRET", "a-secret")
        .output()
        .expect("bash runs deploy.sh");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        said.contains("ALLOWED_HOSTED_DOMAINS"),
        "deploy.sh said: {said}"
    );
    assert!(!said.contains("gcloud"), "it went on: {said}");
}

/// A broker caller without its rules would stop the public service at start
/// (a failed revision); deploy.sh says so before it touches the project.
#[test]
fn deploy_sh_with_broker_callers_but_no_scopes_stops_and_names_the_variable() {
    // A machine may have the real gcloud: one that answers instead, so a
    // deploy.sh that went on could not reach Google.
    let path_without_gcloud = FailingGcloud::new();
    let output = std::process::Command::new("bash")
        .arg(rehearsal::root().join("deploy/deploy.sh"))
        .env_clear()
        .env("PATH", path_without_gcloud.path_var())
        .env("PROJECT_ID", "my-project")
        .env("REGION", "europe-west1")
        .env("OIDC_CLIENT_ID", "123-abc.apps.googleusercontent.com")
        .env("OIDC_CLIENT_SECRET", "a-secret")
        .env("ALLOWED_HOSTED_DOMAINS", "example.com")
        .env(
            "BROKER_CALLERS",
            "backend@my-project.iam.gserviceaccount.com",
        )
        .output()
        .expect("bash runs deploy.sh");
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "deploy.sh said: {said}");
    assert!(
        said.contains("BROKER_CALLER_SCOPES"),
        "deploy.sh said: {said}"
    );
    assert!(!said.contains("gcloud"), "it went on: {said}");
}

/// A directory holding a `gcloud` that only fails, first on `PATH`.
struct FailingGcloud(tempfile::TempDir);

impl FailingGcloud {
    fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let gcloud = dir.path().join("gcloud");
        std::fs::write(
            &gcloud,
            "#!/bin/sh\necho \"gcloud called: $*\" >&2\nexit 97\n",
        )
        .unwrap();
        std::fs::set_permissions(&gcloud, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self(dir)
    }

    fn path_var(&self) -> String {
        format!(
            "{}:{}",
            self.0.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }
}

//! `deploy/deploy.sh` rehearsed from an empty project: the stand-in
//! `gcloud` and `docker` of `deploy/rehearsal/` first on `PATH`, keeping the
//! project's state in a temporary directory, and the Cloud Run emulator of
//! this crate (`cloud-run-emulator`) behind `gcloud run services`, running
//! the real service binaries with the rendered definitions. Each run uses
//! deploy.sh's default store, Firestore, unless it says `Store::CloudSql`.

mod firestore;
mod rehearsal;

use rehearsal::{call_is, Rehearsal, Store};

/// Cloud SQL, behind `STORE=cloudsql`: an instance, a user whose password
/// never appears in a process's arguments, and the URL in a secret.
#[tokio::test(flavor = "multi_thread")]
async fn a_first_run_with_cloud_sql_from_an_empty_project_ends_with_both_services_ready() {
    let project = Rehearsal::start_with(Store::CloudSql).await;
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
    // The database password reached gcloud in a flags file, never in the
    // arguments of a process (`ps` shows those to every user): the stand-in
    // refuses --password on the command line, and no call had the password
    // anywhere in its arguments.
    let password = project.database_password();
    assert_eq!(password.len(), 48, "a hex password of 24 bytes");
    let log = project.raw_calls();
    assert!(
        !log.contains(&password),
        "a call's arguments held the password"
    );
    assert!(project
        .calls()
        .iter()
        .any(|c| call_is(c, &["sql", "users", "create"]) && c.iter().any(|a| a == "--flags-file")));
}

/// A project already in use can hold conditional role bindings (an
/// operator's time-bound access, say). gcloud then refuses, without a
/// terminal to prompt on, to add a binding without `--condition`, and the
/// refusal is final: deploy.sh passes `--condition=None` on every grant.
#[tokio::test(flavor = "multi_thread")]
async fn a_project_whose_policies_hold_conditional_bindings_is_deployed() {
    let project = Rehearsal::start().await;
    let gcloud = |args: &[&str]| {
        let out = project.gcloud(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    let condition = "expression=request.time < timestamp('2030-01-01T00:00:00Z'),title=until-2030";
    gcloud(&["config", "set", "project", rehearsal::PROJECT_ID]);
    gcloud(&[
        "projects",
        "add-iam-policy-binding",
        rehearsal::PROJECT_ID,
        "--member",
        "user:ops@example.com",
        "--role",
        "roles/storage.objectViewer",
        "--condition",
        condition,
    ]);
    // A secret deploy.sh finds made already, with a conditional binding
    // of its own.
    gcloud(&["services", "enable", "secretmanager.googleapis.com"]);
    gcloud(&[
        "secrets",
        "create",
        "oidc-client-secret",
        "--replication-policy",
        "automatic",
        "--data-file",
        project.client_secret_file().to_str().unwrap(),
    ]);
    gcloud(&[
        "secrets",
        "add-iam-policy-binding",
        "oidc-client-secret",
        "--member",
        "user:ops@example.com",
        "--role",
        "roles/secretmanager.viewer",
        "--condition",
        condition,
    ]);
    let run = project.deploy(&[]);
    assert!(run.ok, "{}", run.output);
    for service in ["auth", "app"] {
        project.assert_ready_through_its_url(service).await;
    }
    let grants: Vec<_> = project
        .calls()
        .into_iter()
        .filter(|c| {
            call_is(c, &["projects", "add-iam-policy-binding"])
                || call_is(c, &["secrets", "add-iam-policy-binding"])
        })
        .filter(|c| !c.iter().any(|a| a == "user:ops@example.com"))
        .collect();
    assert!(!grants.is_empty());
    for grant in grants {
        assert!(grant.iter().any(|a| a == "--condition=None"), "{grant:?}");
    }
}

/// A grant refused for good (here the deployer may not set the project's
/// policy) stops deploy.sh at once with gcloud's own message: only "the
/// service account does not exist", IAM still propagating a new account,
/// is waited out.
#[tokio::test(flavor = "multi_thread")]
async fn a_grant_refused_for_good_stops_the_run_at_once() {
    // Either store's first grant; Cloud SQL's rehearsal starts nothing
    // before its instance is created, Firestore's starts the emulator.
    let project = Rehearsal::start_with(Store::CloudSql).await;
    let run = project.deploy(&[
        ("GCLOUD_STANDIN_DENIED", "projects add-iam-policy-binding"),
        ("RETRY_DELAY", "0.01"),
    ]);
    assert!(!run.ok, "{}", run.output);
    assert!(
        run.output
            .contains("does not have permission to access projects instance"),
        "{}",
        run.output
    );
    assert!(run.output.contains("not retried"), "{}", run.output);
    assert!(!run.output.contains("propagating"), "{}", run.output);
    let grants = project
        .calls()
        .iter()
        .filter(|c| call_is(c, &["projects", "add-iam-policy-binding"]))
        .count();
    assert_eq!(grants, 1, "{}", run.output);
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
                &["firestore", "databases", "create"],
                &["firestore", "fields", "ttls", "update"],
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
async fn a_run_with_cloud_sql_stopped_half_way_is_finished_by_the_next() {
    let project = Rehearsal::start_with(Store::CloudSql).await;
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

/// What the real gcloud (528) does with the flags deploy.sh now relies
/// on, checked offline against a local listener: `--condition` on an IAM
/// binding, `--flags-file`, and an API that is not enabled.
#[test]
fn the_stand_in_refuses_what_gcloud_refuses_on_iam_policies() {
    let state = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| rehearsal::gcloud(state.path(), args);
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(run(&["config", "set", "project", "p"]).status.success());
    let bind = |extra: &[&str]| {
        let mut args = vec![
            "projects",
            "add-iam-policy-binding",
            "p",
            "--quiet",
            "--member",
            "user:a@example.com",
            "--role",
            "roles/storage.objectViewer",
        ];
        args.extend(extra);
        run(&args)
    };
    // Without conditions in the policy, no --condition is needed.
    assert!(bind(&[]).status.success());
    // A condition needs a title and an expression, and no basic role.
    let untitled = bind(&["--condition=expression=true"]);
    assert!(!untitled.status.success());
    assert!(stderr(&untitled).contains("Invalid value for [condition]"));
    let basic = run(&[
        "projects",
        "add-iam-policy-binding",
        "p",
        "--member",
        "user:a@example.com",
        "--role",
        "roles/viewer",
        "--condition=expression=true,title=t",
    ]);
    assert!(stderr(&basic).contains("Binding with a condition and a basic role is not allowed"));
    assert!(bind(&["--condition=expression=true,title=always"])
        .status
        .success());
    // Now the policy holds a conditional binding.
    let refused = bind(&[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains(
            "Adding a binding without specifying a condition to a policy containing \
             conditions is prohibited in non-interactive mode. Run the command again with \
             `--condition=None`"
        ),
        "{}",
        stderr(&refused)
    );
    assert!(bind(&["--condition=None"]).status.success());

    // The IAM API answers 403 SERVICE_DISABLED until it is enabled.
    let create = ["iam", "service-accounts", "create", "auth-service"];
    let disabled = run(&create);
    assert!(!disabled.status.success());
    assert!(
        stderr(&disabled).contains("reason: SERVICE_DISABLED")
            && stderr(&disabled).contains("iam.googleapis.com"),
        "{}",
        stderr(&disabled)
    );
    assert!(run(&["services", "enable", "iam.googleapis.com"])
        .status
        .success());
    assert!(run(&create).status.success());
}

/// A password reaches the stand-in in a flags file, read as gcloud reads
/// YAML (a plain 1e5 is the number 100000.0); on the command line the
/// rehearsal refuses it, since `ps` shows it to every user.
#[test]
fn the_stand_in_takes_a_password_from_a_flags_file_only() {
    let state = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| rehearsal::gcloud(state.path(), args);
    for setup in [
        &["config", "set", "project", "p"][..],
        &["services", "enable", "sqladmin.googleapis.com"],
        &[
            "sql",
            "instances",
            "create",
            "auth-db",
            "--tier",
            "db-f1-micro",
            "--edition",
            "enterprise",
        ],
    ] {
        let out = run(setup);
        assert!(out.status.success(), "{setup:?}: {out:?}");
    }
    let on_the_command_line = run(&[
        "sql",
        "users",
        "create",
        "auth",
        "--instance",
        "auth-db",
        "--password",
        "hunter2hunter2",
    ]);
    assert_eq!(on_the_command_line.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&on_the_command_line.stderr).contains("ps"));
    let stored = |user: &str| -> String {
        let project: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(state.path().join("project.json")).unwrap(),
        )
        .unwrap();
        project["sql"]["auth-db"]["users"][user]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let sha256 = |text: &str| {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(text.as_bytes()))
    };
    for (user, line, password) in [
        ("quoted", "--password: \"1e5\"\n", "1e5"),
        ("plain", "--password: 1e5\n", "100000.0"),
    ] {
        let file = state.path().join(format!("{user}.yaml"));
        std::fs::write(&file, line).unwrap();
        let out = run(&[
            "sql",
            "users",
            "create",
            user,
            "--instance",
            "auth-db",
            "--flags-file",
            file.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(stored(user), sha256(password), "{line}");
    }
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

/// The example admits by Workspace domain
/// (`ALLOWED_HOSTED_DOMAINS`; the rehearsals above set only that), and a
/// run with no access list at all stops before it touches the project,
/// naming what to set.
#[test]
fn deploy_sh_without_an_access_list_stops_and_names_the_variables() {
    let (status, said) = deploy_sh_before_gcloud(&[]);
    assert!(!status.success());
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
    let (status, said) = deploy_sh_before_gcloud(&[
        ("ALLOWED_HOSTED_DOMAINS", "example.com"),
        (
            "BROKER_CALLERS",
            "backend@my-project.iam.gserviceaccount.com",
        ),
    ]);
    assert_eq!(status.code(), Some(2), "deploy.sh said: {said}");
    assert!(
        said.contains("BROKER_CALLER_SCOPES"),
        "deploy.sh said: {said}"
    );
    assert!(!said.contains("gcloud"), "it went on: {said}");
}

/// With `APP_IMAGE` the app is the operator's image behind the gate: the
/// gated service is deployed as `app`, and only the public service's and
/// the gate's images are built.
#[tokio::test(flavor = "multi_thread")]
async fn with_app_image_the_operators_app_runs_behind_the_gate() {
    let project = Rehearsal::start().await;
    let image = format!(
        "{}-docker.pkg.dev/{}/apps/{}:1",
        rehearsal::REGION,
        rehearsal::PROJECT_ID,
        integration_tests::cloud_run::rehearsal::GATED_APP.0
    );
    // The operator's image, pushed to a repository of their own.
    let registry = format!("{}-docker.pkg.dev", rehearsal::REGION);
    for (tool, args) in [
        (
            "gcloud",
            vec!["config", "set", "project", rehearsal::PROJECT_ID],
        ),
        (
            "gcloud",
            vec!["services", "enable", "artifactregistry.googleapis.com"],
        ),
        (
            "gcloud",
            vec![
                "artifacts",
                "repositories",
                "create",
                "apps",
                "--repository-format",
                "docker",
                "--location",
                rehearsal::REGION,
            ],
        ),
        (
            "gcloud",
            vec!["auth", "configure-docker", registry.as_str(), "--quiet"],
        ),
        ("docker", vec!["build", "-t", image.as_str(), "."]),
        ("docker", vec!["push", image.as_str()]),
    ] {
        let out = match tool {
            "gcloud" => project.gcloud(&args),
            _ => project.docker(&args),
        };
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // deploy.sh's default APP_PORT, 8080: a first run deploys the app
    // twice, and the two instances' apps each listen on their own
    // localhost (here: a port of its own each, in its place).
    let run = project.deploy(&[("APP_IMAGE", &image)]);
    assert!(
        run.ok,
        "deploy.sh with APP_IMAGE failed:\n{}\napp's logs:\n{}",
        run.output,
        project.logs("app").await
    );
    let status = project.service("app").await;
    assert_eq!(status["ready"], true, "{status}");
    let built: Vec<String> = project
        .raw_calls()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|c| c["tool"] == "docker" && c["argv"][0] == "build")
        .filter_map(|c| {
            let argv = c["argv"].as_array()?.clone();
            let at = argv.iter().position(|a| a == "--target")?;
            Some(argv.get(at + 1)?.as_str()?.to_owned())
        })
        .collect();
    assert_eq!(built, ["public-service", "handoff-gate"], "{}", run.output);
    // The gate answers at the service's URL; the app only behind it.
    let url = status["url"].as_str().unwrap().to_owned();
    let health = reqwest::get(format!("{url}/auth/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let me = reqwest::Client::new()
        .get(format!("{url}/api/me"))
        .header("accept", "application/json")
        .header("x-forwarded-email", "mallory@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    let logs: serde_json::Value = serde_json::from_str(&project.logs("app").await).unwrap();
    let app = logs["sidecars"]["app"].to_string();
    assert!(app.contains("listening"), "the app's output: {logs}");
    assert!(
        !app.contains("mallory"),
        "a forged identity reached the app"
    );
}

/// The gate listens on 8081 beside the app: deploy.sh refuses that port
/// for the app before it touches the project.
#[test]
fn deploy_sh_refuses_an_app_port_the_gate_takes() {
    let (status, said) = deploy_sh_before_gcloud(&[
        ("ALLOWED_HOSTED_DOMAINS", "example.com"),
        (
            "APP_IMAGE",
            "europe-west1-docker.pkg.dev/my-project/apps/web:1",
        ),
        ("APP_PORT", "8081"),
    ]);
    assert_eq!(status.code(), Some(2), "deploy.sh said: {said}");
    assert!(
        said.contains("APP_PORT") && said.contains("e.g. APP_PORT=8080"),
        "deploy.sh said: {said}"
    );
    assert!(!said.contains("gcloud"), "it went on: {said}");
}

/// `deploy.sh` run with nothing but the operator's variables (a project,
/// a region, an OAuth client) and `extra`, for the checks it makes before
/// it touches the project: how it exited and what it said. A machine may
/// have the real gcloud: one that only fails is first on `PATH` instead,
/// so a deploy.sh that went on could not reach Google (and says so).
fn deploy_sh_before_gcloud(extra: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let path_without_gcloud = FailingGcloud::new();
    let output = std::process::Command::new("bash")
        .arg(rehearsal::root().join("deploy/deploy.sh"))
        .env_clear()
        .env("PATH", path_without_gcloud.path_var())
        .env("PROJECT_ID", "my-project")
        .env("REGION", "europe-west1")
        .env("OIDC_CLIENT_ID", "123-abc.apps.googleusercontent.com")
        .env("OIDC_CLIENT_SECRET", "a-secret")
        .envs(extra.iter().copied())
        .output()
        .expect("bash runs deploy.sh");
    let said = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status, said)
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

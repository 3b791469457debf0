// Over 400 lines: every check of the definitions against the code and Cloud Run's rules, side by side, so a change to deploy/ meets all of them.
//! The Cloud Run service definitions in `deploy/` against the code: every
//! variable they set is one the service reads, and with the values they
//! give (placeholders filled, secrets stood in for) the service's settings
//! parse, so nothing required is missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use service_kit::config::Env;
use sqlx::postgres::PgConnectOptions;
use yaml_rust2::{Yaml, YamlLoader};

mod cloud_run_rules;
mod firestore;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What deploy.sh exports before it renders, as a deployment would have it
/// with `STORE=cloudsql` (`firestore.rs` renders for Firestore).
const DEPLOY_ENV: &[(&str, &str)] = &[
    ("STORE", "cloudsql"),
    ("PROJECT_ID", "my-project"),
    ("REGION", "europe-west1"),
    (
        "IMAGE",
        "europe-west1-docker.pkg.dev/my-project/auth/image:1",
    ),
    ("PUBLIC_URL", "https://auth-abc123-ew.a.run.app"),
    ("APP_URL", "https://app-abc123-ew.a.run.app"),
    (
        "APP_SERVICE_ACCOUNT",
        "app-service@my-project.iam.gserviceaccount.com",
    ),
    ("OIDC_CLIENT_ID", "123-abc.apps.googleusercontent.com"),
    ("ALLOWED_HOSTED_DOMAINS", "example.com"),
    // deploy.sh's default: the address-domain list stays possible.
    ("ALLOWED_DOMAINS", ""),
    ("ALLOWED_EMAILS", ""),
    ("BROKER_CALLERS", "jobs@my-project.iam.gserviceaccount.com"),
    (
        "BROKER_CALLER_SCOPES",
        "jobs@my-project.iam.gserviceaccount.com=email",
    ),
    ("TASK_CALLERS", "jobs@my-project.iam.gserviceaccount.com"),
    ("EXTENSION_CLIENT_ID", "456-ext.apps.googleusercontent.com"),
    (
        "EXTENSION_ORIGIN",
        "chrome-extension://abcdefghijklmnopabcdefghijklmnop",
    ),
    ("SECRET_VERSION_OIDC_CLIENT_SECRET", "1"),
    ("SECRET_VERSION_HANDOFF_SIGNING_KEY", "3"),
    ("SECRET_VERSION_HANDOFF_PREVIOUS_KEYS", "2"),
    ("SECRET_VERSION_COOKIE_SECRET", "1"),
    ("SECRET_VERSION_TOKEN_ENCRYPTION_KEYS", "1"),
    ("SECRET_VERSION_DATABASE_URL", "1"),
    // With APP_IMAGE: the operator's app behind the gate.
    (
        "APP_IMAGE",
        "europe-west1-docker.pkg.dev/my-project/apps/web:1",
    ),
    ("APP_PORT", "8080"),
    (
        "GATE_IMAGE",
        "europe-west1-docker.pkg.dev/my-project/auth/handoff-gate:1",
    ),
];

/// `deploy/render.sh FILE` (what deploy.sh deploys) with `env` only.
fn render_with(file: &str, env: &[(&str, &str)]) -> Result<String, String> {
    let output = Command::new("bash")
        .arg(root().join("deploy/render.sh"))
        .arg(root().join("deploy").join(file))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("bash runs");
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn rendered(file: &str) -> Yaml {
    let text = render_with(file, DEPLOY_ENV).unwrap_or_else(|e| panic!("{file}: {e}"));
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

/// deploy.sh's database URL, from the printf format in the script itself.
fn deploy_sh_database_url(password: &str) -> String {
    let script = std::fs::read_to_string(root().join("deploy/deploy.sh")).unwrap();
    let start = script
        .find("postgres://auth:")
        .expect("deploy.sh writes a postgres:// URL");
    let format = &script[start..start + script[start..].find('"').unwrap()];
    let mut url = String::new();
    let mut values = [password, "my-project", "europe-west1"].into_iter();
    for (i, part) in format.split("%s").enumerate() {
        if i > 0 {
            url.push_str(values.next().expect("three %s"));
        }
        url.push_str(part);
    }
    url
}

/// A value of the right shape for each Secret Manager secret.
fn secret(name: &str) -> String {
    match name {
        "SIGNING_KEY" | "PREVIOUS_SIGNING_KEYS" => integration_tests::tokens::new_p256_pem(),
        "COOKIE_SECRET" => STANDARD.encode([7u8; 48]),
        "TOKEN_ENCRYPTION_KEYS" => format!("k1:{}", STANDARD.encode([9u8; 32])),
        "DATABASE_URL" => deploy_sh_database_url("0123abcd"),
        "OIDC_CLIENT_SECRET" => "a-client-secret".into(),
        other => panic!("no stand-in for the secret {other}"),
    }
}

/// The environment a service definition gives its container.
fn environment(file: &str) -> (BTreeMap<String, String>, Yaml) {
    let doc = rendered(file);
    assert_eq!(
        doc["apiVersion"].as_str(),
        Some("serving.knative.dev/v1"),
        "{file}"
    );
    assert_eq!(doc["kind"].as_str(), Some("Service"), "{file}");
    let container = &doc["spec"]["template"]["spec"]["containers"][0];
    let mut env = BTreeMap::new();
    for var in container["env"].as_vec().expect("an env list") {
        let name = var["name"].as_str().unwrap().to_owned();
        let value = match &var["value"] {
            Yaml::Null => String::new(),
            Yaml::String(value) => value.clone(),
            Yaml::BadValue => {
                let reference = &var["valueFrom"]["secretKeyRef"];
                assert!(
                    reference["name"].as_str().is_some(),
                    "{name}: a value or a secret"
                );
                secret(&name)
            }
            other => panic!("{file}: {name} = {other:?} is not a string; quote it"),
        };
        assert!(
            env.insert(name.clone(), value).is_none(),
            "{file}: {name} set twice"
        );
    }
    (env, doc)
}

fn check_runtime(doc: &Yaml, file: &str) {
    let template = &doc["spec"]["template"];
    assert_eq!(
        template["metadata"]["annotations"]["autoscaling.knative.dev/minScale"].as_str(),
        Some("0"),
        "{file}: scales to zero"
    );
    let spec = &template["spec"];
    assert!(
        spec["serviceAccountName"]
            .as_str()
            .is_some_and(|a| a.ends_with(".iam.gserviceaccount.com")),
        "{file}: a dedicated service account"
    );
    assert!(spec["containerConcurrency"].as_i64().is_some());
    let container = &spec["containers"][0];
    assert_eq!(
        container["startupProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert!(container["resources"]["limits"]["memory"]
        .as_str()
        .is_some());
    assert!(container["resources"]["limits"]["cpu"].as_str().is_some());
}

/// Variables set that the service never asked for.
fn unread(set: &BTreeMap<String, String>, env: &Env) -> Vec<String> {
    let read = env.names_read();
    set.keys()
        .filter(|name| !read.contains(name))
        .cloned()
        .collect()
}

fn assert_all_read(file: &str, set: &BTreeMap<String, String>, env: &Env) {
    let unread = unread(set, env);
    assert!(
        unread.is_empty(),
        "{file} sets {unread:?}, which the service never reads"
    );
}

#[test]
fn the_public_service_definition_sets_what_the_service_reads_and_all_it_needs() {
    let file = "public-service.yaml";
    let (set, doc) = environment(file);
    check_runtime(&doc, file);
    let env = Env::from_map(set.clone());
    service_kit::telemetry::LogSettings::from_env(&env, "info").unwrap();
    if let Err(e) = public_service::settings::Settings::from_env(&env) {
        panic!("{file} leaves the service unable to start: {e}");
    }
    assert_all_read(file, &set, &env);
    // Secrets come from Secret Manager, never as literal values.
    for secret in [
        "OIDC_CLIENT_SECRET",
        "SIGNING_KEY",
        "COOKIE_SECRET",
        "TOKEN_ENCRYPTION_KEYS",
        "DATABASE_URL",
    ] {
        let container = &doc["spec"]["template"]["spec"]["containers"][0];
        let var = container["env"]
            .as_vec()
            .unwrap()
            .iter()
            .find(|v| v["name"].as_str() == Some(secret))
            .unwrap_or_else(|| panic!("{secret} is not set"));
        assert!(
            var["valueFrom"]["secretKeyRef"]["name"].as_str().is_some(),
            "{secret}"
        );
    }
}

#[test]
fn the_private_service_definition_sets_what_the_app_reads_and_all_it_needs() {
    let file = "private-service.yaml";
    let (set, doc) = environment(file);
    check_runtime(&doc, file);
    let env = Env::from_map(set.clone());
    service_kit::telemetry::LogSettings::from_env(&env, "info").unwrap();
    if let Err(e) = private_service::settings::Settings::from_env(&env) {
        panic!("{file} leaves the app unable to start: {e}");
    }
    assert_all_read(file, &set, &env);
}

#[test]
fn the_gated_service_definition_sets_what_the_gate_reads_and_points_it_at_its_sidecar() {
    let file = "gated-service.yaml";
    let (set, doc) = environment(file);
    let env = Env::from_map(set.clone());
    service_kit::telemetry::LogSettings::from_env(&env, "info").unwrap();
    let settings = gate::settings::Settings::from_env(&env)
        .unwrap_or_else(|e| panic!("{file} leaves the gate unable to start: {e}"));
    assert_all_read(file, &set, &env);
    let containers = &doc["spec"]["template"]["spec"]["containers"];
    let (gate, app) = (&containers[0], &containers[1]);
    assert_eq!(gate["name"].as_str(), Some("gate"));
    assert_eq!(app["name"].as_str(), Some("app"));
    assert_eq!(
        app["image"].as_str(),
        Some("europe-west1-docker.pkg.dev/my-project/apps/web:1")
    );
    // The gate forwards to the port the app listens on, on localhost: the
    // one its PORT and its startup probe name.
    assert_eq!(settings.upstream_url.as_str(), "http://127.0.0.1:8080/");
    assert_eq!(
        app["startupProbe"]["tcpSocket"]["port"].as_i64(),
        Some(8080)
    );
    let app_port = app["env"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|v| v["name"].as_str() == Some("PORT"))
        .and_then(|v| v["value"].as_str());
    assert_eq!(app_port, Some("8080"));
    assert!(app["ports"].is_badvalue(), "a sidecar has no port");
    // The gate's probes ask its own health route, on its own port.
    let port = gate["ports"][0]["containerPort"].as_i64();
    assert_ne!(port, Some(8080), "the gate would clash with the app");
    for probe in ["startupProbe", "livenessProbe"] {
        assert_eq!(
            gate[probe]["httpGet"]["path"].as_str(),
            Some(gate::paths::HEALTH_PATH),
            "{probe}"
        );
        assert_eq!(gate[probe]["httpGet"]["port"].as_i64(), port, "{probe}");
    }
}

#[test]
fn a_variable_the_service_does_not_read_is_caught() {
    let env = Env::from_map([
        ("APP_URL", "https://a.example"),
        ("AUTH_URL", "https://b.example"),
    ]);
    private_service::settings::Settings::from_env(&env).unwrap();
    let set: BTreeMap<String, String> = [("TYPO_VARIABLE".to_owned(), String::new())].into();
    assert_eq!(unread(&set, &env), ["TYPO_VARIABLE"]);
}

#[test]
fn the_container_build_copies_the_manifest_of_every_workspace_member() {
    // The dependency layer is built from the manifests the Dockerfile
    // copies and the stubs deploy/stub-sources.sh makes; Cargo refuses to
    // load the workspace if a member's manifest is missing. Do exactly
    // that here (deploy/check-build.sh reads the same COPY lines).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dockerfile = std::fs::read_to_string(root.join("deploy/Dockerfile")).unwrap();
    let copied: Vec<&str> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter_map(|l| l.split_once("/Cargo.toml "))
        .map(|(dir, _)| dir)
        .collect();
    assert!(copied.len() >= 6, "{copied:?}");
    let scratch = tempfile::tempdir().unwrap();
    let at = scratch.path();
    for file in ["Cargo.toml", "Cargo.lock", "deploy/stub-sources.sh"] {
        std::fs::create_dir_all(at.join(file).parent().unwrap()).unwrap();
        std::fs::copy(root.join(file), at.join(file)).unwrap();
    }
    for dir in &copied {
        std::fs::create_dir_all(at.join(dir)).unwrap();
        std::fs::copy(
            root.join(dir).join("Cargo.toml"),
            at.join(dir).join("Cargo.toml"),
        )
        .unwrap();
    }
    let stubs = Command::new("sh")
        .arg("deploy/stub-sources.sh")
        .current_dir(at)
        .output()
        .unwrap();
    assert!(
        stubs.status.success(),
        "{}",
        String::from_utf8_lossy(&stubs.stderr)
    );
    // `cargo build` reads every manifest and every target they name, as
    // the image build does; a target that does not exist stops it right
    // after that, before anything compiles.
    let loads = |at: &Path| {
        let out = Command::new(env!("CARGO"))
            .args([
                "build",
                "--offline",
                "--locked",
                "--release",
                "-p",
                "public-service",
            ])
            .args(["--bin", "no-such-target"])
            .current_dir(at)
            .env("CARGO_TARGET_DIR", at.join("target"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let loaded = stderr.contains("no bin target named `no-such-target`");
        (loaded, stderr)
    };
    let (loaded, stderr) = loads(at);
    assert!(
        loaded,
        "the dependency layer's workspace does not load:\n{stderr}"
    );
    // And the check works: without one member's manifest, it fails.
    let dropped = copied
        .iter()
        .find(|d| d.starts_with("examples/"))
        .expect("an example member");
    std::fs::remove_dir_all(at.join(dropped)).unwrap();
    let (loaded, stderr) = loads(at);
    assert!(!loaded, "a missing member went unnoticed: {stderr}");
}

#[test]
fn both_definitions_meet_cloud_runs_documented_constraints() {
    for file in ["public-service.yaml", "private-service.yaml"] {
        let violations = cloud_run_rules::violations(&rendered(file));
        assert!(violations.is_empty(), "{file}:\n{}", violations.join("\n"));
    }
}

#[test]
fn the_rules_catch_what_cloud_run_refuses() {
    // The definitions as they were before: a 3 s timeout on a 2 s period,
    // secrets at `latest`, always-on CPU, the invoker annotation on the
    // revision.
    let text = render_with("public-service.yaml", DEPLOY_ENV).unwrap();
    let broken = text
        .replacen("periodSeconds: 3", "periodSeconds: 2", 1)
        .replacen("timeoutSeconds: 2", "timeoutSeconds: 3", 1)
        .replace("key: \"1\"", "key: latest")
        .replace(
            "run.googleapis.com/startup-cpu-boost: \"true\"",
            "run.googleapis.com/startup-cpu-boost: \"true\"\n        run.googleapis.com/cpu-throttling: \"false\"\n        run.googleapis.com/invoker-iam-disabled: \"true\"",
        );
    let violations =
        cloud_run_rules::violations(&YamlLoader::load_from_str(&broken).unwrap().remove(0));
    let all = violations.join("\n");
    for expected in [
        "startupProbe: timeoutSeconds 3 must be between 1 and periodSeconds 2",
        "secret version \"latest\" is not pinned",
        "cpu-throttling \"false\"",
        "invoker-iam-disabled is a service-level annotation",
    ] {
        assert!(all.contains(expected), "{expected} not in:\n{all}");
    }
}

#[test]
fn both_services_disable_the_invoker_check_on_the_service_itself() {
    // Browsers carry no Google identity: with the Invoker IAM check on
    // (Cloud Run's default) every page would answer 403. The recommended
    // way to make a service public, which also works where the
    // domain-restricted-sharing policy refuses `allUsers`, is the
    // service-level annotation: https://cloud.google.com/run/docs/authenticating/public
    // (the rehearsal shows the 403 without it: tests/tests/e2e/cloud_run).
    for file in ["public-service.yaml", "private-service.yaml"] {
        let doc = rendered(file);
        assert_eq!(
            doc["metadata"]["annotations"]["run.googleapis.com/invoker-iam-disabled"].as_str(),
            Some("true"),
            "{file}: metadata.annotations must disable the Invoker IAM check (a quoted \"true\")"
        );
        assert!(
            doc["spec"]["template"]["metadata"]["annotations"]
                ["run.googleapis.com/invoker-iam-disabled"]
                .is_badvalue(),
            "{file}: not on the revision template, where it does not apply"
        );
    }
}

#[test]
fn the_public_services_pool_fits_the_default_cloud_sql_tier() {
    let (set, doc) = environment("public-service.yaml");
    let pool: i64 = set["DATABASE_MAX_CONNECTIONS"].parse().unwrap();
    cloud_run_rules::pool_fits_default_tier(&doc, pool).unwrap();
    // And the service's default pool (5) at maxScale 10 would not.
    assert!(cloud_run_rules::pool_fits_default_tier(&doc, 5).is_err());
    // deploy.sh creates that tier unless told otherwise.
    let script = std::fs::read_to_string(root().join("deploy/deploy.sh")).unwrap();
    assert!(script.contains("--tier \"${DB_TIER:-db-f1-micro}\""));
}

#[test]
fn rendering_refuses_a_variable_left_unset() {
    let without: Vec<_> = DEPLOY_ENV
        .iter()
        .copied()
        .filter(|(name, _)| *name != "SECRET_VERSION_DATABASE_URL")
        .collect();
    let error = render_with("public-service.yaml", &without).unwrap_err();
    assert!(
        error.contains("SECRET_VERSION_DATABASE_URL"),
        "render.sh said: {error}"
    );
    // Empty is allowed (no broker callers is a valid choice).
    let mut empty = DEPLOY_ENV.to_vec();
    empty.retain(|(name, _)| !name.starts_with("BROKER_CALLER"));
    empty.push(("BROKER_CALLERS", ""));
    empty.push(("BROKER_CALLER_SCOPES", ""));
    render_with("public-service.yaml", &empty).unwrap();
}

#[test]
fn the_database_url_deploy_sh_stores_is_one_sqlx_connects_with() {
    // With credentials, an empty host is not a URL (`EmptyHost`); with
    // `localhost` and `host=` sqlx uses the socket directory instead:
    // https://docs.rs/sqlx/0.8/sqlx/postgres/struct.PgConnectOptions.html
    let url = deploy_sh_database_url("0123abcd");
    let options = PgConnectOptions::from_str(&url)
        .unwrap_or_else(|e| panic!("sqlx refuses deploy.sh's DATABASE_URL: {e}"));
    assert_eq!(
        options.get_socket().map(|p| p.to_str().unwrap()),
        Some("/cloudsql/my-project:europe-west1:auth-db")
    );
    assert_eq!(options.get_username(), "auth");
    assert_eq!(options.get_database(), Some("auth"));
    // The form deploy.sh used to store, refused at start.
    assert!(
        PgConnectOptions::from_str("postgres://auth:pw@/auth?host=/cloudsql/p:r:auth-db").is_err()
    );
}

/// Every `gcloud` command the documentation gives (a `\`-continued command
/// read as one line), with the file it is in.
fn documented_gcloud_commands() -> Vec<(String, String)> {
    let mut files = vec![root().join("README.md"), root().join("deploy/README.md")];
    let mut dirs = vec![root().join("docs"), root().join("examples")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    let mut commands = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut joined = String::new();
        for line in text.lines() {
            match line.trim_end().strip_suffix('\\') {
                Some(head) => joined.push_str(head),
                None => {
                    joined.push_str(line);
                    let name = file.strip_prefix(root()).unwrap().display().to_string();
                    if joined.contains("gcloud ") {
                        commands.push((name, std::mem::take(&mut joined)));
                    }
                    joined.clear();
                }
            }
        }
    }
    commands
}

#[test]
fn the_documented_broker_token_is_one_gcloud_gives() {
    // Without --include-email the token has no e-mail and the broker answers
    // 401; gcloud 528 refuses --include-email for a user account and for a
    // service-account key ("Requires an impersonate service account"):
    // https://cloud.google.com/sdk/gcloud/reference/auth/print-identity-token
    let mut seen = 0;
    for (file, command) in documented_gcloud_commands() {
        if command.contains("gcloud auth print-identity-token") {
            seen += 1;
            assert!(
                command.contains("--include-email")
                    && command.contains("--audiences=")
                    && command.contains("--impersonate-service-account="),
                "{file}: {command}"
            );
        }
    }
    assert!(seen >= 2, "the broker examples were not found");
}

#[test]
fn documented_cloud_tasks_commands_name_their_location() {
    // Without --location, gcloud 528 takes the App Engine app's region, and
    // in a project without an app stops: "Please use the location flag to
    // manually specify a location."
    let mut seen = 0;
    for (file, command) in documented_gcloud_commands() {
        if command.contains("gcloud tasks ") {
            seen += 1;
            assert!(command.contains("--location"), "{file}: {command}");
        }
    }
    assert!(seen >= 1, "the Cloud Tasks example was not found");
}

/// The number of trusted hops the recipe gives for `delivery`'s paragraph
/// of deploy/README.md (`**TRUSTED_PROXY_HOPS=N**` or `TRUSTED_PROXY_HOPS=N`).
fn recipe_hops(paragraph_start: &str) -> usize {
    let readme = std::fs::read_to_string(root().join("deploy/README.md")).unwrap();
    let start = readme
        .find(paragraph_start)
        .unwrap_or_else(|| panic!("deploy/README.md has no {paragraph_start:?}"));
    let rest = &readme[start..];
    let at = rest
        .find("TRUSTED_PROXY_HOPS=")
        .expect("the recipe names the hops")
        + 19;
    rest[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// Who the rate limiter takes for the client of a request whose
/// `X-Forwarded-For` is `forwarded`, with `hops` trusted proxies.
fn client_seen(hops: usize, forwarded: &str) -> std::net::IpAddr {
    let limiter = service_kit::rate_limit::RateLimiter::new(
        "recipe",
        service_kit::rate_limit::Limit {
            per_minute: 60,
            burst: 30,
        },
        hops,
    );
    let req = actix_web::test::TestRequest::default()
        .peer_addr("169.254.1.1:40000".parse().unwrap())
        .insert_header(("x-forwarded-for", forwarded))
        .to_http_request();
    limiter.client(&req).unwrap()
}

#[test]
fn each_recipes_trusted_hops_find_the_client_behind_googles_front_ends() {
    // Cloud Run's front end appends the address it saw the client at
    // (https://cloud.google.com/run/docs/container-contract#request-headers);
    // the external Application Load Balancer appends `<client-ip>,<lb-ip>`
    // (https://cloud.google.com/load-balancing/docs/https#x-forwarded-for_header).
    // Whatever the client sent itself comes first and must not count.
    let forged = "6.6.6.6";
    let client: std::net::IpAddr = "203.0.113.9".parse().unwrap();
    let direct = recipe_hops("**Separate sites**");
    assert_eq!(client_seen(direct, &format!("{forged}, {client}")), client);
    let behind_lb = recipe_hops("**Shared parent domain**");
    let via_lb = format!("{forged}, {client}, 34.120.0.1");
    assert_eq!(client_seen(behind_lb, &via_lb), client);
    assert_ne!(
        client_seen(1, &via_lb),
        client,
        "one hop behind the load balancer puts every client in the load balancer's bucket"
    );
}

/// Runs `binary` with exactly `env` and returns what it said (stdout and
/// stderr) when it exits, or panics if it is still running after 20 s.
fn refusal_at_start(binary: &str, env: &BTreeMap<String, String>, what: &str) -> String {
    let mut child = Command::new(binary)
        .env_clear()
        .envs(env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the service binary runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the service started with {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let output = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!status.success(), "{what}: {said}");
    assert_eq!(
        said.trim_end().lines().count(),
        1,
        "{what}: one line: {said}"
    );
    said
}

/// A service's settings reader.
type Parse = dyn Fn(&Env) -> Result<(), service_kit::config::ConfigError>;

/// Where a service takes keys from or sends credentials to must be `https`
/// (plain `http` only to loopback). Each service binary, given its
/// deployment's settings with one URL setting turned into plain `http` to
/// another host, refuses to start and names the setting; with `http` to
/// loopback the settings still parse (local development). The settings
/// are the ones each service reads through its URL readers, so one added
/// later is covered without being listed here (the services' unit tests
/// list them and check every refusal).
#[test]
fn each_service_refuses_to_start_with_a_plain_http_url_off_loopback() {
    let services: [(&str, &str, &Parse); 2] = [
        (
            env!("CARGO_BIN_EXE_public-service-under-test"),
            "public-service.yaml",
            &|env| public_service::settings::Settings::from_env(env).map(|_| ()),
        ),
        (
            env!("CARGO_BIN_EXE_private-service-under-test"),
            "private-service.yaml",
            &|env| private_service::settings::Settings::from_env(env).map(|_| ()),
        ),
    ];
    for (binary, file, parse) in services {
        let (set, _) = environment(file);
        let env = Env::from_map(set.clone());
        parse(&env).unwrap_or_else(|e| panic!("{file}: {e}"));
        let names = env.url_names_read();
        assert!(names.len() >= 3, "{file}: {names:?}");
        for name in names {
            // Other settings that name this one's value (an app's service
            // account names its origin) follow it.
            let original = set.get(&name).cloned();
            let with = |value: &str| {
                let mut set = set.clone();
                if let Some(original) = &original {
                    for v in set.values_mut() {
                        *v = v.replace(original.as_str(), value);
                    }
                }
                set.insert(name.clone(), value.to_owned());
                set
            };
            let what = format!("{file}: {name}=http://example.net");
            let said = refusal_at_start(binary, &with("http://example.net"), &what);
            assert!(
                said.contains(&format!("{name}: ")) && said.contains("must be an https URL"),
                "{what}: the refusal does not name it: {said}"
            );
            // Loopback over plain http stays possible.
            if let Err(e) = parse(&Env::from_map(with("http://127.0.0.1:8080"))) {
                panic!("{file}: {name} to loopback over http refused: {e}");
            }
        }
    }
}

/// Two apps on the public service's host with cookie delivery and no
/// parent domain would share one `__Host-handoff` cookie (browsers keep
/// cookies per host, not per port): the binary refuses to start, in one
/// line naming `APP_ORIGINS`.
#[test]
fn the_public_service_refuses_to_start_with_two_apps_on_one_host_only_cookie() {
    let (mut set, _) = environment("public-service.yaml");
    let host = url::Url::parse(&set["PUBLIC_URL"])
        .unwrap()
        .host_str()
        .unwrap()
        .to_owned();
    set.insert("HANDOFF_DELIVERY".into(), "cookie".into());
    set.remove("HANDOFF_COOKIE_DOMAIN");
    set.remove("APP_SERVICE_ACCOUNTS");
    set.insert(
        "APP_ORIGINS".into(),
        format!("https://{host}:8443,https://{host}:9443"),
    );
    let said = refusal_at_start(
        env!("CARGO_BIN_EXE_public-service-under-test"),
        &set,
        "two apps on one host",
    );
    assert!(
        said.contains("APP_ORIGINS: ") && said.contains(&format!("are on one host, {host}")),
        "{said}"
    );

    // One app there is the one-host setup, and starts.
    set.insert("APP_ORIGINS".into(), format!("https://{host}:8443"));
    public_service::settings::Settings::from_env(&Env::from_map(set)).unwrap();
}

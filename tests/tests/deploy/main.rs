//! The Cloud Run service definitions in `deploy/` against the code: every
//! variable they set is one the service reads, and with the values they
//! give (placeholders filled, secrets stood in for) the service's settings
//! parse, so nothing required is missing.

use std::collections::BTreeMap;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use shared::config::Env;
use yaml_rust2::{Yaml, YamlLoader};

/// Values `deploy.sh` substitutes, as a deployment would have them.
fn placeholder(name: &str) -> String {
    match name {
        "PROJECT_ID" => "my-project".into(),
        "REGION" => "europe-west1".into(),
        "IMAGE" => "europe-west1-docker.pkg.dev/my-project/auth/image:1".into(),
        "PUBLIC_URL" => "https://auth-abc123-ew.a.run.app".into(),
        "APP_URL" => "https://app-abc123-ew.a.run.app".into(),
        "APP_SERVICE_ACCOUNT" => "app-service@my-project.iam.gserviceaccount.com".into(),
        "OIDC_CLIENT_ID" => "123-abc.apps.googleusercontent.com".into(),
        "ALLOWED_DOMAINS" => "example.com".into(),
        "BROKER_CALLERS" | "TASK_CALLERS" => "jobs@my-project.iam.gserviceaccount.com".into(),
        "EXTENSION_CLIENT_ID" => "456-ext.apps.googleusercontent.com".into(),
        "EXTENSION_ORIGIN" => "chrome-extension://abcdefghijklmnopabcdefghijklmnop".into(),
        other => panic!("deploy.sh does not fill ${{{other}}}"),
    }
}

fn fill(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closed placeholder") + start;
        out.push_str(&placeholder(&rest[start + 2..end]));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A value of the right shape for each Secret Manager secret.
fn secret(name: &str) -> String {
    match name {
        "SIGNING_KEY" | "PREVIOUS_SIGNING_KEYS" => integration_tests::tokens::new_p256_pem(),
        "COOKIE_SECRET" => STANDARD.encode([7u8; 48]),
        "TOKEN_ENCRYPTION_KEYS" => format!("k1:{}", STANDARD.encode([9u8; 32])),
        "DATABASE_URL" => "postgres://auth:pw@/auth?host=/cloudsql/p:r:auth-db".into(),
        "OIDC_CLIENT_SECRET" => "a-client-secret".into(),
        other => panic!("no stand-in for the secret {other}"),
    }
}

/// The environment a service definition gives its container.
fn environment(file: &str) -> (BTreeMap<String, String>, Yaml) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let doc = YamlLoader::load_from_str(&text).unwrap().remove(0);
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
        let value = match var["value"].as_str() {
            Some(value) => fill(value),
            None => {
                let reference = &var["valueFrom"]["secretKeyRef"];
                assert!(
                    reference["name"].as_str().is_some(),
                    "{name}: a value or a secret"
                );
                secret(&name)
            }
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
    shared::telemetry::LogSettings::from_env(&env, "info").unwrap();
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
    shared::telemetry::LogSettings::from_env(&env, "info").unwrap();
    if let Err(e) = private_service::settings::Settings::from_env(&env) {
        panic!("{file} leaves the app unable to start: {e}");
    }
    assert_all_read(file, &set, &env);
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
    // Cargo refuses to build the dependency layer if a member's manifest is
    // missing, so a new member must be added to the Dockerfile, the stub
    // script and the host check.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |file: &str| std::fs::read_to_string(root.join(file)).unwrap();
    let workspace = read("Cargo.toml");
    let members_line = workspace
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("a members line");
    let members: Vec<&str> = members_line.split('"').skip(1).step_by(2).collect();
    assert!(members.len() >= 6, "{members:?}");
    let dockerfile = read("deploy/Dockerfile");
    let host_check = read("deploy/check-build.sh");
    for member in members {
        assert!(
            dockerfile.contains(&format!("COPY {member}/Cargo.toml {member}/")),
            "deploy/Dockerfile does not copy {member}/Cargo.toml"
        );
        assert!(
            host_check.contains(&format!(" {member}")),
            "deploy/check-build.sh does not copy {member}/Cargo.toml"
        );
    }
}

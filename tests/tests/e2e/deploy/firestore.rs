//! `deploy/public-service.yaml` as `deploy.sh` renders it for Firestore,
//! its default store: the database URL a plain variable, and nothing of
//! Cloud SQL (no URL secret, no socket mount, no pool sized to a tier).

use std::collections::BTreeMap;

use service_kit::config::Env;
use yaml_rust2::{Yaml, YamlLoader};

use super::{cloud_run_rules, render_with, root, secret, DEPLOY_ENV};

/// DEPLOY_ENV as deploy.sh exports it with its default store: no database
/// URL secret, and FIRESTORE_URL for the (default) database.
fn firestore_env() -> Vec<(&'static str, &'static str)> {
    let mut env: Vec<_> = DEPLOY_ENV
        .iter()
        .copied()
        .filter(|(name, _)| !matches!(*name, "STORE" | "SECRET_VERSION_DATABASE_URL"))
        .collect();
    env.push(("STORE", "firestore"));
    env.push(("FIRESTORE_URL", "firestore://my-project"));
    env
}

fn rendered() -> Yaml {
    let text = render_with("public-service.yaml", &firestore_env())
        .unwrap_or_else(|e| panic!("public-service.yaml for Firestore: {e}"));
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

#[test]
fn with_firestore_the_public_service_gets_a_plain_url_and_nothing_of_cloud_sql() {
    let doc = rendered();
    let template = &doc["spec"]["template"];
    let annotations = template["metadata"]["annotations"].as_hash().unwrap();
    assert!(
        !annotations
            .keys()
            .any(|k| k.as_str() == Some("run.googleapis.com/cloudsql-instances")),
        "a Cloud SQL socket mount for Firestore"
    );
    let container = &template["spec"]["containers"][0];
    let env = container["env"].as_vec().unwrap();
    let named = |name: &str| {
        env.iter()
            .filter(|v| v["name"].as_str() == Some(name))
            .collect::<Vec<_>>()
    };
    let url = named("DATABASE_URL");
    assert_eq!(url.len(), 1, "DATABASE_URL set once");
    assert_eq!(url[0]["value"].as_str(), Some("firestore://my-project"));
    assert!(url[0]["valueFrom"].is_badvalue(), "the URL is no secret");
    assert!(named("DATABASE_MAX_CONNECTIONS").is_empty());
    assert!(
        !env.iter()
            .any(|v| v["valueFrom"]["secretKeyRef"]["name"].as_str() == Some("database-url")),
        "the database-url secret is Cloud SQL's"
    );
    // Every other secret is still there.
    for name in [
        "OIDC_CLIENT_SECRET",
        "SIGNING_KEY",
        "COOKIE_SECRET",
        "TOKEN_ENCRYPTION_KEYS",
    ] {
        assert_eq!(named(name).len(), 1, "{name}");
    }
    let violations = cloud_run_rules::violations(&doc);
    assert!(violations.is_empty(), "{violations:?}");
}

/// The service's settings take the rendered environment once the service
/// has a Firestore store (a `firestore://` URL); until then the URL is
/// refused at start, and this says so rather than pass.
#[test]
fn with_firestore_the_rendered_environment_is_one_the_service_starts_with() {
    let doc = rendered();
    let container = &doc["spec"]["template"]["spec"]["containers"][0];
    let mut set = BTreeMap::new();
    for var in container["env"].as_vec().unwrap() {
        let name = var["name"].as_str().unwrap().to_owned();
        let value = match &var["value"] {
            Yaml::String(value) => value.clone(),
            Yaml::Null => String::new(),
            _ => secret(&name),
        };
        set.insert(name, value);
    }
    let knows_firestore = std::fs::read_dir(root().join("public-service/src/settings"))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .any(|text| text.contains("firestore://"));
    let settings = public_service::settings::Settings::from_env(&Env::from_map(set));
    match settings {
        Ok(_) => {}
        Err(e) if !knows_firestore => integration_tests::skipped(format_args!(
            "the public service has no Firestore store in this build (its settings refuse {}: {e})",
            "firestore://my-project"
        )),
        Err(e) => panic!("the Firestore rendering leaves the service unable to start: {e}"),
    }
}

#[test]
fn rendering_names_a_store_it_does_not_know_and_an_unclosed_block() {
    let mut env = firestore_env();
    env.retain(|(name, _)| *name != "STORE");
    env.push(("STORE", "postgres"));
    let error = render_with("public-service.yaml", &env).unwrap_err();
    assert!(
        error.contains("STORE must be firestore or cloudsql"),
        "render.sh said: {error}"
    );
    // The Cloud SQL lines need their own variable; Firestore's need FIRESTORE_URL.
    let mut without_url = firestore_env();
    without_url.retain(|(name, _)| *name != "FIRESTORE_URL");
    let error = render_with("public-service.yaml", &without_url).unwrap_err();
    assert!(error.contains("FIRESTORE_URL"), "render.sh said: {error}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.yaml");
    std::fs::write(&file, "a: 1\n#if STORE=cloudsql\nb: 2\n").unwrap();
    let output = std::process::Command::new("bash")
        .arg(root().join("deploy/render.sh"))
        .arg(&file)
        .env("STORE", "firestore")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("#if without #endif"),
        "{output:?}"
    );
}

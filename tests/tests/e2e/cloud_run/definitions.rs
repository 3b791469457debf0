//! The definitions against Cloud Run's documented constraints, and the
//! emulator's control API, without deploying anything that needs a
//! database.

use std::io::BufRead;
use std::sync::Arc;

use integration_tests::cloud_run::plan::ProbeAction;
use integration_tests::cloud_run::runtime::HostBinaries;
use integration_tests::cloud_run::{api, deploy_sh, spec, validate, Config, Emulator};
use yaml_rust2::Yaml;

use super::support::with_startup;

/// `deploy.sh`'s variables as a second pass has them.
fn vars(image: &str) -> Vec<(String, String)> {
    [
        ("PROJECT_ID", "my-project"),
        ("REGION", "europe-west1"),
        ("IMAGE", image),
        ("PUBLIC_URL", "https://auth-abc123-ew.a.run.app"),
        ("APP_URL", "https://app-abc123-ew.a.run.app"),
        (
            "APP_SERVICE_ACCOUNT",
            "app-service@my-project.iam.gserviceaccount.com",
        ),
        ("OIDC_CLIENT_ID", "123-abc.apps.googleusercontent.com"),
        ("ALLOWED_DOMAINS", "example.com"),
        ("ALLOWED_HOSTED_DOMAINS", ""),
        ("ALLOWED_EMAILS", ""),
        ("BROKER_CALLERS", ""),
        ("BROKER_CALLER_SCOPES", ""),
        ("TASK_CALLERS", ""),
        ("EXTENSION_CLIENT_ID", "unused.apps.googleusercontent.com"),
        ("EXTENSION_ORIGIN", ""),
        (
            "APP_IMAGE",
            "europe-west1-docker.pkg.dev/my-project/apps/web:1",
        ),
        ("APP_PORT", "8080"),
        (
            "GATE_IMAGE",
            "europe-west1-docker.pkg.dev/my-project/auth/handoff-gate:abc123",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain(std::env::var("PATH").ok().map(|p| ("PATH".to_owned(), p)))
    .chain(
        deploy_sh::secret_names()
            .unwrap_or_default()
            .iter()
            .map(|n| (deploy_sh::version_variable(n), "1".to_owned())),
    )
    .collect()
}

pub(super) fn rendered(file: &str, binary: &str) -> String {
    let image = format!("europe-west1-docker.pkg.dev/my-project/auth/{binary}:abc123");
    deploy_sh::render(file, &vars(&image)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_rendered_definitions_meet_cloud_runs_documented_constraints() {
    for (file, binary) in [
        ("public-service.yaml", "public-service"),
        ("private-service.yaml", "private-service"),
        ("gated-service.yaml", "handoff-gate"),
    ] {
        let yaml = rendered(file, binary);
        let plan = spec::parse(&yaml)
            .and_then(|s| validate::validate(&s))
            .unwrap_or_else(|e| panic!("Cloud Run would refuse deploy/{file}: {e}"));
        assert!(
            matches!(plan.startup.action, ProbeAction::HttpGet { .. }),
            "deploy/{file}: the startup probe should check readiness over HTTP, not only the port"
        );
        assert!(plan.liveness.is_some(), "deploy/{file}: a liveness probe");
    }
    // The gated service: the gate takes the requests, once the app (a
    // sidecar on localhost) has passed its startup probe.
    let plan = spec::parse(&rendered("gated-service.yaml", "handoff-gate"))
        .and_then(|s| validate::validate(&s))
        .unwrap();
    assert_eq!(plan.ingress_name.as_deref(), Some("gate"));
    assert_eq!(plan.ingress_depends_on, ["app"]);
    let [app] = plan.sidecars.as_slice() else {
        panic!("one sidecar: {:?}", plan.sidecars)
    };
    assert_eq!(
        app.image,
        "europe-west1-docker.pkg.dev/my-project/apps/web:1"
    );
    assert_eq!(app.probe_port, 8080);
    assert!(
        app.startup.is_some(),
        "the app's readiness is what the gate waits for"
    );
}

fn emulator(state: &std::path::Path) -> Arc<Emulator> {
    Emulator::new(Config {
        state: state.to_owned(),
        runtime: Arc::new(HostBinaries {
            dir: state.to_owned(),
        }),
        overlay: Vec::new(),
        cloudsql: None,
    })
}

#[tokio::test]
async fn the_control_api_refuses_a_probe_whose_timeout_exceeds_its_period() {
    let state = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (handle, _) = api::serve(listener, emulator(state.path())).unwrap();
    let yaml = rendered("public-service.yaml", "public-service");
    let yaml = with_startup(
        &with_startup(&yaml, "periodSeconds", Yaml::Integer(2)),
        "timeoutSeconds",
        Yaml::Integer(3),
    );
    let client = reqwest::Client::new();
    let answer = client
        .put(format!("{base}/v1/services/auth"))
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let body: serde_json::Value = answer.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains(
            "startupProbe.timeoutSeconds: must be less than or equal to periodSeconds (3 > 2)"
        ),
        "{error}"
    );

    let missing = client
        .get(format!("{base}/v1/services/auth"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404, "nothing was created");
    let list: serde_json::Value = client
        .get(format!("{base}/v1/services"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["services"], serde_json::json!([]));
    handle.stop(true).await;
}

#[tokio::test]
async fn the_emulator_binary_prints_its_address_first_and_stops_on_request() {
    let state = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cloud-run-emulator"))
        .arg("--state")
        .arg(state.path())
        .arg("--binaries")
        .arg(state.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{first:?}"))
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let client = reqwest::Client::new();
    let image = "europe-west1-docker.pkg.dev/p/auth/no-such-binary:1";
    let yaml = rendered("private-service.yaml", "private-service").replace(
        "europe-west1-docker.pkg.dev/my-project/auth/private-service:abc123",
        image,
    );
    let answer = client
        .put(format!("{base}/v1/services/app"))
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400, "an image that is not there");
    let stop = client
        .post(format!("{base}/v1/shutdown"))
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), 200);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

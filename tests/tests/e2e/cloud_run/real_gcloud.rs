//! Google's own `gcloud` (the Cloud SDK) takes each rendered definition:
//! `gcloud run services replace` reads the YAML into the Knative Service
//! message client-side, refusing a field it does not know or a value of
//! the wrong type, then calls Cloud Run's API. Here that API is a stand-in
//! on loopback, reached the way gcloud reaches any endpoint through a
//! proxy (the `api_endpoint_overrides/run` and `proxy/*` properties, set
//! as `CLOUDSDK_*` variables,
//! <https://cloud.google.com/sdk/gcloud/reference/topic/configurations>):
//! it records what gcloud sends and answers Ready. What gcloud sends is
//! then checked against the emulator's rules, so a definition passes both
//! Google's client and the documented contract.
//!
//! Needs `gcloud` on `PATH` (the machine's Debian package
//! google-cloud-cli); without it the test is skipped, and with
//! `REAL_GCLOUD_REQUIRED=1` (`.ci/run` sets it) it fails instead.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};

use integration_tests::cloud_run::{spec, validate};

use super::definitions::rendered;

/// Requests gcloud made: (method, path, body).
type Received = Arc<Mutex<Vec<(String, String, String)>>>;

/// Cloud Run's Knative API as far as `services replace` uses it: a GET
/// (404 until created), then a POST (create) or PUT (replace), answered
/// with the service as sent and a Ready status.
fn knative_stand_in() -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let received: Received = Arc::default();
    let record = received.clone();
    std::thread::spawn(move || {
        let mut services = std::collections::HashMap::new();
        for stream in listener.incoming().map_while(Result::ok) {
            answer(stream, &record, &mut services);
        }
    });
    (addr, received)
}

fn answer(
    stream: TcpStream,
    received: &Received,
    services: &mut std::collections::HashMap<String, serde_json::Value>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    reader.read_line(&mut request).unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = n.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut words = request.split_whitespace();
    let (method, target) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    // Through a proxy the target is absolute: http://REGION-HOST/apis/…
    let path = url::Url::parse(target)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| target.to_owned());
    received
        .lock()
        .unwrap()
        .push((method.to_owned(), path.clone(), body.clone()));
    let name = path.rsplit('/').next().unwrap_or_default().to_owned();
    let (status, reply) = match method {
        "GET" => match services.get(&name) {
            Some(service) => (200, service.clone()),
            None => (
                404,
                serde_json::json!({"error": {"code": 404, "status": "NOT_FOUND",
                    "message": format!("Resource '{name}' of kind 'SERVICE' does not exist.")}}),
            ),
        },
        _ => {
            let mut service: serde_json::Value = serde_json::from_str(&body).unwrap();
            let name = service["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let revision = format!("{name}-00001-abc");
            service["metadata"]["generation"] = 1.into();
            service["status"] = serde_json::json!({
                "observedGeneration": 1,
                "url": format!("https://{name}-abc123-ew.a.run.app"),
                "latestCreatedRevisionName": revision,
                "latestReadyRevisionName": revision,
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "ConfigurationsReady", "status": "True"},
                    {"type": "RoutesReady", "status": "True"}
                ],
                "traffic": [{"revisionName": revision, "percent": 100, "latestRevision": true}]
            });
            services.insert(name, service.clone());
            (200, service)
        }
    };
    let text = reply.to_string();
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

/// `gcloud run services replace FILE` against the stand-in at `addr`.
fn replace(addr: SocketAddr, config: &std::path::Path, yaml: &str) -> std::process::Output {
    let file = config.join("service.yaml");
    std::fs::write(&file, yaml).unwrap();
    let token = config.join("token");
    std::fs::write(&token, "rehearsal-token").unwrap();
    Command::new("gcloud")
        .args(["run", "services", "replace"])
        .arg(&file)
        .args([
            "--region",
            "europe-west1",
            "--project",
            "my-project",
            "--quiet",
        ])
        .env("CLOUDSDK_CONFIG", config)
        .env(
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN",
            "http://run.rehearsal.invalid/",
        )
        .env("CLOUDSDK_PROXY_TYPE", "http")
        .env("CLOUDSDK_PROXY_ADDRESS", addr.ip().to_string())
        .env("CLOUDSDK_PROXY_PORT", addr.port().to_string())
        .env("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", &token)
        .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
        .env("CLOUDSDK_CORE_DISABLE_USAGE_REPORTING", "true")
        .env("CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK", "true")
        .output()
        .expect("gcloud runs")
}

pub(super) fn gcloud_available() -> bool {
    let found = Command::new("gcloud")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let reason = "gcloud (the Cloud SDK, Debian package google-cloud-cli) is not installed";
        if std::env::var("REAL_GCLOUD_REQUIRED").as_deref() == Ok("1") {
            panic!("REAL_GCLOUD_REQUIRED=1, but {reason}");
        }
        integration_tests::skipped(format_args!("{reason}"));
    }
    found
}

#[test]
fn the_real_gcloud_accepts_every_rendered_definition_and_sends_what_the_rules_allow() {
    if !gcloud_available() {
        return;
    }
    let (addr, received) = knative_stand_in();
    let config = tempfile::tempdir().unwrap();
    for (file, binary, containers) in [
        ("public-service.yaml", "public-service", 1),
        ("private-service.yaml", "private-service", 1),
        ("gated-service.yaml", "handoff-gate", 2),
    ] {
        let out = replace(addr, config.path(), &rendered(file, binary));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "gcloud refused deploy/{file}: {stderr}"
        );
        let sent = received
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(method, ..)| method == "POST" || method == "PUT")
            .map(|(_, path, body)| (path.clone(), body.clone()))
            .unwrap_or_else(|| panic!("gcloud sent no service for deploy/{file}: {stderr}"));
        assert!(
            sent.0
                .starts_with("/apis/serving.knative.dev/v1/namespaces/my-project/services"),
            "{}",
            sent.0
        );
        // JSON is YAML: the emulator reads what gcloud sent as it reads a file.
        let spec = spec::parse(&sent.1).unwrap();
        assert_eq!(spec.containers.len(), containers, "deploy/{file}");
        let plan = validate::validate(&spec)
            .unwrap_or_else(|e| panic!("deploy/{file} as gcloud sends it: {e}"));
        if containers == 2 {
            assert_eq!(plan.ingress_name.as_deref(), Some("gate"));
            assert_eq!(plan.ingress_depends_on, ["app"]);
        }
    }

    // gcloud itself refuses what is not a Knative Service, before any call:
    // a misspelt field, and the dependencies annotation as a mapping
    // rather than the JSON string Cloud Run takes.
    let gated = rendered("gated-service.yaml", "handoff-gate");
    let calls = received.lock().unwrap().len();
    for (broken, expected) in [
        (
            gated.replacen("containerPort:", "containerPorts:", 1),
            "containerPorts",
        ),
        (
            gated.replace(
                "run.googleapis.com/container-dependencies: '{\"gate\":[\"app\"]}'",
                "run.googleapis.com/container-dependencies: {\"gate\": [\"app\"]}",
            ),
            "Expected type <class 'str'>",
        ),
    ] {
        let out = replace(addr, config.path(), &broken);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "gcloud took a broken definition");
        assert!(stderr.contains(expected), "{stderr}");
    }
    assert_eq!(
        received.lock().unwrap().len(),
        calls,
        "gcloud called the API with a definition it refuses"
    );
}

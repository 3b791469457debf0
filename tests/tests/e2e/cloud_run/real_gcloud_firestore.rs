//! Google's own `gcloud` takes the Firestore commands `deploy/deploy.sh`
//! runs (the database, its TTL policies, the API, the public service's
//! role), and sends what the Firestore Admin, Service Usage and Resource
//! Manager APIs document. The APIs are one listener on loopback that
//! records each request and answers as the API would, reached through
//! gcloud's `api_endpoint_overrides/*` properties (set as `CLOUDSDK_*`
//! variables, <https://cloud.google.com/sdk/gcloud/reference/topic/configurations>)
//! with an access token from a file, so nothing leaves the machine. What
//! gcloud refuses itself (an unknown flag, a missing required one, a choice
//! it does not offer) it refuses before any call; the stand-in `gcloud` of
//! the rehearsal refuses the same (`deploy_script::` tests).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::real_gcloud::gcloud_available;

/// Requests gcloud made: (method, path with query, body).
type Received = Arc<Mutex<Vec<(String, String, String)>>>;

const PROJECT: &str = "my-project";

/// The APIs as far as deploy.sh's commands use them. Databases created by
/// a POST exist for the GETs after it; every operation is answered done.
fn apis() -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let received: Received = Arc::default();
    let record = received.clone();
    std::thread::spawn(move || {
        let mut databases: Vec<String> = Vec::new();
        for stream in listener.incoming().map_while(Result::ok) {
            serve(stream, &record, &mut databases);
        }
    });
    (addr, received)
}

fn serve(stream: TcpStream, received: &Received, databases: &mut Vec<String>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = n.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut words = request.split_whitespace();
    let method = words.next().unwrap_or_default().to_owned();
    let target = words.next().unwrap_or_default();
    let target = target.replace("%28", "(").replace("%29", ")");
    received
        .lock()
        .unwrap()
        .push((method.clone(), target.clone(), body.clone()));
    let path = target.split('?').next().unwrap_or_default();
    let (status, reply) = route(&method, path, &target, &body, databases);
    let text = reply.to_string();
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn error(code: u16, status: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"error": {"code": code, "status": status, "message": message}}),
    )
}

fn route(
    method: &str,
    path: &str,
    target: &str,
    body: &str,
    databases: &mut Vec<String>,
) -> (u16, Value) {
    let prefix = format!("/v1/projects/{PROJECT}/databases");
    let done = |response: Value| json!({"name": "operations/rehearsal", "done": true, "response": response});
    match method {
        // services enable: Service Usage's enable, an operation.
        "POST" if path.ends_with(":enable") || path.ends_with(":batchEnable") => (
            200,
            done(
                json!({"@type": "type.googleapis.com/google.api.serviceusage.v1.EnableServiceResponse"}),
            ),
        ),
        // projects add-iam-policy-binding: read the policy, write it back.
        "POST" if path.ends_with(":getIamPolicy") => (
            200,
            json!({"version": 1, "etag": "BwYAAAAAAAA=", "bindings": []}),
        ),
        "POST" if path.ends_with(":setIamPolicy") => {
            let sent: Value = serde_json::from_str(body).unwrap_or_default();
            (200, sent["policy"].clone())
        }
        "POST" if path == prefix => {
            let id = target
                .split("databaseId=")
                .nth(1)
                .and_then(|rest| rest.split('&').next())
                .unwrap_or("(default)")
                .to_owned();
            if databases.contains(&id) {
                return error(
                    409,
                    "ALREADY_EXISTS",
                    "Database already exists. Please use another database_id",
                );
            }
            databases.push(id.clone());
            (
                200,
                json!({"name": format!("projects/{PROJECT}/databases/{id}/operations/create"),
                       "metadata": {"@type": "type.googleapis.com/google.firestore.admin.v1.CreateDatabaseMetadata"},
                       "done": false}),
            )
        }
        "GET" if path.starts_with(&prefix) && path.contains("/fields") => (200, json!({})),
        "GET" if path.starts_with(&prefix) => {
            let id = path[prefix.len()..].trim_start_matches('/');
            if databases.iter().any(|d| d == id) {
                (
                    200,
                    json!({"name": format!("projects/{PROJECT}/databases/{id}"),
                           "type": "FIRESTORE_NATIVE", "locationId": "europe-west1"}),
                )
            } else {
                error(
                    404,
                    "NOT_FOUND",
                    &format!("The database {id} does not exist for project {PROJECT}"),
                )
            }
        }
        "PATCH" if path.starts_with(&prefix) => (
            200,
            json!({"name": format!("projects/{PROJECT}/databases/(default)/operations/ttl"),
                   "done": false}),
        ),
        _ => error(404, "NOT_FOUND", "not a call deploy.sh makes"),
    }
}

/// Google's gcloud with `args`, its APIs at `addr`.
fn gcloud(addr: SocketAddr, config: &std::path::Path, args: &[&str]) -> Output {
    let token = config.join("token");
    std::fs::write(&token, "rehearsal-token").unwrap();
    let endpoint = format!("http://{addr}/");
    Command::new("gcloud")
        .args(args)
        .args(["--project", PROJECT, "--quiet"])
        .env("CLOUDSDK_CONFIG", config)
        .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_FIRESTORE", &endpoint)
        .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_SERVICEUSAGE", &endpoint)
        .env(
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER",
            &endpoint,
        )
        .env("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", &token)
        .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
        .env("CLOUDSDK_CORE_DISABLE_USAGE_REPORTING", "true")
        .env("CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK", "true")
        .output()
        .expect("gcloud runs")
}

/// Each `gcloud firestore …` command of deploy.sh (continuation lines
/// joined): its command words and the flags it passes.
fn deploy_sh_firestore_commands() -> Vec<(String, Vec<String>)> {
    let script = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/deploy.sh"),
    )
    .unwrap();
    let joined = script.replace("\\\n", " ");
    joined
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| {
            let at = line.find("gcloud firestore ")?;
            let words: Vec<&str> = line[at..].split_whitespace().collect();
            let command = words
                .iter()
                .skip(2)
                .take_while(|w| !w.starts_with('-') && !w.starts_with('"'))
                .take(4)
                .copied()
                .filter(|w| *w != "delete_after")
                .collect::<Vec<_>>()
                .join(" ");
            let mut flags: Vec<String> = words
                .iter()
                .take_while(|w| !matches!(**w, "|" | ">/dev/null" | "2>/dev/null" | "||"))
                .filter(|w| w.starts_with("--"))
                .map(|w| w.split('=').next().unwrap().to_owned())
                .collect();
            flags.sort();
            Some((command, flags))
        })
        .collect()
}

#[test]
fn the_real_gcloud_takes_deploy_sh_firestore_commands_and_sends_what_the_apis_document() {
    if !gcloud_available() {
        return;
    }
    let (addr, received) = apis();
    let config = tempfile::tempdir().unwrap();
    let sent_by = |args: &[&str]| {
        let before = received.lock().unwrap().len();
        let out = gcloud(addr, config.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "gcloud refused {args:?}: {stderr}");
        received.lock().unwrap()[before..].to_vec()
    };

    // The commands exactly as deploy.sh runs them (the flags are checked
    // against the script below).
    let account = format!("serviceAccount:auth-service@{PROJECT}.iam.gserviceaccount.com");
    let runs: Vec<(&str, Vec<&str>)> = vec![
        (
            "services enable",
            vec!["services", "enable", "firestore.googleapis.com"],
        ),
        (
            "projects add-iam-policy-binding",
            vec![
                "projects",
                "add-iam-policy-binding",
                PROJECT,
                "--member",
                account.as_str(),
                "--role",
                "roles/datastore.user",
                "--condition=None",
            ],
        ),
        (
            "firestore databases create",
            vec![
                "firestore",
                "databases",
                "create",
                "--database=(default)",
                "--location=europe-west1",
                "--type=firestore-native",
            ],
        ),
        (
            "firestore databases describe",
            vec![
                "firestore",
                "databases",
                "describe",
                "--database=(default)",
                "--format",
                "value(type)",
            ],
        ),
        (
            "firestore fields ttls list",
            vec![
                "firestore",
                "fields",
                "ttls",
                "list",
                "--database=(default)",
                "--collection-group=sessions",
                "--format",
                "value(name)",
            ],
        ),
        (
            "firestore fields ttls update",
            vec![
                "firestore",
                "fields",
                "ttls",
                "update",
                "delete_after",
                "--database=(default)",
                "--collection-group=sessions",
                "--enable-ttl",
                "--async",
            ],
        ),
    ];
    let mut requests = Vec::new();
    for (name, args) in &runs {
        let sent = sent_by(args);
        assert!(!sent.is_empty(), "{name}: gcloud made no call");
        requests.push((name.to_string(), sent));
    }
    let find = |name: &str, method: &str| -> (String, Value) {
        let (_, sent) = requests.iter().find(|(n, _)| n == name).unwrap();
        let (_, path, body) = sent
            .iter()
            .find(|(m, ..)| m == method)
            .unwrap_or_else(|| panic!("{name}: no {method} in {sent:?}"));
        (
            path.clone(),
            serde_json::from_str(body).unwrap_or(Value::Null),
        )
    };

    // The database: POST projects/P/databases?databaseId=ID with the
    // location and the native type
    // (https://cloud.google.com/firestore/docs/reference/rest/v1/projects.databases/create).
    let (path, body) = find("firestore databases create", "POST");
    assert!(
        path.starts_with(&format!("/v1/projects/{PROJECT}/databases?"))
            && path.contains("databaseId=(default)"),
        "{path}"
    );
    assert_eq!(body["locationId"], "europe-west1", "{body}");
    assert_eq!(body["type"], "FIRESTORE_NATIVE", "{body}");
    let (path, _) = find("firestore databases describe", "GET");
    assert_eq!(
        path.split('?').next(),
        Some(format!("/v1/projects/{PROJECT}/databases/(default)").as_str())
    );
    // TTL: list the fields with a TTL, then PATCH the field's ttlConfig.
    let (path, _) = find("firestore fields ttls list", "GET");
    assert!(
        path.starts_with(&format!(
            "/v1/projects/{PROJECT}/databases/(default)/collectionGroups/sessions/fields"
        )) && path.contains("ttlConfig"),
        "{path}"
    );
    let (path, body) = find("firestore fields ttls update", "PATCH");
    assert!(
        path.starts_with(&format!(
            "/v1/projects/{PROJECT}/databases/(default)/collectionGroups/sessions/fields/delete_after?"
        )) && path.contains("updateMask=ttlConfig"),
        "{path}"
    );
    assert!(body["ttlConfig"].is_object(), "{body}");
    // The role, unconditioned, to the public service's account.
    let (_, sent) = requests
        .iter()
        .find(|(n, _)| n == "projects add-iam-policy-binding")
        .unwrap();
    let body: Value = sent
        .iter()
        .find(|(_, path, _)| path.contains(":setIamPolicy"))
        .map(|(_, _, body)| serde_json::from_str(body).unwrap())
        .unwrap_or_else(|| panic!("no setIamPolicy in {sent:?}"));
    let bindings = body["policy"]["bindings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        bindings.iter().any(|b| b["role"] == "roles/datastore.user"
            && b["members"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m.as_str() == Some(account.as_str())))
            && b.get("condition").is_none()),
        "{body}"
    );

    // deploy.sh passes no flag the commands above do not.
    let tested: Vec<(String, Vec<String>)> = runs
        .iter()
        .filter(|(name, _)| name.starts_with("firestore"))
        .map(|(name, args)| {
            let mut flags: Vec<String> = args
                .iter()
                .filter(|a| a.starts_with("--"))
                .map(|a| a.split('=').next().unwrap().to_owned())
                .collect();
            flags.sort();
            (name.trim_start_matches("firestore ").to_owned(), flags)
        })
        .collect();
    let in_script = deploy_sh_firestore_commands();
    assert!(
        !in_script.is_empty(),
        "deploy.sh runs no gcloud firestore command"
    );
    for (command, flags) in &in_script {
        assert!(
            tested.iter().any(|(c, f)| c == command && f == flags),
            "deploy.sh runs `gcloud firestore {command}` with {flags:?}, which this test does not: {tested:?}"
        );
    }

    // A database that exists already: the API's 409, which gcloud words
    // as a conflict and exits 1 on (the stand-in says the same).
    let again = gcloud(
        addr,
        config.path(),
        &[
            "firestore",
            "databases",
            "create",
            "--location=europe-west1",
        ],
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr)
            .contains("is the subject of a conflict: Database already exists"),
        "{again:?}"
    );

    // What gcloud refuses itself, before any call.
    let calls = received.lock().unwrap().len();
    for (args, expected) in [
        (
            &["firestore", "databases", "create", "--database=auth"][..],
            "--location",
        ),
        (
            &[
                "firestore",
                "databases",
                "create",
                "--location=nam5",
                "--type=native",
            ],
            "Invalid choice",
        ),
        (
            &[
                "firestore",
                "databases",
                "create",
                "--location=nam5",
                "--region=nam5",
            ],
            "unrecognized arguments",
        ),
        (
            &[
                "firestore",
                "fields",
                "ttls",
                "update",
                "delete_after",
                "--collection-group=sessions",
            ],
            "--enable-ttl",
        ),
    ] {
        let out = gcloud(addr, config.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert_eq!(
        received.lock().unwrap().len(),
        calls,
        "gcloud called an API with a command it refuses"
    );
}

//! One empty project: a state directory, the Cloud Run emulator process
//! (`cloud-run-emulator`) the stand-in `gcloud` talks to, the mock provider
//! standing in for Google, and `deploy.sh` run with the stand-ins first on
//! `PATH`, for one store: Firestore (deploy.sh's default), behind which
//! Google's Firestore emulator runs, or Cloud SQL (`STORE=cloudsql`), behind
//! which the stand-in runs a real PostgreSQL.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use integration_tests::cloud_run::firestore::FirestoreEmulator;
use integration_tests::cloud_run::rehearsal::{app_service_account, google_stand_in, GATED_APP};
use mock_provider::MockProvider;
use serde_json::Value;
use tempfile::TempDir;

pub use integration_tests::cloud_run::rehearsal::{CLIENT_ID, PROJECT_ID, REGION};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn stand_ins() -> PathBuf {
    root().join("deploy/rehearsal")
}

fn path_with_stand_ins() -> String {
    format!(
        "{}:{}",
        stand_ins().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The stand-in `gcloud` alone, on the state in `state`.
pub fn gcloud(state: &Path, args: &[&str]) -> Output {
    Command::new(stand_ins().join("gcloud"))
        .args(args)
        .env("GCLOUD_STANDIN_STATE", state)
        .env("GCLOUD_STANDIN_POSTGRES", "0")
        .stdin(Stdio::null())
        .output()
        .expect("the stand-in gcloud runs")
}

/// Whether a call's arguments begin with `prefix`.
pub fn call_is(call: &[String], prefix: &[&str]) -> bool {
    call.len() >= prefix.len() && call.iter().zip(prefix).all(|(a, b)| a == b)
}

/// The finished `deploy.sh` run: whether it succeeded, and what it printed.
pub struct Run {
    pub ok: bool,
    pub output: String,
}

/// What a second run must leave as it was.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    /// Each secret's number of versions.
    pub secret_versions: BTreeMap<String, usize>,
    pub users: Vec<String>,
    /// The Firestore databases with their TTL policies, as the stand-in
    /// keeps them.
    pub firestore: Value,
    pub accounts: Vec<String>,
    /// Each service's serving revision.
    pub revisions: BTreeMap<String, String>,
}

/// Where the public service keeps grants and sessions (deploy.sh's `STORE`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Store {
    Firestore,
    CloudSql,
}

impl Store {
    fn name(self) -> &'static str {
        match self {
            Store::Firestore => "firestore",
            Store::CloudSql => "cloudsql",
        }
    }
}

pub struct Rehearsal {
    pub state: TempDir,
    store: Store,
    emulator: Child,
    // Stopped after the services (fields drop in order).
    _firestore: Option<FirestoreEmulator>,
    emulator_url: String,
    _provider: MockProvider,
    client_secret: String,
    http: reqwest::Client,
}

impl Rehearsal {
    /// A project deployed with deploy.sh's default store, Firestore.
    pub async fn start() -> Self {
        Self::start_with(Store::Firestore).await
    }

    pub async fn start_with(store: Store) -> Self {
        // CLOUD_RUN_BINARIES, or the workspace's debug binaries, as the
        // emulator's own tests find them.
        let binaries = integration_tests::cloud_run::deploy_sh::binaries()
            .unwrap_or_else(|e| panic!("the service binaries: {e}"));
        let state = tempfile::tempdir().unwrap();
        // Google's endpoints, stood in for by the mock provider: the only
        // difference between what the definitions give the containers and
        // what they run with here.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let client_secret = service_kit::random::url_safe_token(24);
        let provider = MockProvider::builder()
            .client(CLIENT_ID, &client_secret, &["http://127.0.0.1/callback"])
            .issuer(&issuer)
            .listener(listener)
            .start()
            .await
            .expect("the mock provider starts");
        let mut overlay = google_stand_in(&issuer, &app_service_account())
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect::<String>();
        // Firestore: the emulator instead of Google's endpoint, as Cloud
        // SQL is a real PostgreSQL on the socket Cloud Run would mount. The
        // variable reaches every container (the overlay, the rehearsal's one
        // deviation); only the public service has a store.
        let firestore = match store {
            Store::Firestore => {
                let emulator = FirestoreEmulator::start()
                    .unwrap_or_else(|e| panic!("the rehearsal's Firestore: {e}"));
                overlay.push_str(&format!("FIRESTORE_EMULATOR_HOST={}\n", emulator.host()));
                Some(emulator)
            }
            Store::CloudSql => None,
        };
        let overlay_file = state.path().join("overlay.env");
        std::fs::write(&overlay_file, overlay).unwrap();

        let mut emulator = Command::new(env!("CARGO_BIN_EXE_cloud-run-emulator"))
            .arg("--state")
            .arg(state.path())
            .arg("--binaries")
            .arg(binaries)
            .arg("--env-overlay")
            .arg(&overlay_file)
            .arg("--cloudsql-dir")
            .arg(state.path().join("cloudsql"))
            // An app image of the operator's, for APP_IMAGE runs.
            .arg("--app")
            .arg(format!(
                "{}={}",
                GATED_APP.0,
                root().join("tests").join(GATED_APP.1).display()
            ))
            .stdout(Stdio::piped())
            .spawn()
            .expect("cloud-run-emulator starts");
        let mut first = String::new();
        BufReader::new(emulator.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let emulator_url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the emulator said {first:?}"))
            .to_owned();
        Self {
            state,
            store,
            emulator,
            _firestore: firestore,
            emulator_url,
            _provider: provider,
            client_secret,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        }
    }

    /// `deploy/deploy.sh` with the stand-ins first on `PATH`, this
    /// project's `STORE`, and `extra`.
    pub fn deploy(&self, extra: &[(&str, &str)]) -> Run {
        let output = Command::new("bash")
            .arg(root().join("deploy/deploy.sh"))
            .env("PATH", path_with_stand_ins())
            .env("GCLOUD_STANDIN_STATE", self.state.path())
            .env("CLOUD_RUN_EMULATOR", &self.emulator_url)
            .env("PROJECT_ID", PROJECT_ID)
            .env("REGION", REGION)
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", &self.client_secret)
            .env("ALLOWED_HOSTED_DOMAINS", "example.com")
            .env("IMAGE_TAG", "rehearsal")
            .env("RETRY_DELAY", "0.05")
            .env("GCLOUD_STANDIN_DOMAIN_RESTRICTED", "1")
            .env("STORE", self.store.name())
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("bash runs deploy.sh");
        Run {
            ok: output.status.success(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }

    /// The stand-in `gcloud` on this project, as an operator would run it
    /// before deploy.sh.
    pub fn gcloud(&self, args: &[&str]) -> Output {
        Command::new(stand_ins().join("gcloud"))
            .args(args)
            .env("GCLOUD_STANDIN_STATE", self.state.path())
            .env("CLOUD_RUN_EMULATOR", &self.emulator_url)
            .stdin(Stdio::null())
            .output()
            .expect("the stand-in gcloud runs")
    }

    /// The stand-in `docker` on this project (an operator pushing an image
    /// of their own).
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new(stand_ins().join("docker"))
            .args(args)
            .env("GCLOUD_STANDIN_STATE", self.state.path())
            .stdin(Stdio::null())
            .output()
            .expect("the stand-in docker runs")
    }

    /// A file holding the OAuth client secret deploy.sh is given.
    pub fn client_secret_file(&self) -> PathBuf {
        let path = self.state.path().join("client-secret.txt");
        std::fs::write(&path, &self.client_secret).unwrap();
        path
    }

    /// The database password in the newest version of `database-url`.
    pub fn database_password(&self) -> String {
        let dir = self.state.path().join("secrets/database-url");
        let newest = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .max()
            .expect("a version of database-url");
        let url = std::fs::read_to_string(dir.join(newest.to_string())).unwrap();
        let rest = url
            .strip_prefix("postgres://auth:")
            .expect("deploy.sh's form");
        rest.split('@').next().unwrap().to_owned()
    }

    /// Every call of the stand-ins as logged, `docker`'s too, as text.
    pub fn raw_calls(&self) -> String {
        std::fs::read_to_string(self.state.path().join("calls.log")).unwrap_or_default()
    }

    /// Every `gcloud` call so far (its arguments).
    pub fn calls(&self) -> Vec<Vec<String>> {
        let log = std::fs::read_to_string(self.state.path().join("calls.log")).unwrap_or_default();
        log.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|c| c["tool"] == "gcloud")
            .map(|c| {
                c["argv"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect()
            })
            .collect()
    }

    /// The services named by each `run services replace`, in order.
    pub fn replaced_services(&self) -> Vec<String> {
        self.calls()
            .iter()
            .filter(|c| call_is(c, &["run", "services", "replace"]))
            .map(|c| {
                let file = Path::new(&c[3]).file_stem().unwrap().to_str().unwrap();
                file.to_owned()
            })
            .collect()
    }

    /// The emulator's view of a service.
    pub async fn service(&self, name: &str) -> Value {
        self.http
            .get(format!("{}/v1/services/{name}", self.emulator_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// What a service's instances wrote (for a failure's message).
    pub async fn logs(&self, name: &str) -> String {
        match self
            .http
            .get(format!("{}/v1/services/{name}/logs", self.emulator_url))
            .send()
            .await
        {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(e) => format!("no logs of {name}: {e}"),
        }
    }

    pub async fn assert_ready_through_its_url(&self, name: &str) {
        let url = self.service(name).await["url"].as_str().unwrap().to_owned();
        let response = self
            .http
            .get(format!("{url}/readyz"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name} at {url}: {e}"));
        assert_eq!(response.status(), 200, "{name} /readyz at {url}");
    }

    pub async fn snapshot(&self) -> Snapshot {
        let project: Value = serde_json::from_str(
            &std::fs::read_to_string(self.state.path().join("project.json")).unwrap(),
        )
        .unwrap();
        let mut secret_versions = BTreeMap::new();
        for entry in std::fs::read_dir(self.state.path().join("secrets")).unwrap() {
            let entry = entry.unwrap();
            let count = std::fs::read_dir(entry.path()).unwrap().count();
            secret_versions.insert(entry.file_name().to_string_lossy().into_owned(), count);
        }
        let users = project["sql"]["auth-db"]["users"]
            .as_object()
            .map(|u| u.keys().cloned().collect())
            .unwrap_or_default();
        let accounts = project["accounts"]
            .as_object()
            .map(|a| a.keys().cloned().collect())
            .unwrap_or_default();
        let mut revisions = BTreeMap::new();
        for name in ["auth", "app"] {
            let status = self.service(name).await;
            revisions.insert(name.to_owned(), status["revision"].to_string());
        }
        Snapshot {
            secret_versions,
            users,
            firestore: project["firestore"].clone(),
            accounts,
            revisions,
        }
    }
}

impl Drop for Rehearsal {
    fn drop(&mut self) {
        // The PostgreSQL behind Cloud SQL, then the emulator and its services.
        let _ = Command::new(stand_ins().join("gcloud"))
            .args(["sql", "instances", "delete", "auth-db", "--quiet"])
            .env("GCLOUD_STANDIN_STATE", self.state.path())
            .output();
        if let Some(address) = self.emulator_url.strip_prefix("http://") {
            if let Ok(mut stream) = std::net::TcpStream::connect(address) {
                use std::io::{Read, Write};
                let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
                let _ = stream.write_all(
                    b"POST /v1/shutdown HTTP/1.1\r\nHost: emulator\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.emulator.kill();
        let _ = self.emulator.wait();
    }
}

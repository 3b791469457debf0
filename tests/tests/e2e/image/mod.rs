// Over 400 lines: one test builds both images and walks a deployment through them (files, user, socket database, sign-in, SIGTERM); its helpers are only its own.
//! The container images themselves: `deploy/build-image.sh` builds each
//! service's image FROM scratch with podman, offline, from the release
//! binaries; then both images run side by side (host network, as Cloud Run
//! gives each container its own loopback) and a whole sign-in goes through
//! them: browser → app container → public container → mock provider →
//! back, with every server-to-server call made from inside a container.
//!
//! `.ci/run` builds the release binaries once (`deploy/check-build.sh DIR`),
//! installs podman and runc, and sets `IMAGE_TEST_BINARIES=DIR` and
//! `IMAGE_TEST_REQUIRED=1`. Elsewhere a missing podman or missing release
//! binaries skip the test with the reason printed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use integration_tests::app::{APP_ACCOUNT, CLIENT_ID, REVOCATION_POLL_INTERVAL};
use integration_tests::cloud_run::postgres::UnixPostgres;
use integration_tests::{Browser, SignIn};
use mock_provider::MockProvider;
use sqlx::Connection;
use tokio::process::Command;

/// The unprivileged user the images run as (distroless's "nonroot").
const NONROOT: &str = "65532";
const ALICE: &str = "alice@example.com";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Skips (with the reason printed) or, where the test is required, fails.
fn unavailable(reason: &str) {
    if std::env::var_os("IMAGE_TEST_REQUIRED").is_some() {
        panic!("the image test is required here but {reason}");
    }
    integration_tests::skipped(format_args!("{reason}"));
}

/// Where the release binaries are: `IMAGE_TEST_BINARIES` (relative to the
/// workspace), else Cargo's release directory.
fn binaries() -> PathBuf {
    match std::env::var_os("IMAGE_TEST_BINARIES") {
        Some(dir) => workspace().join(dir),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target"))
            .join("release"),
    }
}

async fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(args)
        .output()
        .await
        .expect("podman runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The flags this test runs containers with, and why each one.
fn run_flags() -> Vec<String> {
    let mut flags = vec![
        // Each service listens on its own loopback port, as on Cloud Run.
        "--network=host".to_owned(),
        // Podman raises a container's limits to 1048576 by default, which
        // needs CAP_SYS_RESOURCE; sandboxed CI runners lack it.
        "--ulimit=nofile=16384:16384".to_owned(),
        "--ulimit=nproc=16384:16384".to_owned(),
    ];
    // Debian 12's crun refuses hosts with cgroup v1 and v2 both mounted
    // ("cgroups in hybrid mode not supported"); runc runs there.
    if Path::new("/usr/bin/runc").exists() {
        flags.insert(0, "--runtime=runc".to_owned());
    }
    flags
}

/// A running container, removed when dropped.
struct Container {
    name: String,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = std::process::Command::new("podman")
            .args(["rm", "--force", "--time=0", &self.name])
            .output();
    }
}

/// An image built by the test, removed when dropped.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = std::process::Command::new("podman")
            .args(["rmi", "--force", &self.0])
            .output();
    }
}

async fn build(service: &str, binary: &Path) -> Image {
    let tag = format!("localhost/image-test/{service}:{}", std::process::id());
    let started = Instant::now();
    let out = Command::new(workspace().join("deploy/build-image.sh"))
        .arg(service)
        .arg(binary)
        .env("IMAGE", &tag)
        .output()
        .await
        .expect("deploy/build-image.sh runs");
    assert!(
        out.status.success(),
        "deploy/build-image.sh {service} failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report = text(&out.stdout);
    assert!(report.contains("compressed (gzip)"), "{report}");
    eprintln!("{} (built in {:.1?})", report.trim(), started.elapsed());
    Image(tag)
}

/// What the image is made of: its files, its user and entrypoint.
async fn check_contents(service: &str, image: &str) {
    let config = podman(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .Config.Env}}",
        image,
    ])
    .await;
    let config = text(&config.stdout);
    let fields: Vec<&str> = config.trim().split('|').collect();
    assert_eq!(fields[0], format!("{NONROOT}:{NONROOT}"), "{config}");
    assert_eq!(
        fields[1],
        format!("[\"/usr/local/bin/{service}\"]"),
        "{config}"
    );
    assert!(fields[2].contains("\"PORT=8080\""), "{config}");

    let created = podman(&["create", image]).await;
    let id = text(&created.stdout).trim().to_owned();
    let container = Container { name: id.clone() };
    let exported = Command::new("sh")
        .arg("-c")
        .arg(format!("podman export {id} | tar -tf -"))
        .output()
        .await
        .unwrap();
    drop(container);
    let files: Vec<String> = text(&exported.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").to_owned())
        .filter(|l| !l.is_empty() && !l.ends_with('/'))
        .collect();
    let expected_prefixes = [
        format!("usr/local/bin/{service}"),
        "etc/passwd".into(),
        "etc/group".into(),
        "etc/nsswitch.conf".into(),
        "etc/os-release".into(),
        "etc/debian_version".into(),
        // The libraries ldd names and the loader.
        "lib/".into(),
        "lib64/".into(),
        "usr/lib/".into(),
        // Package records and licences of those libraries.
        "var/lib/dpkg/status.d/".into(),
        "usr/share/doc/".into(),
        // Mount points podman adds for its bind mounts.
        "etc/hosts".into(),
        "etc/hostname".into(),
        "etc/resolv.conf".into(),
        "run/".into(),
        "dev/".into(),
        "proc/".into(),
        "sys/".into(),
    ];
    for file in &files {
        assert!(
            expected_prefixes
                .iter()
                .any(|p| file.starts_with(p.as_str())),
            "{image} holds {file}, which the image should not need; all files: {files:?}"
        );
    }
    for needed in [
        format!("usr/local/bin/{service}"),
        "etc/passwd".into(),
        "var/lib/dpkg/status.d/libc6".into(),
    ] {
        assert!(files.contains(&needed), "{image} lacks {needed}: {files:?}");
    }
    assert!(
        !files.iter().any(|f| f.ends_with("bin/sh")),
        "a shell in {image}"
    );
}

/// The binary runs in its image (its libraries are there) and, without
/// configuration, refuses to start naming the missing setting.
async fn check_refuses_without_configuration(image: &str) {
    let mut args = vec!["run".to_owned(), "--rm".to_owned()];
    args.extend(run_flags());
    args.push(image.to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = podman(&args).await;
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !out.status.success(),
        "{image} started without configuration"
    );
    assert!(said.contains("required but not set"), "{image}: {said}");
}

/// Starts `image` detached. Not `--rm`: the exit code is read after a
/// stop; dropping the [`Container`] removes it.
async fn start(name: &str, image: &str, env: &[(&str, String)], flags: &[String]) -> Container {
    let mut args = vec![
        "run".to_owned(),
        "--detach".to_owned(),
        format!("--name={name}"),
    ];
    args.extend(run_flags());
    args.extend(flags.iter().cloned());
    for (key, value) in env {
        args.push(format!("--env={key}={value}"));
    }
    args.push(image.to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = podman(&args).await;
    assert!(
        out.status.success(),
        "podman run {image} failed: {}",
        text(&out.stderr)
    );
    Container {
        name: name.to_owned(),
    }
}

async fn logs(container: &Container) -> String {
    let out = podman(&["logs", &container.name]).await;
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// Waits until `url` answers 200; fails with the container's log if not.
async fn wait_for(url: &str, container: &Container) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = client
            .get(url)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string());
        if status == Ok(200) {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{url} answered {status:?}; {} logged:\n{}",
                container.name,
                logs(container).await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The container's process, seen from the host: it runs the service's
/// binary as 65532, not as root.
async fn check_process(container: &Container, service: &str) {
    let out = podman(&["inspect", "--format", "{{.State.Pid}}", &container.name]).await;
    let pid = text(&out.stdout).trim().to_owned();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    for field in ["Uid:", "Gid:"] {
        let line = status.lines().find(|l| l.starts_with(field)).unwrap();
        let ids: Vec<&str> = line.split_whitespace().skip(1).collect();
        assert_eq!(ids, [NONROOT; 4], "{service}: {line}");
    }
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(exe, Path::new("/usr/local/bin").join(service));
}

/// Stops the container as Cloud Run stops an instance: `SIGTERM`, then
/// `SIGKILL` after 10 s
/// (<https://cloud.google.com/run/docs/container-contract#instance-shutdown>).
/// The service, PID 1 in its container (where a signal without a handler
/// does nothing), must exit by itself and cleanly: exit code 0, not 137
/// (killed) or 143.
async fn check_stops_on_sigterm(container: &Container) {
    let out = podman(&["stop", "--time=10", &container.name]).await;
    assert!(out.status.success(), "podman stop: {}", text(&out.stderr));
    let code = podman(&[
        "inspect",
        "--format",
        "{{.State.ExitCode}}",
        &container.name,
    ])
    .await;
    assert_eq!(
        text(&code.stdout).trim(),
        "0",
        "{} did not exit cleanly on SIGTERM; it logged:\n{}",
        container.name,
        logs(container).await
    );
}

fn free_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], integration_tests::ports::for_a_child()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_images_build_offline_run_as_nonroot_and_serve_a_sign_in() {
    if std::process::Command::new("podman")
        .arg("--version")
        .output()
        .is_err()
    {
        return unavailable("podman is not installed (apt-get install podman runc)");
    }
    let dir = binaries();
    let (public_bin, app_bin) = (dir.join("public-service"), dir.join("private-service"));
    if !public_bin.exists() || !app_bin.exists() {
        return unavailable(&format!(
            "no release binaries in {} (cargo build --release -p public-service -p private-service, or IMAGE_TEST_BINARIES=DIR)",
            dir.display()
        ));
    }
    let started = Instant::now();

    let public_image = build("public-service", &public_bin).await;
    let app_image = build("private-service", &app_bin).await;
    check_contents("public-service", &public_image.0).await;
    check_contents("private-service", &app_image.0).await;
    check_refuses_without_configuration(&public_image.0).await;
    check_refuses_without_configuration(&app_image.0).await;

    let (auth_addr, app_addr) = (free_port(), free_port());
    // Two sites, as on Cloud Run's default URLs (code delivery): the public
    // service by name (`localhost`, resolved inside the container through
    // its /etc/hosts; plain http is accepted for loopback names only), the
    // app by address.
    let auth_url = format!("http://localhost:{}", auth_addr.port());
    let app_url = format!("http://127.0.0.1:{}", app_addr.port());
    let client_secret = service_kit::random::url_safe_token(24);
    let provider = MockProvider::builder()
        .client(
            CLIENT_ID,
            &client_secret,
            &[format!("{auth_url}/callback").as_str()],
        )
        .start()
        .await
        .unwrap();
    provider.set_metadata_account(APP_ACCOUNT);
    let issuer = provider.issuer();
    let suffix = std::process::id();

    // The database as on Cloud Run: a PostgreSQL listening only on a Unix
    // socket in `/cloudsql/PROJECT:REGION:INSTANCE`, mounted into the
    // container where Cloud Run mounts it, reached with the URL in the
    // exact form deploy.sh stores (credentials, host `localhost`, `host=`
    // the socket directory).
    let instance = "image-test:local:auth-db";
    let db_password = service_kit::random::url_safe_token(18);
    let cloud_sql = match UnixPostgres::start(instance, &db_password).await {
        Ok(server) => Some(server),
        Err(reason) if std::env::var_os("IMAGE_TEST_REQUIRED").is_some() => {
            panic!("the image test is required here but PostgreSQL cannot run: {reason}")
        }
        Err(reason) => {
            integration_tests::skipped(format_args!(
                "the Cloud SQL socket part ({reason}); in-memory database"
            ));
            None
        }
    };
    let (database_env, database_flags) = match &cloud_sql {
        Some(server) => (
            vec![(
                "DATABASE_URL",
                format!("postgres://auth:{db_password}@localhost/auth?host=/cloudsql/{instance}"),
            )],
            vec![format!(
                "--volume={}:/cloudsql",
                server.cloudsql_dir.display()
            )],
        ),
        None => (Vec::new(), Vec::new()),
    };

    // DEV_MODE: ephemeral keys and an in-memory database; everything else
    // as a deployment sets it.
    let public = start(
        &format!("image-test-public-{suffix}"),
        &public_image.0,
        &[
            ("DEV_MODE", "true".into()),
            ("BIND_ADDRESS", "127.0.0.1".into()),
            ("PORT", auth_addr.port().to_string()),
            ("WORKERS", "1".into()),
            ("LOG_FORMAT", "json".into()),
            ("PUBLIC_URL", auth_url.clone()),
            ("OIDC_ISSUER_URL", issuer.clone()),
            ("OIDC_CLIENT_ID", CLIENT_ID.into()),
            ("OIDC_CLIENT_SECRET", client_secret.clone()),
            ("APP_ORIGINS", app_url.clone()),
            ("APP_SERVICE_ACCOUNTS", format!("{app_url}={APP_ACCOUNT}")),
            ("HANDOFF_DELIVERY", "code".into()),
            ("ALLOWED_DOMAINS", "example.com".into()),
            ("CALLER_TOKEN_ISSUERS", issuer.clone()),
            ("CALLER_TOKEN_JWKS_URL", format!("{issuer}/oauth2/v3/certs")),
        ]
        .into_iter()
        .chain(database_env)
        .collect::<Vec<_>>(),
        &database_flags,
    )
    .await;
    wait_for(&format!("http://{auth_addr}/healthz"), &public).await;
    check_process(&public, "public-service").await;
    // Ready: the container reached the provider's discovery document.
    wait_for(&format!("http://{auth_addr}/readyz"), &public).await;

    let app = start(
        &format!("image-test-app-{suffix}"),
        &app_image.0,
        &[
            ("BIND_ADDRESS", "127.0.0.1".into()),
            ("PORT", app_addr.port().to_string()),
            ("WORKERS", "1".into()),
            ("LOG_FORMAT", "json".into()),
            ("APP_URL", app_url.clone()),
            // By name: resolved from inside the container.
            ("AUTH_URL", auth_url.clone()),
            ("HANDOFF_DELIVERY", "code".into()),
            ("METADATA_URL", issuer.clone()),
            (
                "REVOCATION_POLL_INTERVAL",
                format!("{}s", REVOCATION_POLL_INTERVAL.as_secs()),
            ),
        ],
        &[],
    )
    .await;
    wait_for(&format!("http://{app_addr}/healthz"), &app).await;
    check_process(&app, "private-service").await;
    // Ready: the container fetched the public container's keys.
    wait_for(&format!("http://{app_addr}/readyz"), &app).await;

    let browser = Browser::new(&[("localhost", auth_addr)]);
    let hops = SignIn::new(&provider, auth_url.clone(), app_url.clone(), browser, ALICE)
        .run()
        .await
        .hops;
    let last = hops.last().unwrap();
    assert_eq!(
        last.status,
        200,
        "the sign-in through the images did not land on the app: {:?}\npublic:\n{}\napp:\n{}",
        hops.iter()
            .map(|p| (p.url.to_string(), p.status.as_u16()))
            .collect::<Vec<_>>(),
        logs(&public).await,
        logs(&app).await
    );
    assert_eq!(last.url.host_str(), Some("127.0.0.1"));
    assert!(last.body.contains(ALICE), "{}", last.body);
    if let Some(server) = &cloud_sql {
        let mut db = sqlx::PgConnection::connect(&server.local_url("auth", &db_password, "auth"))
            .await
            .expect("the test reaches the socket database");
        let (sessions,): (i64,) = sqlx::query_as("SELECT count(*) FROM sessions")
            .fetch_one(&mut db)
            .await
            .expect("the container migrated the socket database");
        assert_eq!(
            sessions, 1,
            "the sign-in's session is in the Cloud SQL socket database"
        );
    }

    check_stops_on_sigterm(&app).await;
    check_stops_on_sigterm(&public).await;
    eprintln!(
        "images built, checked and signed in through in {:.1?}",
        started.elapsed()
    );
}

/// deploy/Dockerfile's runtime stages are the Containerfile the offline
/// build uses (only where the root filesystem comes from differs), so what
/// this test runs is what a deployment ships.
#[test]
fn the_dockerfile_runtime_stages_are_the_offline_build() {
    let dockerfile = std::fs::read_to_string(workspace().join("deploy/Dockerfile")).unwrap();
    for service in ["public-service", "private-service", "handoff-gate"] {
        let out = std::process::Command::new(workspace().join("deploy/build-image.sh"))
            .args(["--containerfile", service])
            .output()
            .expect("deploy/build-image.sh runs");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let offline = text(&out.stdout);
        let stage: Vec<&str> = dockerfile
            .split("\nFROM ")
            .find(|s| s.starts_with(&format!("scratch AS {service}\n")))
            .unwrap_or_else(|| panic!("deploy/Dockerfile has no FROM scratch AS {service}"))
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .collect();
        let offline: Vec<&str> = offline.lines().skip(1).collect();
        assert_eq!(
            stage[0],
            format!("COPY --from=build /rootfs/{service}/ /"),
            "{service}"
        );
        assert_eq!(offline[0], "COPY rootfs/ /", "{service}");
        assert_eq!(
            stage[1..],
            offline[1..],
            "deploy/Dockerfile's {service} stage differs from deploy/build-image.sh's Containerfile"
        );
    }
}

/// The images carry no CA bundle: reqwest's `rustls-tls` feature trusts the
/// Mozilla roots compiled in (webpki-roots). Should a dependency start
/// reading the system store (rustls-native-certs, native-tls, OpenSSL),
/// HTTPS calls to Google would fail in the image; this says so first.
#[test]
fn tls_roots_are_compiled_in_so_the_image_needs_no_ca_bundle() {
    let lock = std::fs::read_to_string(workspace().join("Cargo.lock")).unwrap();
    let packages: Vec<&str> = lock
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|l| l.trim_end_matches('"'))
        .collect();
    assert!(packages.contains(&"webpki-roots"), "no webpki-roots");
    for system_store in ["rustls-native-certs", "native-tls", "openssl-sys"] {
        assert!(
            !packages.contains(&system_store),
            "{system_store} reads the system's CA store, which deploy/build-image.sh does not ship: add /etc/ssl/certs/ca-certificates.crt there"
        );
    }
}

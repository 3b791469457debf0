//! The deployment under test, configured as an operator would through the
//! environment: the public service on SQLite with the separate-sites
//! (code) delivery, the private app, and the baseline. The mock provider
//! runs inside this process, on the load generators' cores: it stands for
//! Google, whose time is not the services' own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use mock_provider::MockProvider;
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use tempfile::TempDir;

use crate::cpus::Pinning;
use crate::process::{free_port, Launch, Server};
use crate::proxies::{self, Mode};
use crate::settings::RunSettings;

pub const CLIENT_ID: &str = "bench-client.apps.example";
/// The person who signs in (the mock's default user).
pub const PERSON: &str = "alice@example.com";
/// The app's service account: its back-channel calls (code redemption).
pub const APP_ACCOUNT: &str = "app@bench.iam.gserviceaccount.com";
/// The backend allowed to call the token broker.
pub const BROKER_CALLER: &str = "backend@bench.iam.gserviceaccount.com";
/// The audience of people's Bearer ID tokens (an extension's client id).
pub const EXTENSION_CLIENT_ID: &str = "bench-extension.apps.example";
/// Requests per client address per minute on the rate-limited routes:
/// every request of a run comes from one address, so the limits are
/// raised out of the way (the limiter itself still runs).
pub const RATE_LIMIT_PER_MINUTE: u32 = 1_000_000_000;
pub const HANDOFF_TTL: &str = "30m";
pub const LOG_FILTER: &str = "warn";

/// One server of the stack and what was measured about its start.
pub struct Service {
    pub server: Server,
    pub binary_bytes: u64,
    /// Spawn to first `200` of `/readyz`, one per start, sorted.
    pub ready: Vec<Duration>,
}

impl Service {
    pub fn median_ready(&self) -> Duration {
        self.ready[self.ready.len() / 2]
    }
}

pub struct Stack {
    pub provider: MockProvider,
    pub public: Service,
    /// The app with `RUST_LOG=warn`: the quiet configuration.
    pub app: Service,
    /// The same app as shipped: no `RUST_LOG`, text logs.
    pub app_defaults: Service,
    /// The defaults with `LOG_FORMAT=json`, as on Cloud Run.
    pub app_json: Service,
    pub baseline: Service,
    /// `examples/axum-service`: the same audience as the app, on axum.
    pub axum: Service,
    /// A plain axum handler, the axum row's baseline; also the app that
    /// the proxies below put themselves in front of.
    pub axum_baseline: Service,
    /// `handoff-gate` in front of the plain axum handler, for the same
    /// `APP_URL` as the app, as shipped (no `RUST_LOG`).
    pub gate: Service,
    /// nginx `proxy_pass` in front of the plain axum handler, no auth.
    pub nginx_proxy: Service,
    /// nginx `auth_request` asking the app's `/auth/verify`, then in front
    /// of the plain axum handler.
    pub nginx_auth: Service,
    /// The public service's handoff signing key (PKCS#8 PEM), so that the
    /// driver can mint tokens the apps trust for the rotating rows.
    pub signing_key_pem: String,
    _dir: TempDir,
}

impl Stack {
    pub async fn start(
        settings: &RunSettings,
        pinning: &Pinning,
        bin_dir: &Path,
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("bench-").tempdir()?;
        let mock_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let (public_port, app_port, baseline_port) = (free_port()?, free_port()?, free_port()?);
        let (defaults_port, json_port) = (free_port()?, free_port()?);
        let (axum_port, axum_baseline_port) = (free_port()?, free_port()?);
        let (gate_port, nginx_proxy_port, nginx_auth_port) =
            (free_port()?, free_port()?, free_port()?);
        let public_url = format!("http://127.0.0.1:{public_port}");
        let app_url = format!("http://127.0.0.1:{app_port}");
        let client_secret = random_base64(24);
        let provider = MockProvider::builder()
            .client(
                CLIENT_ID,
                &client_secret,
                &[&format!("{public_url}/callback")],
            )
            .listener(mock_listener)
            .start()
            .await
            .context("starting the mock provider")?;
        let issuer = provider.issuer();
        let certs = format!("{issuer}/oauth2/v3/certs");
        let unfiltered = |port: u16| {
            vec![
                ("BIND_ADDRESS", "127.0.0.1".to_owned()),
                ("PORT", port.to_string()),
                ("WORKERS", pinning.server_cores.to_string()),
            ]
        };
        let common = |port: u16| {
            let mut env = unfiltered(port);
            env.push(("RUST_LOG", LOG_FILTER.to_owned()));
            env
        };
        let signing_key = p256::SecretKey::random(&mut rand::rngs::OsRng)
            .to_pkcs8_pem(LineEnding::LF)?
            .to_string();
        let mut public_env = common(public_port);
        public_env.extend([
            ("PUBLIC_URL", public_url.clone()),
            ("OIDC_ISSUER_URL", issuer.clone()),
            ("OIDC_CLIENT_ID", CLIENT_ID.to_owned()),
            ("OIDC_CLIENT_SECRET", client_secret),
            ("OFFLINE_ACCESS", "google".to_owned()),
            ("PROVIDER_NAME", "Mock".to_owned()),
            ("APP_ORIGINS", app_url.clone()),
            ("HANDOFF_DELIVERY", "code".to_owned()),
            ("APP_SERVICE_ACCOUNTS", format!("{app_url}={APP_ACCOUNT}")),
            ("HANDOFF_TTL", HANDOFF_TTL.to_owned()),
            ("SIGNING_KEY", signing_key.clone()),
            ("COOKIE_SECRET", random_base64(48)),
            ("TOKEN_ENCRYPTION_KEYS", format!("k1:{}", random_base64(32))),
            ("ALLOWED_EMAILS", PERSON.to_owned()),
            ("BROKER_ALLOWED_CALLERS", BROKER_CALLER.to_owned()),
            ("BROKER_CALLER_SCOPES", format!("{BROKER_CALLER}=*")),
            ("CALLER_TOKEN_ISSUERS", issuer.clone()),
            ("CALLER_TOKEN_JWKS_URL", certs.clone()),
            (
                "RATE_LIMIT_SIGN_IN_PER_MINUTE",
                RATE_LIMIT_PER_MINUTE.to_string(),
            ),
            (
                "RATE_LIMIT_BACK_CHANNEL_PER_MINUTE",
                RATE_LIMIT_PER_MINUTE.to_string(),
            ),
            // The broker's per-caller budget: one caller sends every
            // request of the broker row.
            (
                "RATE_LIMIT_BROKER_PER_MINUTE",
                RATE_LIMIT_PER_MINUTE.to_string(),
            ),
        ]);
        // Every app instance answers for the same `APP_URL` (the tokens'
        // audience), each on a port of its own.
        let app_settings = [
            ("APP_URL", app_url),
            ("AUTH_URL", public_url),
            ("HANDOFF_DELIVERY", "code".to_owned()),
            ("METADATA_URL", provider.metadata_url_for(APP_ACCOUNT)),
            ("ID_TOKEN_AUDIENCES", EXTENSION_CLIENT_ID.to_owned()),
            ("ALLOWED_EMAILS", PERSON.to_owned()),
            ("ID_TOKEN_ISSUERS", issuer),
            ("ID_TOKEN_JWKS_URL", certs),
            // `/auth/handoff` per client address: every sign-in of the
            // sign-in row comes from 127.0.0.1.
            (
                "RATE_LIMIT_HANDOFF_PER_MINUTE",
                RATE_LIMIT_PER_MINUTE.to_string(),
            ),
        ];
        let mut app_env = common(app_port);
        app_env.extend(app_settings.clone());
        let mut axum_env = common(axum_port);
        axum_env.extend([
            ("APP_URL", app_settings[0].1.clone()),
            ("AUTH_URL", app_settings[1].1.clone()),
            ("METADATA_URL", app_settings[3].1.clone()),
        ]);
        let mut gate_env = unfiltered(gate_port);
        gate_env.extend([
            (
                "UPSTREAM_URL",
                format!("http://127.0.0.1:{axum_baseline_port}"),
            ),
            ("APP_URL", app_settings[0].1.clone()),
            ("AUTH_URL", app_settings[1].1.clone()),
            ("HANDOFF_DELIVERY", "code".to_owned()),
            ("METADATA_URL", app_settings[3].1.clone()),
        ]);
        let mut defaults_env = unfiltered(defaults_port);
        defaults_env.extend(app_settings.clone());
        let mut json_env = unfiltered(json_port);
        json_env.extend(app_settings);
        json_env.push(("LOG_FORMAT", "json".to_owned()));
        let launch = |name: &'static str, port: u16, env: Vec<(&'static str, String)>| Launch {
            name,
            log_name: name,
            binary: bin_dir.join(name),
            args: Vec::new(),
            port,
            ready_path: "/readyz",
            env,
            cpus: pinning.server.clone(),
            log_dir: log_dir.to_path_buf(),
        };
        // A fresh SQLite file for every start: migrations run each time,
        // as on a first deployment.
        let db_dir = dir.path().to_path_buf();
        let public = start_repeatedly(settings.starts, |i| {
            let mut env = public_env.clone();
            env.push(("DATABASE_URL", sqlite_url(&db_dir, i)));
            launch("public-service", public_port, env)
        })?;
        let app = start_repeatedly(settings.starts, |_| {
            launch("private-service", app_port, app_env.clone())
        })?;
        let baseline = start_repeatedly(settings.starts, |_| {
            launch("baseline", baseline_port, common(baseline_port))
        })?;
        // Started once each: start-to-ready is the quiet app's figure.
        let app_defaults = start_repeatedly(1, |_| Launch {
            log_name: "private-service-defaults",
            ..launch("private-service", defaults_port, defaults_env.clone())
        })?;
        let axum = start_repeatedly(1, |_| launch("axum-service", axum_port, axum_env.clone()))?;
        let axum_baseline = start_repeatedly(1, |_| {
            launch(
                "axum-baseline",
                axum_baseline_port,
                common(axum_baseline_port),
            )
        })?;
        let app_json = start_repeatedly(1, |_| Launch {
            log_name: "private-service-json",
            ..launch("private-service", json_port, json_env.clone())
        })?;
        let gate = start_repeatedly(1, |_| Launch {
            ready_path: "/auth/healthz",
            ..launch("handoff-gate", gate_port, gate_env.clone())
        })?;
        let nginx = |name: &'static str, port: u16, mode: Mode| -> anyhow::Result<Service> {
            let args = proxies::nginx(
                dir.path(),
                name,
                port,
                axum_baseline_port,
                mode,
                pinning.server_cores,
            )?;
            start_repeatedly(1, |_| Launch {
                binary: PathBuf::from(proxies::NGINX),
                args: args.clone(),
                ..launch(name, port, Vec::new())
            })
        };
        let nginx_proxy = nginx("nginx-proxy-pass", nginx_proxy_port, Mode::ProxyPass)?;
        let nginx_auth = nginx(
            "nginx-auth-request",
            nginx_auth_port,
            Mode::AuthRequest {
                verify_port: app_port,
            },
        )?;
        Ok(Self {
            provider,
            public,
            app,
            app_defaults,
            app_json,
            baseline,
            axum,
            axum_baseline,
            gate,
            nginx_proxy,
            nginx_auth,
            signing_key_pem: signing_key,
            _dir: dir,
        })
    }
}

/// Starts a server `times` times, each after stopping the one before, and
/// keeps the last one running.
fn start_repeatedly(times: usize, launch: impl Fn(usize) -> Launch) -> anyhow::Result<Service> {
    let mut ready = Vec::with_capacity(times);
    let mut running: Option<Server> = None;
    let mut binary = PathBuf::new();
    for i in 0..times {
        drop(running.take());
        let launch = launch(i);
        binary.clone_from(&launch.binary);
        let (server, took) = tokio::task::block_in_place(|| Server::start(&launch))?;
        ready.push(took);
        running = Some(server);
    }
    ready.sort();
    let binary_bytes = std::fs::metadata(&binary)
        .with_context(|| format!("the size of {}", binary.display()))?
        .len();
    Ok(Service {
        server: running.context("at least one start")?,
        binary_bytes,
        ready,
    })
}

fn sqlite_url(dir: &Path, start: usize) -> String {
    format!(
        "sqlite://{}",
        dir.join(format!("public-{start}.db")).display()
    )
}

fn random_base64(bytes: usize) -> String {
    use rand::RngCore;
    let mut random = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut random);
    STANDARD.encode(random)
}

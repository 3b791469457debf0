//! The deployment `deploy.sh` makes, on the emulator: secrets made by its
//! commands, a PostgreSQL on a Cloud SQL-named Unix socket holding the
//! `auth` database, the mock provider standing in for Google, and the two
//! YAMLs rendered as it renders them. Both service URLs are allocated
//! first, as a second `deploy.sh` pass knows them.
//!
//! With the gate: `deploy/gated-service.yaml` as `deploy.sh` renders it
//! with `APP_IMAGE`, the gate the ingress container and a small app of
//! this repository (`tests/apps/whoami.py`) its sidecar ([`GATED_APP`]).
//!
//! The overlay ([`Rehearsal::overlay`]) is the one deviation from what the
//! YAMLs give the containers: it points them at the mock provider instead
//! of Google (issuer, Google's JWKS for callers' and people's ID tokens,
//! the metadata server).

use std::sync::Arc;

use mock_provider::MockProvider;
use url::Url;

use super::cloudsql::CloudSql;
use super::deploy_sh;
use super::emulator::{Config, DeployError, Deployed, Emulator};
use super::postgres::UnixPostgres;
use super::runtime::{HostBinaries, WithApps};
use crate::browser::Browser;
use crate::sign_in::SignIn;

pub const PROJECT_ID: &str = "rehearsal-project";
pub const REGION: &str = "europe-west1";
pub const CLIENT_ID: &str = "rehearsal-client.apps.googleusercontent.com";
pub const ALLOWED_DOMAIN: &str = "example.com";
pub const AUTH: &str = "auth";
pub const APP: &str = "app";
/// The app behind the gate: image name and program. It knows nothing of
/// OpenID Connect; any app answering `GET /api/me` with the
/// `X-Forwarded-Email` it received can take its place.
pub const GATED_APP: (&str, &str) = ("whoami", "apps/whoami.py");

pub fn app_service_account() -> String {
    format!("app-service@{PROJECT_ID}.iam.gserviceaccount.com")
}

/// The overlay that points the containers at the mock provider at
/// `issuer` instead of Google: its issuer, its keys for callers' and
/// people's ID tokens, and its metadata server minting for `account`.
pub fn google_stand_in(issuer: &str, account: &str) -> Vec<(String, String)> {
    let keys = format!("{issuer}/oauth2/v3/certs");
    [
        ("OIDC_ISSUER_URL", issuer.to_owned()),
        ("CALLER_TOKEN_ISSUERS", issuer.to_owned()),
        ("CALLER_TOKEN_JWKS_URL", keys.clone()),
        ("ID_TOKEN_ISSUERS", issuer.to_owned()),
        ("ID_TOKEN_JWKS_URL", keys),
        ("METADATA_URL", format!("{issuer}/metadata/{account}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Set to `1`, a rehearsal that cannot run here fails rather than skips
/// (`.ci/run` sets it, as it sets `IMAGE_TEST_REQUIRED`).
pub const REQUIRED_VAR: &str = "CLOUD_RUN_REQUIRED";

fn required() -> bool {
    std::env::var(REQUIRED_VAR).as_deref() == Ok("1")
}

/// Why a case did not run: what this machine lacks.
#[derive(Debug, Clone)]
pub struct Skipped(pub String);

/// What a test may change.
#[derive(Default, Clone)]
pub struct Options {
    /// Extra overlay variables (each one is a further deviation: say why).
    pub extra_overlay: Vec<(String, String)>,
    /// The account the app's metadata server mints tokens for (default:
    /// the app's service account, as on Cloud Run).
    pub app_metadata_account: Option<String>,
}

pub struct Rehearsal {
    pub emulator: Arc<Emulator>,
    pub provider: MockProvider,
    pub postgres: UnixPostgres,
    /// `deploy.sh`'s variables, `PUBLIC_URL` and `APP_URL` known.
    pub vars: Vec<(String, String)>,
    pub auth_url: Url,
    pub app_url: Url,
    pub db_password: String,
    pub overlay: Vec<(String, String)>,
    pub state: tempfile::TempDir,
}

fn text(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

impl Rehearsal {
    /// Everything but the two services, or why it cannot run here.
    pub async fn prepare(options: Options) -> Result<Self, String> {
        crate::logs::install();
        let binaries = deploy_sh::binaries()?;
        let state = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut vars: Vec<(String, String)> = [
            ("PROJECT_ID", PROJECT_ID.to_owned()),
            ("REGION", REGION.to_owned()),
            ("OIDC_CLIENT_ID", CLIENT_ID.to_owned()),
            (
                "OIDC_CLIENT_SECRET",
                service_kit::random::url_safe_token(24),
            ),
            ("ALLOWED_DOMAINS", ALLOWED_DOMAIN.to_owned()),
            // deploy.sh's defaults for the optional variables.
            ("ALLOWED_HOSTED_DOMAINS", String::new()),
            ("ALLOWED_EMAILS", String::new()),
            ("BROKER_CALLERS", String::new()),
            ("BROKER_CALLER_SCOPES", String::new()),
            ("TASK_CALLERS", String::new()),
            (
                "EXTENSION_CLIENT_ID",
                "unused.apps.googleusercontent.com".to_owned(),
            ),
            ("EXTENSION_ORIGIN", String::new()),
            ("APP_SERVICE_ACCOUNT", app_service_account()),
            ("PATH", std::env::var("PATH").unwrap_or_default()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let db_password = deploy_sh::database_password(&vars)?;
        vars.push(("DB_PASSWORD".into(), db_password.clone()));
        for name in deploy_sh::create_secrets(state.path(), &vars)? {
            // Each secret has one version, which deploy.sh would pin.
            vars.push((deploy_sh::version_variable(&name), "1".into()));
        }
        let instance = format!("{PROJECT_ID}:{REGION}:auth-db");
        let postgres = UnixPostgres::start(&instance, &db_password).await?;

        // The URLs first: the provider must know the callback.
        let provider_listener = crate::ports::listener();
        let issuer = format!(
            "http://{}",
            provider_listener.local_addr().map_err(|e| e.to_string())?
        );
        let metadata_account = options
            .app_metadata_account
            .clone()
            .unwrap_or_else(app_service_account);
        let mut overlay = google_stand_in(&issuer, &metadata_account);
        overlay.extend(options.extra_overlay.iter().cloned());
        let emulator = Emulator::new(Config {
            state: state.path().to_owned(),
            runtime: Arc::new(WithApps {
                binaries: HostBinaries { dir: binaries },
                apps: vec![(
                    GATED_APP.0.to_owned(),
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(GATED_APP.1),
                )],
            }),
            overlay: overlay.clone(),
            cloudsql: Some(CloudSql {
                root: postgres.cloudsql_dir.clone(),
            }),
        });
        let auth_url = emulator.url_for(AUTH)?;
        let app_url = emulator.url_for(APP)?;
        let client_secret = vars
            .iter()
            .find(|(k, _)| k == "OIDC_CLIENT_SECRET")
            .unwrap()
            .1
            .clone();
        let callback = format!("{}/callback", text(&auth_url));
        let provider = MockProvider::builder()
            .client(CLIENT_ID, &client_secret, &[callback.as_str()])
            .issuer(&issuer)
            .listener(provider_listener)
            .start()
            .await
            .map_err(|e| format!("the mock provider: {e:#}"))?;
        vars.push(("PUBLIC_URL".into(), text(&auth_url)));
        vars.push(("APP_URL".into(), text(&app_url)));
        // deploy.sh's variables with APP_IMAGE (the gated service), its
        // default APP_PORT (the emulator gives each instance's sidecar a
        // port of its own in its place).
        vars.push((
            "APP_IMAGE".into(),
            format!(
                "{REGION}-docker.pkg.dev/{PROJECT_ID}/apps/{}:1",
                GATED_APP.0
            ),
        ));
        vars.push(("APP_PORT".into(), "8080".into()));
        vars.push((
            "GATE_IMAGE".into(),
            format!("{REGION}-docker.pkg.dev/{PROJECT_ID}/auth/handoff-gate:rehearsal"),
        ));
        Ok(Self {
            emulator,
            provider,
            postgres,
            vars,
            auth_url,
            app_url,
            db_password,
            overlay,
            state,
        })
    }

    /// Prepared, or [`Skipped`] with the reason (no PostgreSQL
    /// server, no `envsubst`, no binaries). With [`REQUIRED_VAR`] set to
    /// `1` (CI sets it) a rehearsal that cannot run fails instead.
    pub async fn try_prepare(options: Options) -> Result<Self, Skipped> {
        match Self::prepare(options).await {
            Ok(r) => Ok(r),
            Err(e) if required() => {
                panic!("{REQUIRED_VAR}=1, but the Cloud Run rehearsal cannot run here: {e}")
            }
            Err(e) => Err(Skipped(format!(
                "the Cloud Run rehearsal cannot run here: {e}"
            ))),
        }
    }

    /// `deploy/FILE` rendered with `IMAGE` for `binary`, as `deploy.sh`
    /// renders it.
    pub fn render(&self, file: &str, binary: &str) -> String {
        let image = format!("{REGION}-docker.pkg.dev/{PROJECT_ID}/auth/{binary}:rehearsal");
        let mut vars = self.vars.clone();
        vars.push(("IMAGE".into(), image));
        deploy_sh::render(file, &vars).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn auth_yaml(&self) -> String {
        self.render("public-service.yaml", "public-service")
    }

    pub fn app_yaml(&self) -> String {
        self.render("private-service.yaml", "private-service")
    }

    /// The gate with the app as its sidecar, as `deploy.sh` deploys it
    /// with `APP_IMAGE`.
    pub fn gated_yaml(&self) -> String {
        self.render("gated-service.yaml", "handoff-gate")
    }

    pub async fn deploy_gated(&self) -> Result<Deployed, DeployError> {
        self.emulator.replace(&self.gated_yaml()).await
    }

    pub async fn deploy_auth(&self) -> Result<Deployed, DeployError> {
        self.emulator.replace(&self.auth_yaml()).await
    }

    pub async fn deploy_app(&self) -> Result<Deployed, DeployError> {
        self.emulator.replace(&self.app_yaml()).await
    }

    /// Both services, in the order that works: the public service first.
    pub async fn deploy_both(&self) {
        let auth = self.deploy_auth().await;
        assert!(
            auth.is_ok(),
            "auth: {}\n{}",
            auth.unwrap_err(),
            self.logs_of(AUTH)
        );
        let app = self.deploy_app().await;
        assert!(
            app.is_ok(),
            "app: {}\n{}",
            app.unwrap_err(),
            self.logs_of(APP)
        );
    }

    /// The last revision's output (every container's), for failure messages.
    pub fn logs_of(&self, service: &str) -> String {
        self.emulator
            .service(service)
            .and_then(|s| s.revisions().last().cloned())
            .map(|r| {
                let mut out = format!(
                    "--- {} output ---\n{}",
                    r.name,
                    r.instance.logs().join("\n")
                );
                for sidecar in &r.sidecars {
                    out += &format!(
                        "\n--- {} sidecar {} output ---\n{}",
                        r.name,
                        sidecar.container.as_deref().unwrap_or_default(),
                        sidecar.logs().join("\n")
                    );
                }
                out
            })
            .unwrap_or_default()
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&[])
    }

    pub fn auth(&self, path: &str) -> String {
        format!("{}{path}", text(&self.auth_url))
    }

    pub fn app(&self, path: &str) -> String {
        format!("{}{path}", text(&self.app_url))
    }

    pub fn app_audience(&self) -> String {
        self.app_url.origin().ascii_serialization()
    }

    /// A sign-in as `email` on the app, in a new browser: each hop walked
    /// and the landing checked as asked, with both services' output in
    /// the message of a failed check.
    pub fn signing_in(&self, email: &str) -> SignIn<'_> {
        SignIn::new(
            &self.provider,
            self.auth(""),
            self.app(""),
            self.browser(),
            email,
        )
        .on_failure(|| format!("{}\n{}", self.logs_of(AUTH), self.logs_of(APP)))
    }
}

// Over 400 lines: the wiring of a whole deployment for tests (mock provider, both services, their settings) in one place, so every suite starts the same stack.
//! [`TestApp`]: the mock provider, the public service and the private app,
//! each on a random loopback port, wired together like a deployment that
//! shares the parent domain `example.test`.
//!
//! The public service is configured through the same environment variables
//! an operator sets (read by `Settings::from_env`), so a test can also run
//! it as a separate process on the same database ([`TestApp::restart_public_service`]).
//! [`outages`] takes parts of the deployment down and brings them back;
//! [`revocation`] waits for an app to refuse an ended session.

mod admin;
mod gate;
mod outages;
mod revocation;

pub use admin::AdminRun;

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use handoff_guard::login_service::SigningKey;
use handoff_guard::AccessPolicy;
use handoff_guard::HandoffClaims;
use handoff_guard::RemoteJwksOptions;
use handoff_guard::{OffsetClock, SharedClock};
use mock_provider::{MockProvider, MockUser};
use private_service::settings::{AppDelivery, IdTokenSettings, KeySettings};
use public_service::settings::ClientAuthMethod;
use public_service::store::Storage;
use public_service::token_cipher::TokenCipher;
use secrecy::SecretString;
use service_kit::config::Env;
use url::Url;

use crate::browser::Browser;
use crate::db::{Backend, TestDatabase};
use crate::proxy::CuttableProxy;
use crate::{logs, tokens};

pub const PARENT_DOMAIN: &str = "example.test";
pub const AUTH_HOST: &str = "auth.example.test";
pub const APP_HOST: &str = "app.example.test";
/// A second registered app, when a test asks for one.
pub const OTHER_APP_HOST: &str = "reports.example.test";
/// The test host names, all on 127.0.0.1 for the test browser (which
/// resolves them itself) and so taken as loopback in the services'
/// URL settings ([`test_env`]): plain `http` to them is as to `localhost`.
pub const TEST_HOSTS: [&str; 6] = [
    AUTH_HOST,
    APP_HOST,
    OTHER_APP_HOST,
    LOCALHOST_HOSTS.0,
    LOCALHOST_HOSTS.1,
    LOCALHOST_OTHER_APP_HOST,
];
/// The same deployment under `localhost`, for a real browser: Chromium
/// resolves every `*.localhost` name to loopback itself and takes it as a
/// secure context (it keeps `Secure` and `__Host-` cookies over plain
/// `http` there, and nowhere else but `localhost` and `127.0.0.1`), so a
/// parent-domain cookie can be shared between two such names.
pub const LOCALHOST_PARENT_DOMAIN: &str = "example.localhost";
/// The public service's and the first app's names under
/// [`LOCALHOST_PARENT_DOMAIN`] (for [`TestOptions::hosts`]).
pub const LOCALHOST_HOSTS: (&str, &str) = ("auth.example.localhost", "app.example.localhost");
/// The second app's name under [`LOCALHOST_PARENT_DOMAIN`].
pub const LOCALHOST_OTHER_APP_HOST: &str = "reports.example.localhost";

/// The services' settings reader over `vars`, with the test host names
/// taken as loopback.
pub fn test_env<K: Into<String>, V: Into<String>>(vars: impl IntoIterator<Item = (K, V)>) -> Env {
    Env::from_map(vars).with_loopback_names(&TEST_HOSTS)
}

/// The second app's service account.
pub const OTHER_APP_ACCOUNT: &str = "reports@project.iam.gserviceaccount.com";
pub const CLIENT_ID: &str = "test-client.apps.example";
/// The service account allowed to call the token broker, for every
/// configured and optional scope and any user.
pub const BROKER_CALLER: &str = "backend@project.iam.gserviceaccount.com";
/// A second broker caller with narrow rules ([`NARROW_CALLER_RULES`]).
pub const NARROW_CALLER: &str = "mailer@project.iam.gserviceaccount.com";
/// What [`NARROW_CALLER`] may get: `email` only, for users at `corp.example`.
pub const NARROW_CALLER_RULES: (&str, &str) = ("email", "@corp.example");
/// The app's service account (its back-channel calls to the public service).
/// `METRICS_TOKEN` of both services: `/metrics` needs it.
pub const METRICS_TOKEN: &str = "test-metrics-token-6f1c2e";
pub const APP_ACCOUNT: &str = "app@project.iam.gserviceaccount.com";
/// How often the app asks for revoked sessions in tests.
pub const REVOCATION_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The Chrome extension's OAuth client id: the audience of its ID tokens.
pub const EXTENSION_CLIENT_ID: &str = "extension-client.apps.example";
/// The id of `examples/chrome-extension` (it follows from the manifest's
/// `key`); the mock provider registers [`EXTENSION_CLIENT_ID`] for it.
pub const EXTENSION_ID: &str = "odibeidmjmelaphijlikbdjepnnjjfkp";
/// The extension's origin, allowed by the apps' CORS.
pub const EXTENSION_ORIGIN: &str = "chrome-extension://odibeidmjmelaphijlikbdjepnnjjfkp";
/// Another OAuth client the mock provider registers for the same
/// extension: its ID tokens are real, for an audience no app lists.
pub const UNLISTED_EXTENSION_CLIENT_ID: &str = "another-client.apps.example";
/// A service account allowed to call the app (Cloud Tasks, say).
pub const TASKS_ACCOUNT: &str = "tasks@project.iam.gserviceaccount.com";
/// An extra scope sign-ins may ask for (incremental authorization).
pub const DRIVE_SCOPE: &str = "https://www.googleapis.com/auth/drive.readonly";
/// A second optional scope (a later incremental authorization).
pub const CALENDAR_SCOPE: &str = "https://www.googleapis.com/auth/calendar.readonly";

/// How handoff tokens reach the apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestDelivery {
    /// Services under one parent domain: a `Domain=example.test` cookie.
    SharedCookie,
    /// Separate sites: one-time codes redeemed by each app.
    Code,
}

/// What a test may change about the deployment.
pub struct TestOptions {
    pub backend: Backend,
    pub delivery: TestDelivery,
    /// Also start a second registered app on [`OTHER_APP_HOST`].
    pub second_app: bool,
    /// The second app's host name ([`OTHER_APP_HOST`]; `127.0.0.1` for a
    /// real browser, which resolves no test names).
    pub other_app_host: &'static str,
    /// Which service the second app is.
    pub second_app_kind: SecondApp,
    /// Host names of the public service and the app (both must resolve to
    /// loopback for a real browser: `localhost`, `127.0.0.1`).
    pub hosts: (&'static str, &'static str),
    /// The parent domain of the hosts, the shared cookie's `Domain`:
    /// [`PARENT_DOMAIN`] or [`LOCALHOST_PARENT_DOMAIN`] (the second app is
    /// then on [`LOCALHOST_OTHER_APP_HOST`]).
    pub parent_domain: &'static str,
    /// The gate's upstream, when the second app is [`SecondApp::Gate`]:
    /// an app the test runs itself, instead of the echoing one.
    pub gate_upstream: Option<Url>,
    /// The gate's `MAX_BODY_BYTES`.
    pub gate_max_body_bytes: u64,
    /// The mock provider shows its sign-in form instead of approving.
    pub interactive_provider: bool,
    pub allowed_emails: Vec<String>,
    pub allowed_domains: Vec<String>,
    pub handoff_ttl: Duration,
    pub provider_timeout: Duration,
    pub auth_method: ClientAuthMethod,
    /// The provider answers discovery with 500 until told to behave.
    pub discovery_fails_at_start: bool,
    pub session_idle_timeout: Duration,
    pub session_max_lifetime: Duration,
    pub renewal_checks_grant: bool,
    pub sign_out_revokes_grant: bool,
    pub sign_out_at_provider: bool,
    /// `OFFLINE_ACCESS`: `google`, `offline_access` or `off`.
    pub offline_access: &'static str,
    /// `OIDC_EXTRA_AUTH_PARAMS`.
    pub extra_auth_params: &'static str,
    /// `OIDC_SCOPES` (comma-separated extra scopes; empty: none).
    pub oidc_scopes: &'static str,
    /// Reach the (PostgreSQL) database through this local port instead, a
    /// proxy the test can cut.
    pub database_port: Option<u16>,
    /// Put the mock provider behind a [`CuttableProxy`] (its issuer is the
    /// proxy's address), so a test can take the whole provider down:
    /// [`TestApp::provider_proxy`].
    pub provider_behind_proxy: bool,
    /// The provider's proxy is cut while the services start (implies
    /// `provider_behind_proxy`): connections to it are refused.
    pub provider_down_at_start: bool,
    /// Misbehaviours in force while the services start.
    pub provider_misbehaviours_at_start: Vec<mock_provider::Misbehaviour>,
    /// Also publish a previous signing key (`PREVIOUS_SIGNING_KEYS`), as
    /// during a key rotation; [`TestApp::sign_with_previous_key`] uses it.
    pub previous_signing_key: bool,
    /// How long the apps keep fetched verification keys (`JWKS_MAX_AGE`).
    pub jwks_max_age: Duration,
    /// How often the apps ask for revoked sessions (one request at start
    /// whatever it is).
    pub revocation_poll_interval: Duration,
    /// `RATE_LIMIT_SIGN_IN_PER_MINUTE` (high by default: suites make many
    /// sign-ins from one address).
    pub sign_in_rate_per_minute: u32,
    /// `TRUSTED_PROXY_HOPS`.
    pub trusted_proxy_hops: usize,
    /// `APP_SERVICE_ACCOUNTS` names the apps' accounts (without it the
    /// apps' back-channel routes, the revocation feed among them, refuse).
    pub app_accounts_registered: bool,
    /// Which provider the mock imitates (Google, as documented, by default).
    pub provider_dialect: mock_provider::Dialect,
    /// `OIDC_ID_TOKEN_ALGORITHMS` (empty: the default, RS256).
    pub id_token_algorithms: &'static str,
    /// `ALLOWED_HOSTED_DOMAINS`.
    pub allowed_hosted_domains: Vec<String>,
    /// Sign in at another OpenID provider instead of the mock (which still
    /// mints the service accounts' ID tokens).
    pub external_provider: Option<ExternalProvider>,
    /// Sets the mock up before the services start (and discover it).
    pub configure_provider: Option<fn(&MockProvider)>,
    /// More variables of the public service, or replacements.
    pub public_env: Vec<(&'static str, String)>,
}

/// An OpenID provider started by the test itself, with our client
/// registered for `http://{AUTH_HOST}:{port of auth_listener}/callback`.
pub struct ExternalProvider {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// The public service's listener, bound before the provider started
    /// (its redirect URI names the port).
    pub auth_listener: TcpListener,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            backend: Backend::Sqlite,
            delivery: TestDelivery::SharedCookie,
            second_app: false,
            other_app_host: OTHER_APP_HOST,
            second_app_kind: SecondApp::PrivateService,
            hosts: (AUTH_HOST, APP_HOST),
            parent_domain: PARENT_DOMAIN,
            gate_upstream: None,
            gate_max_body_bytes: ::gate::settings::DEFAULT_MAX_BODY_BYTES,
            interactive_provider: false,
            allowed_emails: vec!["alice@example.com".into()],
            allowed_domains: vec!["corp.example".into()],
            handoff_ttl: Duration::from_secs(600),
            provider_timeout: Duration::from_secs(5),
            auth_method: ClientAuthMethod::ClientSecretBasic,
            discovery_fails_at_start: false,
            session_idle_timeout: Duration::from_secs(7 * 86_400),
            session_max_lifetime: Duration::from_secs(30 * 86_400),
            renewal_checks_grant: false,
            sign_out_revokes_grant: false,
            sign_out_at_provider: false,
            offline_access: "google",
            extra_auth_params: "",
            oidc_scopes: "",
            database_port: None,
            provider_behind_proxy: false,
            provider_down_at_start: false,
            provider_misbehaviours_at_start: Vec::new(),
            previous_signing_key: false,
            jwks_max_age: Duration::from_secs(300),
            revocation_poll_interval: REVOCATION_POLL_INTERVAL,
            sign_in_rate_per_minute: 6000,
            trusted_proxy_hops: 0,
            app_accounts_registered: true,
            provider_dialect: mock_provider::Dialect::Google,
            id_token_algorithms: "",
            allowed_hosted_domains: Vec::new(),
            external_provider: None,
            configure_provider: None,
            public_env: Vec::new(),
        }
    }
}

/// The public service running as a child process; killed when dropped.
struct ChildService(Child);

impl Drop for ChildService {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct TestApp {
    pub provider: MockProvider,
    pub auth_url: Url,
    pub app_url: Url,
    pub auth_addr: SocketAddr,
    pub app_addr: SocketAddr,
    /// The second app, when asked for.
    pub other_app: Option<(Url, SocketAddr)>,
    pub delivery: TestDelivery,
    hosts: (&'static str, &'static str),
    other_app_host: &'static str,
    pub client_secret: String,
    /// The clock of the public service and the app, to age transactions,
    /// sessions and tokens without sleeping (in-process instances only).
    pub public_clock: OffsetClock,
    pub db: TestDatabase,
    /// Every secret this deployment was configured with, for leak checks.
    pub configured_secrets: Vec<String>,
    signing_pem: String,
    kid: String,
    previous_pem: Option<String>,
    public_env: Vec<(&'static str, String)>,
    /// The in-process public service; `None` while stopped.
    public_handle: Mutex<Option<ServerHandle>>,
    /// The store the in-process public service serves from (the same
    /// handle, so its counters are the instance's).
    pub public_storage: Arc<dyn Storage>,
    child: Mutex<Option<ChildService>>,
    /// What another instance of the app is built from.
    app_recipe: AppRecipe,
    provider_proxy: Option<CuttableProxy>,
}

/// The parts of an app's configuration that are not per instance.
struct AppRecipe {
    jwks_max_age: Duration,
    revocation_poll_interval: Duration,
    parent_domain: &'static str,
    people: AccessPolicy,
    delivery: AppDelivery,
}

fn database_url(url: &str, port: Option<u16>) -> String {
    match port {
        Some(port) => {
            let mut url = Url::parse(url).expect("a database URL");
            url.set_port(Some(port)).expect("a URL with a host");
            url.into()
        }
        None => url.to_owned(),
    }
}

/// What every app of a test deployment shares.
struct AppContext<'a> {
    jwks_max_age: Duration,
    revocation_poll_interval: Duration,
    auth_url: &'a Url,
    auth_addr: SocketAddr,
    provider: &'a MockProvider,
    people: AccessPolicy,
    delivery: AppDelivery,
    clock: SharedClock,
    trusted_proxy_hops: usize,
    parent_domain: &'a str,
    gate_upstream: Option<Url>,
    gate_max_body_bytes: u64,
}

/// Starts one private app.
/// What runs as the second app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondApp {
    /// The demo app, as the first one.
    PrivateService,
    /// `examples/reports-service`: actix-web with `handoff_guard::Guard`.
    ReportsOnActix,
    /// `examples/axum-service`: axum with `handoff_guard::Guard`.
    Axum,
    /// `handoff-gate` in front of an upstream that answers with the
    /// request headers it received, as JSON.
    Gate,
}

/// An example service (`examples/reports-service` or
/// `examples/axum-service`), built from the two URLs as its `main` builds
/// it, with the harness's clock, back channel and metadata server.
async fn spawn_example_app(
    kind: SecondApp,
    listener: TcpListener,
    app_url: &Url,
    metadata_url: &str,
    ctx: &AppContext<'_>,
) {
    let mut builder = handoff_guard::Guard::builder_with_loopback_names(
        ctx.auth_url.as_str(),
        app_url.as_str(),
        &TEST_HOSTS,
    )
    .expect("the test URLs are origins")
    .back_channel(Url::parse(&format!("http://{}", ctx.auth_addr)).unwrap())
    .metadata_server(Url::parse(metadata_url).unwrap())
    .revocation_every(ctx.revocation_poll_interval)
    .clock(ctx.clock.clone());
    if ctx.delivery == AppDelivery::Cookie {
        builder = builder.parent_domain_cookie();
    }
    let guard = builder.build();
    if kind == SecondApp::ReportsOnActix {
        let routes = reports_service::routes(&guard);
        let server =
            actix_web::HttpServer::new(move || actix_web::App::new().configure(routes.clone()))
                .workers(1)
                .listen(listener)
                .expect("the reports service listens")
                .run();
        tokio::spawn(server);
        return;
    }
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    tokio::spawn(async move {
        axum::serve(listener, axum_service::router(guard))
            .await
            .expect("the axum app serves");
    });
}

async fn spawn_app(listener: TcpListener, app_url: &Url, metadata_url: &str, ctx: &AppContext<'_>) {
    let (auth_url, auth_addr, delivery, clock) =
        (ctx.auth_url, ctx.auth_addr, ctx.delivery, ctx.clock.clone());
    let settings = private_service::settings::Settings {
        bind_address: "127.0.0.1".into(),
        port: 0,
        app_url: app_url.clone(),
        auth_url: auth_url.clone(),
        // The app reaches the public service on loopback directly.
        backchannel_url: Url::parse(&format!("http://{auth_addr}")).unwrap(),
        keys: KeySettings::Remote {
            jwks_url: Url::parse(&format!("http://{auth_addr}/.well-known/jwks.json")).unwrap(),
            options: RemoteJwksOptions {
                min_refetch_interval: Duration::from_secs(1),
                max_age: ctx.jwks_max_age,
                ..RemoteJwksOptions::default()
            },
        },
        revocation_poll_interval: Some(ctx.revocation_poll_interval),
        metadata_url: Url::parse(metadata_url).unwrap(),
        delivery,
        id_tokens: Some(IdTokenSettings {
            issuers: vec![ctx.provider.issuer()],
            jwks_url: Url::parse(&format!("{}/oauth2/v3/certs", ctx.provider.issuer())).unwrap(),
            person_audiences: vec![EXTENSION_CLIENT_ID.into()],
            people: Some(ctx.people.clone()),
            service_accounts: vec![TASKS_ACCOUNT.into()],
            refetch_interval: Duration::from_secs(1),
        }),
        cors_origins: vec![EXTENSION_ORIGIN.into()],
        workers: 1,
        metrics: service_kit::metrics::MetricsAccess::Token(METRICS_TOKEN.into()),
        cookie_domain: (delivery == AppDelivery::Cookie).then(|| ctx.parent_domain.to_owned()),
        handoff_per_minute: 60,
        trusted_proxy_hops: ctx.trusted_proxy_hops,
    };
    let app = private_service::startup::Application::build_with(settings, Some(listener), clock)
        .await
        .expect("the private app starts");
    tokio::spawn(app.run_until_stopped());
}

/// `env` with each of `changes` replacing the variable of its name, or added.
fn with_changes<K: AsRef<str>>(
    mut env: Vec<(&'static str, String)>,
    changes: &[(K, String)],
) -> Vec<(&'static str, String)> {
    for (name, value) in changes {
        match env.iter_mut().find(|(k, _)| *k == name.as_ref()) {
            Some(entry) => entry.1 = value.clone(),
            None => env.push((leak(name.as_ref()), value.clone())),
        }
    }
    env
}

/// Variable names live as long as the test process (a handful per test).
fn leak(name: &str) -> &'static str {
    Box::leak(name.to_owned().into_boxed_str())
}

/// Below the ephemeral range: the public service may be restarted as a
/// process on its old port, which no outgoing connection may take meanwhile.
fn bind() -> TcpListener {
    crate::ports::listener()
}

fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

impl TestApp {
    /// `/metrics` of the service at `addr`, read with [`METRICS_TOKEN`].
    pub async fn metrics_of(&self, addr: SocketAddr) -> String {
        let response = reqwest::Client::new()
            .get(format!("http://{addr}/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "/metrics with its token");
        response.text().await.unwrap()
    }

    /// The whole stack on SQLite.
    pub async fn spawn() -> Self {
        Self::spawn_with(TestOptions::default()).await
    }

    /// The whole stack on SQLite with `options` (`options.backend` ignored).
    pub async fn spawn_with(options: TestOptions) -> Self {
        Self::try_spawn_with(TestOptions {
            backend: Backend::Sqlite,
            ..options
        })
        .await
        .expect("SQLite is always available")
    }

    /// The whole stack on `backend`, or `None` (reason printed) when that
    /// backend is not available here.
    pub async fn try_spawn_on(backend: Backend) -> Option<Self> {
        Self::try_spawn_with(TestOptions {
            backend,
            ..TestOptions::default()
        })
        .await
    }

    pub async fn try_spawn_with(mut options: TestOptions) -> Option<Self> {
        logs::install();
        let db = TestDatabase::create(options.backend).await?;
        let external = options.external_provider.take();
        let (provider_listener, app_listener) = (bind(), bind());
        let auth_listener = match &external {
            Some(external) => external
                .auth_listener
                .try_clone()
                .expect("the public service's listener"),
            None => bind(),
        };
        let auth_addr = auth_listener.local_addr().unwrap();
        let app_addr = app_listener.local_addr().unwrap();
        let (auth_host, app_host) = options.hosts;
        let auth_url = Url::parse(&format!("http://{auth_host}:{}", auth_addr.port())).unwrap();
        let app_url = Url::parse(&format!("http://{app_host}:{}", app_addr.port())).unwrap();
        let other_listener = options.second_app.then(bind);
        let other_app_host = match options.parent_domain {
            LOCALHOST_PARENT_DOMAIN => LOCALHOST_OTHER_APP_HOST,
            _ => options.other_app_host,
        };
        let other_app = other_listener.as_ref().map(|l| {
            let addr = l.local_addr().unwrap();
            let url = Url::parse(&format!("http://{other_app_host}:{}", addr.port())).unwrap();
            (url, addr)
        });
        let mock_client_secret = service_kit::random::url_safe_token(24);
        let (external_issuer, client_id, client_secret) = match &external {
            Some(e) => (
                Some(e.issuer.clone()),
                e.client_id.clone(),
                e.client_secret.clone(),
            ),
            None => (None, CLIENT_ID.to_owned(), mock_client_secret.clone()),
        };
        let redirect_uri = format!("{}callback", auth_url);

        let provider_proxy = match options.provider_behind_proxy || options.provider_down_at_start {
            true => Some(CuttableProxy::to(provider_listener.local_addr().unwrap()).await),
            false => None,
        };
        let mut provider = MockProvider::builder()
            .client(CLIENT_ID, &mock_client_secret, &[redirect_uri.as_str()])
            .extension_client(EXTENSION_CLIENT_ID, EXTENSION_ID)
            .extension_client(UNLISTED_EXTENSION_CLIENT_ID, EXTENSION_ID)
            .dialect(options.provider_dialect)
            .interactive(options.interactive_provider)
            .listener(provider_listener);
        if let Some(proxy) = &provider_proxy {
            provider = provider.issuer(&format!("http://{}", proxy.addr()));
        }
        let provider = provider.start().await.expect("the mock provider starts");
        if options.discovery_fails_at_start {
            provider.misbehave(mock_provider::Misbehaviour::DiscoveryStatus(500));
        }
        if let Some(configure) = options.configure_provider {
            configure(&provider);
        }
        for misbehaviour in &options.provider_misbehaviours_at_start {
            provider.misbehave(misbehaviour.clone());
        }
        if let (true, Some(proxy)) = (options.provider_down_at_start, &provider_proxy) {
            proxy.cut().await;
        }

        let mut app_origins = vec![app_url.origin().ascii_serialization()];
        let mut app_accounts = vec![format!("{}={APP_ACCOUNT}", app_origins[0])];
        if let Some((other_url, _)) = &other_app {
            let origin = other_url.origin().ascii_serialization();
            app_accounts.push(format!("{origin}={OTHER_APP_ACCOUNT}"));
            app_origins.push(origin);
        }
        let delivery_env: Vec<(&'static str, String)> = match options.delivery {
            TestDelivery::SharedCookie => vec![
                ("HANDOFF_DELIVERY", "cookie".into()),
                ("HANDOFF_COOKIE_DOMAIN", options.parent_domain.into()),
            ],
            TestDelivery::Code => vec![("HANDOFF_DELIVERY", "code".into())],
        };

        let signing_pem = tokens::new_p256_pem();
        let previous_pem = options.previous_signing_key.then(tokens::new_p256_pem);
        let kid = SigningKey::from_pem(&SecretString::from(signing_pem.clone()))
            .unwrap()
            .kid()
            .to_owned();
        let cookie_secret = STANDARD.encode(rand::random::<[u8; 32]>());
        let token_keys = format!("k1:{}", STANDARD.encode(rand::random::<[u8; 32]>()));
        let public_env: Vec<(&'static str, String)> = vec![
            ("BIND_ADDRESS", "127.0.0.1".into()),
            ("PORT", auth_addr.port().to_string()),
            ("WORKERS", "1".into()),
            ("PUBLIC_URL", auth_url.to_string()),
            (
                "OIDC_ISSUER_URL",
                external_issuer.unwrap_or_else(|| provider.issuer()),
            ),
            ("OIDC_CLIENT_ID", client_id),
            ("OIDC_CLIENT_SECRET", client_secret.clone()),
            (
                "OIDC_ID_TOKEN_ALGORITHMS",
                options.id_token_algorithms.into(),
            ),
            (
                "OIDC_CLIENT_AUTH_METHOD",
                match options.auth_method {
                    ClientAuthMethod::ClientSecretBasic => "client_secret_basic".into(),
                    ClientAuthMethod::ClientSecretPost => "client_secret_post".into(),
                },
            ),
            ("OIDC_SCOPES", options.oidc_scopes.into()),
            (
                "OIDC_OPTIONAL_SCOPES",
                format!("{DRIVE_SCOPE},{CALENDAR_SCOPE}"),
            ),
            ("OFFLINE_ACCESS", options.offline_access.into()),
            ("OIDC_EXTRA_AUTH_PARAMS", options.extra_auth_params.into()),
            ("PROVIDER_NAME", "Mock".into()),
            ("PROVIDER_TIMEOUT", seconds(options.provider_timeout)),
            ("PROVIDER_CONNECT_TIMEOUT", "2s".into()),
            ("PROVIDER_JWKS_REFETCH_INTERVAL", "1s".into()),
            ("APP_ORIGINS", app_origins.join(",")),
            ("HANDOFF_TTL", seconds(options.handoff_ttl)),
            ("SIGNING_KEY", signing_pem.clone()),
            (
                "PREVIOUS_SIGNING_KEYS",
                previous_pem.clone().unwrap_or_default(),
            ),
            ("COOKIE_SECRET", cookie_secret.clone()),
            ("LOGIN_TIMEOUT", "10m".into()),
            ("ALLOWED_EMAILS", options.allowed_emails.join(",")),
            ("ALLOWED_DOMAINS", options.allowed_domains.join(",")),
            (
                "ALLOWED_HOSTED_DOMAINS",
                options.allowed_hosted_domains.join(","),
            ),
            ("DATABASE_URL", database_url(&db.url, options.database_port)),
            // Firestore's emulator is one JVM that every Firestore test of a
            // run shares: on a loaded 2-core machine a call can take
            // seconds, where a production store answers in milliseconds.
            (
                "DATABASE_TIMEOUT",
                match db.backend {
                    Backend::Firestore => "15s",
                    Backend::Sqlite | Backend::Postgres => "2s",
                }
                .into(),
            ),
            ("TOKEN_ENCRYPTION_KEYS", token_keys.clone()),
            (
                "SESSION_IDLE_TIMEOUT",
                seconds(options.session_idle_timeout),
            ),
            (
                "SESSION_MAX_LIFETIME",
                seconds(options.session_max_lifetime),
            ),
            (
                "RENEWAL_CHECKS_GRANT",
                options.renewal_checks_grant.to_string(),
            ),
            (
                "SIGN_OUT_REVOKES_GRANT",
                options.sign_out_revokes_grant.to_string(),
            ),
            (
                "SIGN_OUT_AT_PROVIDER",
                options.sign_out_at_provider.to_string(),
            ),
            (
                "BROKER_ALLOWED_CALLERS",
                format!("{BROKER_CALLER},{NARROW_CALLER}"),
            ),
            (
                "BROKER_CALLER_SCOPES",
                format!(
                    "{BROKER_CALLER}=openid email profile {DRIVE_SCOPE} {CALENDAR_SCOPE},{NARROW_CALLER}={}",
                    NARROW_CALLER_RULES.0
                ),
            ),
            (
                "BROKER_CALLER_USERS",
                format!("{NARROW_CALLER}={}", NARROW_CALLER_RULES.1),
            ),
            ("METRICS_TOKEN", METRICS_TOKEN.into()),
            (
                "APP_SERVICE_ACCOUNTS",
                if options.app_accounts_registered {
                    app_accounts.join(",")
                } else {
                    String::new()
                },
            ),
            (
                "RATE_LIMIT_SIGN_IN_PER_MINUTE",
                options.sign_in_rate_per_minute.to_string(),
            ),
            ("TRUSTED_PROXY_HOPS", options.trusted_proxy_hops.to_string()),
            ("CALLER_TOKEN_ISSUERS", provider.issuer()),
            (
                "CALLER_TOKEN_JWKS_URL",
                format!("{}/oauth2/v3/certs", provider.issuer()),
            ),
        ];
        let firestore_env = db
            .firestore_emulator
            .iter()
            .map(|host| ("FIRESTORE_EMULATOR_HOST", host.clone()));
        let public_env = with_changes(
            public_env
                .into_iter()
                .chain(delivery_env)
                .chain(firestore_env)
                .collect(),
            &options.public_env,
        );
        let public_clock = OffsetClock::default();
        let public_settings =
            public_service::settings::Settings::from_env(&test_env(public_env.iter().cloned()))
                .expect("the test environment is a valid configuration");
        let public = public_service::startup::Application::build_with(
            public_settings,
            Some(auth_listener),
            Arc::new(public_clock.clone()),
        )
        .await
        .expect("the public service starts");
        let public_handle = public.handle();
        let public_storage = public.storage();
        tokio::spawn(public.run_until_stopped());

        let app_delivery = match options.delivery {
            TestDelivery::SharedCookie => AppDelivery::Cookie,
            TestDelivery::Code => AppDelivery::Code,
        };
        let app_recipe = AppRecipe {
            jwks_max_age: options.jwks_max_age,
            revocation_poll_interval: options.revocation_poll_interval,
            parent_domain: options.parent_domain,
            people: AccessPolicy::new(
                options.allowed_emails.clone(),
                options.allowed_domains.clone(),
                options.allowed_hosted_domains.clone(),
                false,
            ),
            delivery: app_delivery,
        };
        let context = AppContext {
            jwks_max_age: app_recipe.jwks_max_age,
            revocation_poll_interval: app_recipe.revocation_poll_interval,
            auth_url: &auth_url,
            auth_addr,
            provider: &provider,
            people: app_recipe.people.clone(),
            delivery: app_recipe.delivery,
            clock: Arc::new(public_clock.clone()),
            trusted_proxy_hops: options.trusted_proxy_hops,
            parent_domain: options.parent_domain,
            gate_upstream: options.gate_upstream.clone(),
            gate_max_body_bytes: options.gate_max_body_bytes,
        };
        spawn_app(app_listener, &app_url, &provider.metadata_url(), &context).await;
        if let (Some(listener), Some((other_url, _))) = (other_listener, &other_app) {
            let metadata = provider.metadata_url_for(OTHER_APP_ACCOUNT);
            match options.second_app_kind {
                SecondApp::PrivateService => {
                    spawn_app(listener, other_url, &metadata, &context).await
                }
                SecondApp::Gate => gate::spawn(listener, other_url, &metadata, &context).await,
                kind => spawn_example_app(kind, listener, other_url, &metadata, &context).await,
            }
        }

        Some(Self {
            provider,
            auth_url,
            app_url,
            auth_addr,
            app_addr,
            other_app,
            delivery: options.delivery,
            hosts: options.hosts,
            other_app_host,
            configured_secrets: vec![
                client_secret.clone(),
                mock_client_secret,
                cookie_secret,
                token_keys,
                signing_pem.clone(),
                METRICS_TOKEN.into(),
            ],
            client_secret,
            public_clock,
            db,
            signing_pem,
            kid,
            previous_pem,
            public_env,
            public_handle: Mutex::new(Some(public_handle)),
            public_storage,
            child: Mutex::new(None),
            app_recipe,
            provider_proxy,
        })
    }

    /// Stops the public service and starts it again as a new process with
    /// the same configuration and database, on the same port. Its log lines
    /// join the captured logs. `binary`: the test's
    /// `env!("CARGO_BIN_EXE_public-service-under-test")` (Cargo tells only
    /// test targets where it is).
    pub async fn restart_public_service(&self, binary: &str) {
        self.restart_public_service_with(binary, &[]).await;
    }

    /// The same, with some variables changed (an operator's redeploy).
    pub async fn restart_public_service_with(&self, binary: &str, changes: &[(&str, &str)]) {
        self.stop_public_service().await;
        let mut command = Command::new(binary);
        command
            .env_clear()
            .envs(self.public_env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "debug")
            // As on Cloud Run: structured JSON lines.
            .env("LOG_FORMAT", "json")
            .env("GOOGLE_CLOUD_PROJECT", "test-project")
            .envs(changes.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the public service binary starts");
        logs::capture_stream(child.stdout.take().unwrap());
        logs::capture_stream(child.stderr.take().unwrap());
        *self.child.lock().unwrap() = Some(ChildService(child));
        let health = format!("http://{}/healthz", self.auth_addr);
        for _ in 0..100 {
            if let Ok(response) = reqwest::get(&health).await {
                if response.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the restarted public service did not become healthy");
    }

    /// Moves every clock of the deployment (provider, public service, app)
    /// forward, as if `by` had passed.
    pub fn advance_time(&self, by: Duration) {
        self.public_clock.advance(by);
        self.provider.advance_clock(by);
    }

    /// Another instance of the public service on the same database and
    /// clock, as a second Cloud Run instance would be. Returns its address.
    pub async fn spawn_second_public_instance(&self) -> SocketAddr {
        let listener = bind();
        let addr = listener.local_addr().unwrap();
        let settings = public_service::settings::Settings::from_env(&test_env(
            self.public_env.iter().cloned(),
        ))
        .unwrap();
        let second = public_service::startup::Application::build_with(
            settings,
            Some(listener),
            Arc::new(self.public_clock.clone()),
        )
        .await
        .expect("a second instance starts");
        tokio::spawn(second.run_until_stopped());
        addr
    }

    /// The public service's database, for inspecting what it stored.
    pub async fn store(&self) -> Arc<dyn Storage> {
        self.db.open_store().await
    }

    /// The cipher the public service seals tokens with.
    pub fn token_cipher(&self) -> TokenCipher {
        let ring = self
            .public_env
            .iter()
            .find(|(k, _)| *k == "TOKEN_ENCRYPTION_KEYS")
            .map(|(_, v)| SecretString::from(v.clone()))
            .unwrap();
        TokenCipher::from_key_ring(&ring).unwrap()
    }

    /// The refresh token stored for `email` (a mock user), opened.
    pub async fn stored_refresh_token(&self, email: &str) -> Option<String> {
        self.stored_refresh_token_of(&MockUser::new(email).sub)
            .await
    }

    /// The refresh token stored for `subject`, opened.
    pub async fn stored_refresh_token_of(&self, subject: &str) -> Option<String> {
        let grant = self.store().await.grant(subject).await.unwrap()?;
        let sealed = grant.refresh_token?;
        let opened = self
            .token_cipher()
            .open(&sealed, &format!("refresh_token:{subject}"))
            .expect("the stored refresh token opens");
        Some(secrecy::ExposeSecret::expose_secret(&opened).to_owned())
    }

    /// The issuer the public service signs people in at (`OIDC_ISSUER_URL`).
    pub fn configured_provider_issuer(&self) -> String {
        self.public_env
            .iter()
            .find(|(k, _)| *k == "OIDC_ISSUER_URL")
            .map(|(_, v)| v.clone())
            .expect("OIDC_ISSUER_URL is set")
    }

    /// The process id of the public service when it runs as a process
    /// (after [`Self::restart_public_service`]).
    pub fn public_process_id(&self) -> Option<u32> {
        self.child.lock().unwrap().as_ref().map(|c| c.0.id())
    }

    /// Waits up to `limit` for the public service's process to exit.
    pub async fn wait_for_public_exit(&self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(child) = self.child.lock().unwrap().as_mut() {
                if let Ok(Some(status)) = child.0.try_wait() {
                    return Some(status);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// A browser that finds the test hosts.
    pub fn browser(&self) -> Browser {
        let mut hosts = vec![
            (self.hosts.0, self.auth_addr),
            (self.hosts.1, self.app_addr),
        ];
        if let Some((_, addr)) = &self.other_app {
            hosts.push((self.other_app_host, *addr));
        }
        Browser::new(&hosts)
    }

    pub fn auth(&self, path_and_query: &str) -> String {
        format!(
            "{}{}",
            self.auth_url.as_str().trim_end_matches('/'),
            path_and_query
        )
    }

    pub fn app(&self, path_and_query: &str) -> String {
        format!(
            "{}{}",
            self.app_url.as_str().trim_end_matches('/'),
            path_and_query
        )
    }

    /// A URL on the second app.
    pub fn other_app(&self, path_and_query: &str) -> String {
        let (url, _) = self.other_app.as_ref().expect("a second app was asked for");
        format!("{}{}", url.as_str().trim_end_matches('/'), path_and_query)
    }

    pub fn other_app_audience(&self) -> String {
        let (url, _) = self.other_app.as_ref().expect("a second app was asked for");
        url.origin().ascii_serialization()
    }

    pub fn app_audience(&self) -> String {
        self.app_url.origin().ascii_serialization()
    }

    /// The name of the app's handoff cookie: `__Secure-handoff-…` (its
    /// own) on the shared parent domain, `__Host-handoff` with codes.
    pub fn handoff_cookie(&self) -> String {
        match self.delivery {
            TestDelivery::SharedCookie => {
                handoff_guard::login_service::parent_domain_name(&self.app_audience())
            }
            TestDelivery::Code => handoff_guard::HOST_ONLY_NAME.to_owned(),
        }
    }

    pub fn issuer(&self) -> String {
        self.auth_url.as_str().trim_end_matches('/').to_owned()
    }

    /// Starts a sign-in at `/login` and stops at the provider's redirect
    /// back to the callback, returning that callback URL without visiting it.
    pub async fn callback_url_for(&self, browser: &Browser, email: &str) -> String {
        self.signing_in(email)
            .in_browser(browser)
            .at_login()
            .callback_url()
            .await
    }

    /// An ID token of `email`'s service account for the public service, as
    /// Cloud Run's metadata server would mint it.
    pub fn caller_token(&self, email: &str) -> String {
        self.provider
            .mint_service_account_token(email, &self.issuer())
    }

    /// Calls the token broker as `caller` (a Bearer token, or none).
    pub async fn broker(&self, caller: Option<&str>, body: serde_json::Value) -> BrokerAnswer {
        self.broker_at(self.auth_addr, caller, body).await
    }

    /// Calls the token broker of the instance at `instance`.
    pub async fn broker_at(
        &self,
        instance: SocketAddr,
        caller: Option<&str>,
        body: serde_json::Value,
    ) -> BrokerAnswer {
        let mut request = reqwest::Client::new()
            .post(format!("http://{instance}/broker/token"))
            .json(&body);
        if let Some(token) = caller {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the broker answers");
        let status = response.status().as_u16();
        let json = response.json().await.unwrap_or(serde_json::Value::Null);
        BrokerAnswer { status, json }
    }

    /// The broker's answer for `email`'s grant, asked by the allowed caller.
    pub async fn broker_token_for(&self, email: &str, scopes: &[&str]) -> BrokerAnswer {
        let token = self.caller_token(BROKER_CALLER);
        self.broker(
            Some(&token),
            serde_json::json!({ "subject": MockUser::new(email).sub, "scopes": scopes }),
        )
        .await
    }

    /// Claims a valid handoff token for this app would carry.
    pub fn claims_for(&self, email: &str) -> HandoffClaims {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        HandoffClaims {
            iss: self.issuer().into(),
            aud: self.app_audience().into(),
            sub: MockUser::new(email).sub.into(),
            email: email.into(),
            name: None,
            sid: service_kit::random::url_safe_token(16).into(),
            iat: now,
            nbf: now,
            exp: now + 300,
            jti: service_kit::random::url_safe_token(16),
        }
    }

    /// The session id (`sid`) of a handoff token this deployment issued,
    /// after checking its signature.
    pub async fn verified_sid(&self, token: &str) -> String {
        let key = SigningKey::from_pem(&SecretString::from(self.signing_pem.clone())).unwrap();
        let keys = handoff_guard::KeySet::from_jwks(&jsonwebtoken::jwk::JwkSet {
            keys: vec![key.public_jwk().clone()],
        });
        let verifier = handoff_guard::HandoffVerifier::new(
            handoff_guard::Issuer::new(self.issuer()),
            handoff_guard::Audience::new(self.app_audience()),
            handoff_guard::KeySource::Static(keys),
        )
        .with_clock(Arc::new(self.public_clock.clone()));
        verifier
            .verify(token)
            .await
            .expect("a handoff token of this deployment")
            .sid
            .into_string()
    }

    /// Signs with the public service's real key: what a leaked key could do.
    pub fn sign(&self, claims: &HandoffClaims) -> String {
        tokens::sign_es256(&self.signing_pem, &self.kid, claims)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs with the previous (rotated-out) key, as a token issued before
    /// the rotation was.
    pub fn sign_with_previous_key(&self, claims: &HandoffClaims) -> String {
        let pem = self
            .previous_pem
            .as_ref()
            .expect("TestOptions::previous_signing_key was set");
        let kid = SigningKey::from_pem(&SecretString::from(pem.clone()))
            .unwrap()
            .kid()
            .to_owned();
        tokens::sign_es256(pem, &kid, claims)
    }

    pub fn signing_pem(&self) -> &str {
        &self.signing_pem
    }
}

#[derive(Debug)]
pub struct BrokerAnswer {
    pub status: u16,
    pub json: serde_json::Value,
}

impl BrokerAnswer {
    pub fn access_token(&self) -> &str {
        self.json["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token in {} {}", self.status, self.json))
    }

    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or_default()
    }
}

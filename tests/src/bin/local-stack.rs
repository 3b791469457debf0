//! One command for the whole stack on localhost: the mock provider with its
//! sign-in page, the public service and the private app, with ephemeral
//! dev-only keys. With `OIDC_CLIENT_ID` and `OIDC_CLIENT_SECRET` set (and
//! `http://localhost:8000/callback` registered as a redirect URI), the
//! public service talks to Google (or `OIDC_ISSUER_URL`) instead.
//!
//! By default both services share the host `localhost` (cookies ignore
//! ports): the cookie delivery, with a host-only `__Host-handoff` cookie set
//! by the public service. With `HANDOFF_DELIVERY=code` the app moves to
//! `127.0.0.1`, another site, and receives one-time codes that it redeems
//! over the back channel, as two default Cloud Run URLs would.

use std::process::ExitCode;

use mock_provider::MockProvider;
use service_kit::config::Env;

const MOCK_CLIENT_ID: &str = "local-dev-client";
const MOCK_CLIENT_SECRET: &str = "local-dev-secret-not-for-production";
const LOCAL_APP_ACCOUNT: &str = "app@local-stack.iam.gserviceaccount.com";

fn port(name: &str, default: u16) -> u16 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Which service wrote a log line: the server thread's tag
/// ([`service_kit::telemetry::set_thread_service`]), else the module it came from.
fn service_of(target: &str) -> &'static str {
    if let Some(name) = service_kit::telemetry::thread_service() {
        return name;
    }
    let from = |prefixes: &[&str]| prefixes.iter().any(|p| target.starts_with(p));
    if from(&["mock_provider"]) {
        "provider"
    } else if from(&[
        "public_service",
        "handoff_guard::policy",
        "service_kit::access",
    ]) {
        "auth"
    } else if from(&[
        "private_service",
        "handoff_guard::revocation",
        "handoff_guard::jwks",
        "handoff_guard::verifier",
        "handoff_guard::gate",
        "handoff_guard::actix",
        "handoff_guard::handoff_code",
        "handoff_guard::metadata",
    ]) {
        "app"
    } else {
        "stack"
    }
}

/// Every line starts with `[provider]`, `[auth]`, `[app]` or `[stack]`.
struct Tagged<F>(F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for Tagged<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let tag = service_of(event.metadata().target());
        write!(writer, "{:<10} ", format!("[{tag}]"))?;
        self.0.format_event(ctx, writer, event)
    }
}

/// Logs for a person at a terminal: tagged lines, info and above unless
/// `RUST_LOG` says otherwise.
fn init_logs() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .event_format(Tagged(service_kit::telemetry::TextFormat))
        .try_init();
}

/// Waits until `url`/readyz answers 200 (at most 30 s); false if it never did.
async fn ready(url: &str) -> bool {
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let answer = client.get(format!("{url}/readyz")).send().await;
        if answer.is_ok_and(|a| a.status().is_success()) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logs();
    let (mock_port, auth_port, app_port) = (
        port("MOCK_PORT", 9000),
        port("AUTH_PORT", 8000),
        port("APP_PORT", 8001),
    );
    let code_delivery = match std::env::var("HANDOFF_DELIVERY").as_deref() {
        Err(_) | Ok("cookie") => false,
        Ok("code") => true,
        Ok(other) => {
            eprintln!(
                "configuration error: HANDOFF_DELIVERY: expected cookie or code, got {other:?}"
            );
            return ExitCode::FAILURE;
        }
    };
    let auth_url = format!("http://localhost:{auth_port}");
    let app_host = if code_delivery {
        "127.0.0.1"
    } else {
        "localhost"
    };
    let app_url = format!("http://{app_host}:{app_port}");
    let real_provider = std::env::var("OIDC_CLIENT_ID").is_ok();
    let delivery = if code_delivery { "code" } else { "cookie" };

    let mut public_env = vec![
        ("BIND_ADDRESS", "127.0.0.1".to_owned()),
        ("PORT", auth_port.to_string()),
        ("METRICS_PUBLIC", "true".into()),
        ("PUBLIC_URL", auth_url.clone()),
        ("APP_ORIGINS", app_url.clone()),
        ("HANDOFF_DELIVERY", delivery.to_owned()),
        ("DEV_MODE", "true".to_owned()),
    ];
    let local_mock = if real_provider {
        for name in [
            "OIDC_ISSUER_URL",
            "OIDC_OPTIONAL_SCOPES",
            "OIDC_CLIENT_ID",
            "OIDC_CLIENT_SECRET",
            "ALLOWED_EMAILS",
            "ALLOWED_DOMAINS",
            "ALLOWED_HOSTED_DOMAINS",
            "ALLOW_ANY_VERIFIED_EMAIL",
        ] {
            if let Ok(value) = std::env::var(name) {
                public_env.push((name, value));
            }
        }
        None
    } else {
        let issuer = format!("http://localhost:{mock_port}");
        let listener = match std::net::TcpListener::bind(("127.0.0.1", mock_port)) {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!(
                    "cannot listen on port {mock_port} for the mock provider: {e} (set MOCK_PORT)"
                );
                return ExitCode::FAILURE;
            }
        };
        let mock = MockProvider::builder()
            .client(
                MOCK_CLIENT_ID,
                MOCK_CLIENT_SECRET,
                &[&format!("{auth_url}/callback")],
            )
            .interactive(true)
            .issuer(&issuer)
            .listener(listener)
            .start()
            .await;
        let mock = match mock {
            Ok(mock) => mock,
            Err(e) => {
                eprintln!("the mock provider did not start: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        public_env.extend([
            ("OIDC_ISSUER_URL", issuer.clone()),
            ("OIDC_CLIENT_ID", MOCK_CLIENT_ID.to_owned()),
            ("OIDC_CLIENT_SECRET", MOCK_CLIENT_SECRET.to_owned()),
            ("ALLOW_ANY_VERIFIED_EMAIL", "true".to_owned()),
            ("PROVIDER_NAME", "the mock provider".to_owned()),
            // The mock behaves like Google: a refresh token only with consent.
            ("OFFLINE_ACCESS", "google".to_owned()),
            // The mock also stands in for the metadata server that gives
            // the app its service-account ID token.
            (
                "APP_SERVICE_ACCOUNTS",
                format!("{app_url}={LOCAL_APP_ACCOUNT}"),
            ),
            ("CALLER_TOKEN_ISSUERS", issuer.clone()),
            ("CALLER_TOKEN_JWKS_URL", format!("{issuer}/oauth2/v3/certs")),
        ]);
        mock.set_metadata_account(LOCAL_APP_ACCOUNT);
        Some(mock)
    };

    // Storage is in memory unless a database (and the key that seals its
    // tokens) is given; so are the broker's callers.
    for name in [
        "DATABASE_URL",
        "TOKEN_ENCRYPTION_KEYS",
        "BROKER_ALLOWED_CALLERS",
        "BROKER_CALLER_SCOPES",
        "BROKER_CALLER_USERS",
        "BROKER_REQUIRES_SESSION",
        "SESSION_IDLE_TIMEOUT",
        "SESSION_MAX_LIFETIME",
    ] {
        if let Ok(value) = std::env::var(name) {
            public_env.push((name, value));
        }
    }
    let public = public_service::settings::Settings::from_env(&Env::from_map(public_env))
        .map_err(|e| format!("public service: {e}"));
    if real_provider && code_delivery {
        eprintln!("configuration error: HANDOFF_DELIVERY=code needs the mock provider locally (it stands in for the metadata server that gives the app its identity)");
        return ExitCode::FAILURE;
    }
    let revocation = match &local_mock {
        // Against Google there is no metadata server on a laptop.
        None => ("REVOCATION_POLL_INTERVAL", "off".to_owned()),
        Some(mock) => ("METADATA_URL", mock.metadata_url()),
    };
    let private = private_service::settings::Settings::from_env(&Env::from_map([
        ("BIND_ADDRESS", "127.0.0.1".to_owned()),
        ("PORT", app_port.to_string()),
        ("METRICS_PUBLIC", "true".to_owned()),
        ("APP_URL", app_url.clone()),
        ("AUTH_URL", auth_url.clone()),
        ("HANDOFF_DELIVERY", delivery.to_owned()),
        revocation,
    ]))
    .map_err(|e| format!("private app: {e}"));
    let (public, private) = match (public, private) {
        (Ok(public), Ok(private)) => (public, private),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let public = match public_service::startup::Application::build(public).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("the public service did not start: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let private = match private_service::startup::Application::build(private).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("the private app did not start: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    tracing::warn!("local stack: DEV_MODE keys are ephemeral and for development only");
    // The banner comes last, once both services say they are ready, so it
    // is the last thing on the screen when there is something to open.
    let banner = async {
        let all_ready = ready(&auth_url).await && ready(&app_url).await;
        if !all_ready {
            tracing::warn!("a service is still not ready after 30 s; the lines above say why");
        }
        println!();
        println!("  Open {app_url}/ in a browser and sign in.");
        if !real_provider {
            println!("  The mock provider's sign-in page accepts any e-mail address.");
        }
        println!("  Public login service: {auth_url}   (Ctrl-C stops everything)");
        println!("  Handoff delivery: {delivery}");
        println!();
    };
    let (result, ()) = tokio::join!(
        async { tokio::try_join!(public.run_until_stopped(), private.run_until_stopped()) },
        banner
    );
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server error: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Building and running the public service.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use handoff_guard::login_service::HandoffSigner;
use handoff_guard::login_service::ServiceCallers;
use handoff_guard::IdTokenVerifier;
use handoff_guard::RemoteJwksOptions;
use handoff_guard::{SharedClock, SystemClock};
use secrecy::ExposeSecret;
use service_kit::rate_limit::{CallerLimiter, Limit, RateLimiter};

use crate::boundary::CallerBudget;
use crate::handoff::HandoffIssuer;
use crate::housekeeping::Housekeeping;
use crate::oidc::OidcClient;
use crate::pages::error_page;
use crate::routes;
use crate::sessions::Sessions;
use crate::settings::Settings;
use crate::state::AppState;
use crate::store::{Storage, StoreOptions, WhenUnreachable};
use crate::token_broker::TokenBroker;

/// Largest request body any route reads (sign-out forms, broker requests).
const MAX_BODY: usize = 16 * 1024;

pub struct Application {
    port: u16,
    server: Server,
    storage: Arc<dyn Storage>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, None, Arc::new(SystemClock)).await
    }

    /// `listener`: an already-bound socket (tests bind port 0 first so the
    /// URL is known before the settings are); `clock`: the time source.
    pub async fn build_with(
        settings: Settings,
        listener: Option<TcpListener>,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        let listener = match listener {
            Some(listener) => listener,
            None => TcpListener::bind((settings.bind_address.as_str(), settings.port))?,
        };
        let port = listener.local_addr()?.port();
        let workers = settings.workers;
        if settings.dev_mode {
            tracing::warn!(
                "DEV_MODE: ephemeral signing and cookie keys; never use this in production"
            );
        }
        let store = crate::store::open(
            settings.database.url.expose_secret(),
            StoreOptions {
                max_connections: settings.database.max_connections,
                timeout: settings.database.timeout,
            },
            &settings.database.firestore,
            WhenUnreachable::WaitInBackground,
        )
        .await
        .map_err(|e| anyhow::anyhow!("DATABASE_URL: {e}"))?;
        if store.is_prepared() {
            tracing::info!("storage ready");
        }
        let limits = settings.rate_limits;
        let limit = |name: &'static str, per_minute: u32| {
            RateLimiter::new(
                name,
                Limit::per_minute(per_minute),
                limits.trusted_proxy_hops,
            )
        };
        let sign_in_limit = limit("sign_in", limits.sign_in_per_minute);
        // The provider's logout tokens come unauthenticated but for their
        // signature: per address, like sign-ins, at the back channel's rate.
        let logout_limit = limit("backchannel_logout", limits.back_channel_per_minute);
        let metrics = web::Data::new(settings.metrics.clone());
        let per_caller = |name: &'static str, per_minute: u32| {
            CallerLimiter::per_caller(name, Limit::per_minute(per_minute))
        };
        let limits = routes::table::Limits {
            sign_in: sign_in_limit,
            provider_logout: logout_limit,
            redeem: CallerBudget(per_caller("handoff_redeem", limits.back_channel_per_minute)),
            broker: CallerBudget(per_caller("broker", limits.broker_per_minute)),
        };
        warn_of_shared_parent_domain(&settings);
        let request_log = web::Data::new(service_kit::telemetry::RequestLog::new(clock.clone()));
        let storage = store.clone();
        let state = web::Data::new(build_state(settings, store, clock)?);
        let housekeeping = web::Data::from(state.housekeeping.clone());
        // Discover now if the provider answers; otherwise on first sign-in.
        if let Err(e) = state.oidc.metadata().await {
            tracing::warn!(reason = %e, "provider discovery failed at start; will retry on first use");
        }
        service_kit::metrics_bridge::install();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(service_kit::telemetry::security_headers())
                .wrap(from_fn(service_kit::service::bounded_headers))
                // Outside the size check: it sees the check's `431`.
                .wrap(from_fn(
                    crate::login_transaction::clear_when_headers_too_large,
                ))
                .wrap(from_fn(crate::housekeeping::on_request))
                .wrap(from_fn(service_kit::telemetry::log_request))
                .app_data(request_log.clone())
                .app_data(state.clone())
                .app_data(housekeeping.clone())
                .app_data(metrics.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .configure(|config| routes::table::configure(&limits, config))
                .default_service(web::to(not_found))
        })
        // Tags this server's threads for a process running several services.
        .on_connect(|_, _| service_kit::telemetry::set_thread_service("auth"))
        .workers(workers)
        .shutdown_timeout(9)
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            storage,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The store this instance serves from (what it has cost so far,
    /// for one).
    pub fn storage(&self) -> Arc<dyn Storage> {
        self.storage.clone()
    }

    /// Stops the server from outside (tests restarting the service).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The service as configured by `env` (the process environment, from
/// `main`).
pub async fn serve_with(env: service_kit::config::Env) -> std::process::ExitCode {
    use service_kit::service::{run, Stop};
    run(async move {
        service_kit::telemetry::init(&env, "info").map_err(Stop::Config)?;
        let settings = Settings::from_env(&env).map_err(Stop::Config)?;
        let application = Application::build(settings).await.map_err(Stop::Start)?;
        tracing::info!(port = application.port(), "public service listening");
        application.run_until_stopped().await.map_err(Stop::Serve)
    })
    .await
}

/// Several apps under one parent domain with cookie delivery: each has a
/// cookie of its own, but every host under the domain receives all of
/// them. Allowed (one operator's apps on one domain is common), and said.
fn warn_of_shared_parent_domain(settings: &Settings) {
    if let crate::apps::Delivery::Cookie {
        domain: Some(domain),
    } = &settings.handoff.delivery
    {
        if settings.apps.apps().len() > 1 {
            tracing::warn!(
                domain = %domain,
                apps = settings.apps.apps().len(),
                "several apps share the handoff cookie's parent domain: every host under it receives \
                 every app's token and could replay it to that app; HANDOFF_DELIVERY=code gives each \
                 app a host-only cookie of its own (see docs/security.md)"
            );
        }
    }
}

pub(crate) fn build_state(
    settings: Settings,
    storage: Arc<dyn Storage>,
    clock: SharedClock,
) -> anyhow::Result<AppState> {
    let issuer = settings.issuer();
    let redirect_url = settings.redirect_url();
    let oidc = Arc::new(OidcClient::new(
        &settings.provider,
        &redirect_url,
        clock.clone(),
    )?);
    let provider_name = settings.provider.display_name.clone();
    let signer = HandoffSigner::new(settings.handoff.signing_key, settings.handoff.previous_keys);
    tracing::info!(kid = signer.active_kid(), "handoff signing key loaded");
    let handoff = HandoffIssuer::new(
        signer,
        handoff_guard::Issuer::new(issuer),
        settings.handoff.ttl,
        settings.handoff.delivery.clone(),
        clock.clone(),
    );
    let callers_from = |allowed: &[String]| {
        (!allowed.is_empty()).then(|| {
            let verifier = IdTokenVerifier::remote(
                &settings.broker.caller_issuers,
                std::slice::from_ref(&settings.broker.caller_audience),
                settings.broker.caller_jwks_url.clone(),
                RemoteJwksOptions {
                    min_refetch_interval: settings.provider.jwks_refetch_interval,
                    timeout: settings.provider.timeout,
                    ..RemoteJwksOptions::default()
                },
            )
            .with_clock(clock.clone());
            ServiceCallers::new(verifier, allowed)
        })
    };
    let callers = callers_from(&settings.broker.allowed_callers);
    let app_callers = callers_from(&settings.apps.service_accounts());
    if app_callers.is_none() {
        // Apps poll /sessions/revoked by default; they would get 404 for
        // ever and stay not ready (private-service's readiness).
        tracing::warn!(
            "APP_SERVICE_ACCOUNTS is empty: apps cannot read the revoked-sessions feed (so they will not become ready while they poll it), redeem one-time codes or end sessions; set APP_SERVICE_ACCOUNTS=<app origin>=<app service account>"
        );
    } else {
        // Some apps have an account and some not: each one without is
        // refused the feed as surely as if the list were empty.
        for app in settings.apps.apps() {
            if app.service_account().is_none() {
                tracing::warn!(
                    app = app.audience(),
                    "an app has no service account in APP_SERVICE_ACCOUNTS: it is refused the revoked-sessions feed, which apps poll by default (it will not become ready); add <app origin>=<its service account>, or set REVOCATION_POLL_INTERVAL=off on that app if it must honour sign-outs only at token expiry"
                );
            }
        }
    }
    // Every component and route holds the contracts it uses, of one backend.
    let broker = TokenBroker::new(
        storage.clone(),
        oidc.clone(),
        settings.token_cipher,
        clock.clone(),
        settings.provider.timeout,
        settings.broker.narrows_scopes,
    );
    Ok(AppState {
        oidc,
        apps: settings.apps,
        policy: settings.policy,
        handoff,
        sessions: Sessions::new(storage.clone(), settings.sessions, clock.clone()),
        housekeeping: Housekeeping::new(storage.clone(), clock.clone()),
        readiness: Default::default(),
        store: storage,
        broker,
        broker_rules: settings.broker.rules,
        broker_requires_session: settings.broker.requires_session,
        callers,
        app_callers,
        cookie_key: settings.cookie_key,
        login_timeout: settings.login_timeout,
        code_ttl: settings.handoff.code_ttl,
        optional_scopes: settings.provider.optional_scopes,
        sign_out: settings.sign_out,
        public_url: settings.public_url,
        clock,
        provider_name,
        dev_mode: settings.dev_mode,
    })
}

async fn not_found() -> actix_web::HttpResponse {
    error_page(
        actix_web::http::StatusCode::NOT_FOUND,
        "Page not found",
        "There is nothing at this address.",
        None,
    )
}

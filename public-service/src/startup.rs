//! Building and running the public service.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use shared::clock::{SharedClock, SystemClock};
use shared::signer::HandoffSigner;

use crate::handoff::HandoffIssuer;
use crate::oidc::OidcClient;
use crate::pages::error_page;
use crate::routes;
use crate::settings::Settings;
use crate::state::AppState;

pub struct Application {
    port: u16,
    server: Server,
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
        let state = web::Data::new(build_state(settings, clock)?);
        // Discover now if the provider answers; otherwise on first sign-in.
        if let Err(e) = state.oidc.metadata().await {
            tracing::warn!(reason = %e, "provider discovery failed at start; will retry on first use");
        }
        let server = HttpServer::new(move || {
            App::new()
                .wrap(shared::telemetry::security_headers())
                .wrap(from_fn(shared::telemetry::log_request))
                .app_data(state.clone())
                .route("/", web::get().to(routes::start::start))
                .route("/login", web::get().to(routes::login::login))
                .route("/callback", web::get().to(routes::callback::callback))
                .route("/.well-known/jwks.json", web::get().to(routes::jwks::jwks))
                .route("/healthz", web::get().to(routes::health::healthz))
                .default_service(web::to(not_found))
        })
        .workers(workers)
        .shutdown_timeout(9)
        .listen(listener)?
        .run();
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn build_state(settings: Settings, clock: SharedClock) -> anyhow::Result<AppState> {
    let issuer = settings.issuer();
    let redirect_url = settings.redirect_url();
    let oidc = OidcClient::new(&settings.provider, &redirect_url, clock.clone())?;
    let provider_name = settings.provider.display_name.clone();
    let signer = HandoffSigner::new(settings.handoff.signing_key, settings.handoff.previous_keys);
    tracing::info!(kid = signer.active_kid(), "handoff signing key loaded");
    let handoff = HandoffIssuer::new(
        signer,
        issuer,
        settings.handoff.ttl,
        settings.handoff.cookie_domain,
        clock.clone(),
    );
    Ok(AppState {
        oidc,
        apps: settings.apps,
        policy: settings.policy,
        handoff,
        cookie_key: settings.cookie_key,
        login_timeout: settings.login_timeout,
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

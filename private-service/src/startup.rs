//! Building and running the private app.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use handoff_guard::CodeRedemption;
use handoff_guard::IdTokenSource;
use handoff_guard::IdTokenVerifier;
use handoff_guard::RemoteJwksOptions;
use handoff_guard::{BearerIdTokens, HandoffGate};
use handoff_guard::{HandoffVerifier, KeySource};
use handoff_guard::{RevocationFeed, RevokedSessions};
use handoff_guard::{SharedClock, SystemClock};
use service_kit::cors::CorsOrigins;
use service_kit::rate_limit::{Limit, RateLimiter};

use crate::routes;
use crate::settings::{AppDelivery, KeySettings, Settings};

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, None, Arc::new(SystemClock)).await
    }

    /// `listener`: an already-bound socket (tests bind port 0 first);
    /// `clock`: the time tokens are checked against and binding verifiers
    /// are dated by.
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
        let request_log = web::Data::new(service_kit::telemetry::RequestLog::new(clock.clone()));
        let mut gate = gate(&settings, clock.clone());
        if let Some(id_tokens) = &settings.id_tokens {
            gate = gate.accepting_id_tokens(BearerIdTokens {
                verifier: IdTokenVerifier::remote(
                    &id_tokens.issuers,
                    &id_tokens
                        .person_audiences
                        .iter()
                        .cloned()
                        .chain([settings.issuer_for_services()])
                        .collect::<Vec<_>>(),
                    id_tokens.jwks_url.clone(),
                    RemoteJwksOptions {
                        min_refetch_interval: id_tokens.refetch_interval,
                        ..RemoteJwksOptions::default()
                    },
                )
                .with_clock(clock.clone()),
                person_audiences: id_tokens.person_audiences.clone(),
                people: id_tokens.people.clone(),
                service_audience: settings.issuer_for_services(),
                service_accounts: id_tokens.service_accounts.clone(),
            });
        }
        // One cache of this app's own ID token for every back-channel call.
        let identity = Arc::new(IdTokenSource::new(
            &settings.metadata_url,
            &settings.issuer(),
        ));
        if let Some(interval) = settings.revocation_poll_interval {
            let feed = RevocationFeed::new(
                settings.revoked_sessions_url(),
                identity.clone(),
                interval,
                Arc::new(RevokedSessions::default()),
                clock.clone(),
            );
            feed.spawn();
            gate = gate.refusing_revoked_from(feed);
        }
        let gate = web::Data::new(gate);
        let metrics = web::Data::new(settings.metrics.clone());
        let auth_origin = settings.auth_url.origin().ascii_serialization();
        let cors_origins = web::Data::new(CorsOrigins(settings.cors_origins.clone()));
        let redemption = (settings.delivery == AppDelivery::Code).then(|| {
            let limiter = RateLimiter::new(
                "handoff",
                Limit::per_minute(settings.handoff_per_minute),
                settings.trusted_proxy_hops,
            );
            web::Data::new(
                CodeRedemption::new(
                    &settings.backchannel_url,
                    &settings.auth_url,
                    handoff_guard::Audience::new(settings.audience()),
                    identity.clone(),
                )
                .with_clock(clock.clone())
                .throttled(limiter),
            )
        });
        let links = web::Data::new(routes::Links {
            // With separate sites the app ends the session itself (see
            // handoff_guard::handoff_code); otherwise the public service's form does.
            logout_url: match settings.delivery {
                AppDelivery::Code => handoff_guard::LOGOUT_PATH.to_owned(),
                AppDelivery::Cookie => settings.logout_url().to_string(),
            },
            app_url: settings.app_url.to_string(),
            sessions_url: settings.sessions_url().to_string(),
        });
        service_kit::metrics_bridge::install();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(service_kit::telemetry::security_headers_allowing_forms_to(
                    std::slice::from_ref(&auth_origin),
                ))
                .wrap(from_fn(service_kit::cors::cors))
                .wrap(from_fn(service_kit::service::bounded_headers))
                .wrap(from_fn(service_kit::telemetry::log_request))
                .app_data(request_log.clone())
                .app_data(cors_origins.clone())
                .app_data(gate.clone())
                .app_data(metrics.clone())
                .app_data(links.clone())
                .configure(|cfg| {
                    if let Some(redemption) = &redemption {
                        cfg.app_data(redemption.clone());
                        handoff_guard::actix::code_redemption_routes(cfg);
                    }
                })
                .route("/", web::get().to(routes::home))
                .route("/api/me", web::get().to(routes::me))
                .route("/api/tasks", web::post().to(routes::task))
                // Envoy's HTTP ext_authz appends the original path to the prefix.
                .route("/auth/verify", web::to(routes::forward_auth))
                .route("/auth/verify/{tail:.*}", web::to(routes::forward_auth))
                .route("/healthz", web::get().to(routes::healthz))
                .route("/readyz", web::get().to(routes::readyz))
                .route("/metrics", web::get().to(service_kit::metrics::endpoint))
                .route("/favicon.svg", web::get().to(routes::favicon))
                .route("/favicon.ico", web::get().to(routes::favicon))
                .default_service(web::to(routes::not_found))
        })
        // Tags this server's threads for a process running several services.
        .on_connect(|_, _| service_kit::telemetry::set_thread_service("app"))
        .workers(settings.workers)
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

/// The private app's `main`: settings from the environment, logs, serve
/// until SIGTERM (also run by the tests' `private-service-under-test`).
pub async fn serve_from_env() -> std::process::ExitCode {
    service_kit::service::run(async {
        let env = service_kit::config::Env::from_process();
        service_kit::telemetry::init(&env, "info").map_err(service_kit::service::Stop::Config)?;
        let settings = Settings::from_env(&env).map_err(service_kit::service::Stop::Config)?;
        let application = Application::build(settings)
            .await
            .map_err(service_kit::service::Stop::Start)?;
        tracing::info!(port = application.port(), "private app listening");
        application
            .run_until_stopped()
            .await
            .map_err(service_kit::service::Stop::Serve)
    })
    .await
}

fn gate(settings: &Settings, clock: SharedClock) -> HandoffGate {
    let (issuer, audience) = (settings.issuer(), settings.audience());
    let verifier = match &settings.keys {
        KeySettings::Remote { jwks_url, options } => HandoffVerifier::remote(
            handoff_guard::Issuer::new(issuer),
            handoff_guard::Audience::new(audience),
            jwks_url.clone(),
            options.clone(),
        ),
        KeySettings::Static(keys) => HandoffVerifier::new(
            handoff_guard::Issuer::new(issuer),
            handoff_guard::Audience::new(audience),
            KeySource::Static(keys.clone()),
        ),
    };
    let gate = HandoffGate::new(
        verifier.with_clock(clock),
        settings.login_url(),
        settings.app_url.clone(),
    )
    .renewing_at(settings.renew_url());
    match (settings.delivery, &settings.cookie_domain) {
        (AppDelivery::Code, _) => gate.binding_codes(),
        (AppDelivery::Cookie, Some(_)) => gate.parent_domain_cookie(),
        (AppDelivery::Cookie, None) => gate,
    }
}

//! The gate: a reverse proxy that puts the login service's sign-in in
//! front of any app, whatever its language. On Cloud Run it is the
//! ingress container and the app a sidecar on localhost; anywhere else,
//! a process in front of the app's port. It verifies through
//! `handoff_guard`'s framework-neutral gate, the same code path a Rust app
//! links, and forwards what passes to `UPSTREAM_URL` with the caller's
//! identity in headers. docs/gate.md is the operator's guide.
//!
//! A tour, in the order a request meets the modules:
//! - [`startup`]: the hyper server (`hyper_util`'s `auto` builder, with
//!   upgrades), graceful stop on `SIGTERM`; [`startup::Application`] binds
//!   first (port 0 in tests) and serves on `run_until_stopped`.
//! - [`proxy`]: one request: path policy, the gate's own routes,
//!   authentication, the forwarded request, the streamed answer, the
//!   WebSocket tunnel, the request log line.
//! - [`cors`]: with `CORS_ALLOWED_ORIGINS`, preflights answered by the
//!   gate and the CORS headers of every answer, for listed origins only.
//! - [`paths`]: the strict path policy, `PUBLIC_PATHS`, and the reserved
//!   `/auth/` prefix (why `/auth/`: ARCHITECTURE.md).
//! - [`headers`]: hop-by-hop headers (RFC 9110, 7.6.1), identity headers
//!   stripped and set, `X-Forwarded-*`.
//! - [`body`]: the request body streamed with its size limit.
//! - [`upstream`]: the pooled client to the app and its timeouts.
//! - [`answer`]: the gate's own answers (`502`/`504` pages or JSON,
//!   refusals, health).
//! - [`settings`]: the environment, read once.
#![forbid(unsafe_code)]

pub mod answer;
pub mod body;
pub mod cors;
pub mod headers;
pub mod paths;
pub mod proxy;
pub mod settings;
pub mod startup;
pub mod upstream;

use std::process::ExitCode;

/// Reads the environment, starts the gate and serves until stopped; a
/// failure is one line on stderr and a non-zero exit code.
pub async fn serve_from_env() -> ExitCode {
    let outcome = async {
        let env = service_kit::config::Env::from_process();
        service_kit::telemetry::init(&env, "info")
            .map_err(|e| format!("configuration error: {e}"))?;
        let settings =
            settings::Settings::from_env(&env).map_err(|e| format!("configuration error: {e}"))?;
        let application = startup::Application::build(settings)
            .await
            .map_err(|e| format!("start-up failed: {e}"))?;
        tracing::info!(port = application.port(), "gate listening");
        if let Err(problem) = application.check().await {
            tracing::warn!(%problem, "the gate cannot verify sign-ins yet");
        }
        application
            .run_until_stopped()
            .await
            .map_err(|e| format!("server error: {e}"))
    }
    .await;
    service_kit::telemetry::flush();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("{line}");
            ExitCode::FAILURE
        }
    }
}

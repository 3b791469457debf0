//! Logging set-up and the request log line shared by the services.
//!
//! The request line carries method, path, status and latency, and never the
//! query string: on the callback route it holds the authorization code.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{DefaultHeaders, Next};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are no-ops, so tests
/// that install a capturing subscriber first keep it.
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let method = req.method().clone();
    let path = req.path().to_owned();
    let started = Instant::now();
    let result = next.call(req).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match &result {
        Ok(res) => {
            tracing::info!(%method, %path, status = res.status().as_u16(), latency_ms, "request")
        }
        Err(e) => {
            tracing::warn!(%method, %path, status = e.as_response_error().status_code().as_u16(), latency_ms, "request failed")
        }
    }
    result
}

/// Headers every response carries: no sniffing, no framing, forms posted
/// only to this origin, and a `Referer` of the origin only (never a path,
/// which could hold a code), which keeps `Origin` on form posts for the
/// sign-out checks (`no-referrer` would turn it into `null`).
pub fn security_headers() -> DefaultHeaders {
    security_headers_allowing_forms_to(&[])
}

/// The same, with forms also allowed to post to `origins` (an app's
/// sign-out button posts to the public service).
pub fn security_headers_allowing_forms_to(origins: &[String]) -> DefaultHeaders {
    let mut form_action = String::from("'self'");
    for origin in origins {
        form_action.push(' ');
        form_action.push_str(origin);
    }
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "strict-origin"))
        .add((
            "Content-Security-Policy",
            format!("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"),
        ))
}

//! Logging set-up and the request log line shared by the services.
//!
//! Logs are readable text by default and Cloud Logging's structured JSON
//! with `LOG_FORMAT=json` (see [`crate::cloud_logging`]). Every request runs
//! in a span carrying a fresh `request_id` (also sent back as
//! `X-Request-Id`) and the trace id from `X-Cloud-Trace-Context` or
//! `traceparent`, so every line it logs carries them. The request line
//! carries method, path, status and latency, and never the query string: on
//! the callback route it holds the authorization code.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::cloud_logging::{trace_id, CloudLoggingLayer};
use crate::config::{ConfigError, Env};

/// How logs are written: `LOG_FORMAT` (`text` or `json`), `RUST_LOG`,
/// and `GOOGLE_CLOUD_PROJECT` (names traces in JSON logs).
pub struct LogSettings {
    pub json: bool,
    pub filter: String,
    pub project: Option<String>,
}

impl LogSettings {
    pub fn from_env(env: &Env, default_filter: &str) -> Result<Self, ConfigError> {
        let filter = env
            .optional("RUST_LOG")
            .unwrap_or_else(|| default_filter.to_owned());
        EnvFilter::try_new(&filter).map_err(|e| ConfigError::new("RUST_LOG", e))?;
        let json = match env.optional("LOG_FORMAT").as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("expected text or json, got {other:?}"),
                ))
            }
        };
        Ok(Self {
            json,
            filter,
            project: env.optional("GOOGLE_CLOUD_PROJECT"),
        })
    }
}

/// Installs the global subscriber once, as [`LogSettings`] say; later
/// calls are no-ops, so tests that install a capturing subscriber first
/// keep it.
pub fn init(env: &Env, default_filter: &str) -> Result<(), ConfigError> {
    let settings = LogSettings::from_env(env, default_filter)?;
    let filter = EnvFilter::new(&settings.filter);
    if settings.json {
        let layer = CloudLoggingLayer::new(settings.project, Box::new(std::io::stdout()));
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(layer)
            .try_init();
    } else {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .try_init();
    }
    Ok(())
}

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let method = req.method().clone();
    let path = req.path().to_owned();
    let request_id = crate::random::url_safe_token(9);
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let trace = trace_id(header("x-cloud-trace-context"), header("traceparent"));
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        trace_id = tracing::field::Empty
    );
    if let Some(trace) = &trace {
        span.record("trace_id", trace.as_str());
    }
    let started = Instant::now();
    let mut result = next.call(req).instrument(span.clone()).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let _entered = span.enter();
    match &mut result {
        Ok(res) => {
            tracing::info!(%method, %path, status = res.status().as_u16(), latency_ms, "request");
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                res.headers_mut()
                    .insert(HeaderName::from_static("x-request-id"), value);
            }
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

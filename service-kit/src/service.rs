//! What both services' `main` functions share: one line per failure on
//! stderr and a non-zero exit code, never a panic or a stack trace; the
//! log lines still buffered are written out first.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

/// Why a service stopped.
#[derive(Debug)]
pub enum Stop {
    Config(crate::config::ConfigError),
    Start(anyhow::Error),
    Serve(std::io::Error),
}

impl Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Config(e) => write!(f, "configuration error: {e}"),
            Stop::Start(e) => write!(f, "start-up failed: {e:#}"),
            Stop::Serve(e) => write!(f, "server error: {e}"),
        }
    }
}

/// Runs a service to completion and turns the outcome into an exit code.
pub async fn run(service: impl Future<Output = Result<(), Stop>>) -> ExitCode {
    let outcome = service.await;
    crate::telemetry::flush();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(stop) => {
            eprintln!("{stop}");
            ExitCode::FAILURE
        }
    }
}

/// A rendered HTML page, never cached; a rendering failure becomes a
/// generic 500 with the cause in the log.
pub fn html(
    status: actix_web::http::StatusCode,
    rendered: Result<String, impl std::fmt::Display>,
) -> actix_web::HttpResponse {
    match rendered {
        Ok(body) => handoff_guard::Reply::html(status.as_u16(), body).into(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            actix_web::HttpResponse::InternalServerError().body("Something went wrong.")
        }
    }
}

/// A page that moves the browser on to `url` (see
/// `handoff_guard::Reply::continue_to`).
pub fn continue_to(url: &url::Url) -> actix_web::HttpResponse {
    handoff_guard::Reply::continue_to(url).into()
}

/// Largest header block (names and values) a request may carry. Real
/// browsers and Google's front end send a few kilobytes; anything far
/// beyond is refused before a route reads it.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses requests whose headers exceed [`MAX_HEADER_BYTES`] with `431`.
pub async fn bounded_headers(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    let size: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > MAX_HEADER_BYTES {
        tracing::warn!(size, "request headers too large");
        let response = HttpResponse::build(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            .json(serde_json::json!({ "error": "headers_too_large" }));
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req).await.map(|r| r.map_into_left_body())
}

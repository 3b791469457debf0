//! Logging set-up and the request log line shared by the services.
//!
//! Logs are readable text by default and Cloud Logging's structured JSON
//! with `LOG_FORMAT=json` (see [`crate::cloud_logging`]). Every request runs
//! with a fresh `request_id` (also sent back as `X-Request-Id`) and the
//! trace id from `X-Cloud-Trace-Context` or `traceparent` as its
//! [`crate::request_context`], so every line it logs carries them. The request line
//! carries method, path, status and latency, and never the query string: on
//! the callback route it holds the authorization code.
//!
//! By default (`REQUEST_LOG=failures`) a request that succeeds (below
//! `400`) writes its line at `debug` only: Cloud Run already writes a
//! request log entry for every request, with method, URL, status, latency
//! and trace (<https://cloud.google.com/run/docs/logging>), so an `info`
//! line per success repeated it at about a fifth of an authenticated
//! request's cost. Refusals and failures (`400` and above) keep their `info`
//! or `warn` line, and the routes' own lines for security decisions
//! (sign-ins, refused tokens, sign-outs) are untouched. `REQUEST_LOG=all`
//! writes every request's line at `info`, as before, for a host without a
//! request log of its own.
//!
//! A `4xx` answer is the client's doing, and anyone can send ten thousand
//! forged tokens a second: those lines go through a [`RequestLog`], which
//! writes the first few of each status per interval and then one summary
//! line with the count of the others (see `handoff_guard::refusal_log`),
//! with either `REQUEST_LOG` value. Each service registers one as app data,
//! timed by its clock; the summary comes with the next request after the
//! interval, since nothing runs between requests on Cloud Run.

use std::io::IsTerminal;
#[cfg(feature = "actix")]
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
#[cfg(feature = "actix")]
use std::time::Instant;

#[cfg(feature = "actix")]
use actix_web::body::MessageBody;
#[cfg(feature = "actix")]
use actix_web::dev::{ServiceRequest, ServiceResponse};
#[cfg(feature = "actix")]
use actix_web::http::header::{HeaderName, HeaderValue};
#[cfg(feature = "actix")]
use actix_web::middleware::{DefaultHeaders, Next};
#[cfg(feature = "actix")]
use actix_web::web;
use handoff_guard::SharedClock;
#[cfg(feature = "actix")]
use handoff_guard::SystemClock;
use handoff_guard::{RefusalLog, RefusalSummary};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

#[cfg(feature = "actix")]
use crate::cloud_logging::trace_id;
use crate::cloud_logging::CloudLoggingLayer;
use crate::config::{ConfigError, Env};
use crate::log_writer::{LineBuffer, LineWriter};
#[cfg(feature = "actix")]
use crate::request_context::{within, InRequest, RequestContext};

/// How logs are written: `LOG_FORMAT` (`text` or `json`), `RUST_LOG`,
/// `REQUEST_LOG` (`failures` or `all`) and `GOOGLE_CLOUD_PROJECT` (names
/// traces in JSON logs).
pub struct LogSettings {
    pub json: bool,
    pub filter: String,
    /// `REQUEST_LOG=all`: every request's line at `info`, successes too.
    pub all_requests: bool,
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
        let all_requests = match env.optional("REQUEST_LOG").as_deref() {
            None | Some("failures") => false,
            Some("all") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "REQUEST_LOG",
                    format!(
                        "expected failures or all (for example REQUEST_LOG=all), got {other:?}"
                    ),
                ))
            }
        };
        Ok(Self {
            json,
            filter,
            all_requests,
            project: env.optional("GOOGLE_CLOUD_PROJECT"),
        })
    }
}

/// Installs the global subscriber once, as [`LogSettings`] say; later
/// calls are no-ops, so tests that install a capturing subscriber first
/// keep it. Lines reach stdout through a [`LineBuffer`]; colours only on
/// a terminal.
pub fn init(env: &Env, default_filter: &str) -> Result<(), ConfigError> {
    let settings = LogSettings::from_env(env, default_filter)?;
    ALL_REQUESTS.store(settings.all_requests, Ordering::Relaxed);
    let filter = EnvFilter::new(&settings.filter);
    let stdout = LineBuffer::start(std::io::stdout());
    let writer = LineWriter(stdout.clone());
    let installed = if settings.json {
        let layer = CloudLoggingLayer::new(settings.project, Box::new(writer));
        tracing_subscriber::registry()
            .with(filter)
            .with(layer)
            .try_init()
            .is_ok()
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::stdout().is_terminal())
            .event_format(TextFormat)
            .with_writer(move || writer.clone())
            .try_init()
            .is_ok()
    };
    if installed {
        let _ = STDOUT.set(stdout);
    }
    Ok(())
}

/// `REQUEST_LOG=all`, as [`init`] read it (tests that build a service in
/// process without [`init`] get the default).
static ALL_REQUESTS: AtomicBool = AtomicBool::new(false);

/// The buffer the installed subscriber writes through, for [`flush`].
static STDOUT: OnceLock<Arc<LineBuffer<std::io::Stdout>>> = OnceLock::new();

/// Writes out the log lines still waiting (at exit).
pub fn flush() {
    if let Some(stdout) = STDOUT.get() {
        let _ = stdout.flush();
    }
}

/// `REQUEST_LOG=all`, as [`init`] read it: a server that writes its own
/// request lines (the gate, on hyper) follows it too.
pub fn all_requests() -> bool {
    ALL_REQUESTS.load(Ordering::Relaxed)
}

/// Writes out the lines waiting, if any, before a response leaves (see
/// [`crate::log_writer`]).
pub fn write_out_pending() {
    if let Some(stdout) = STDOUT.get() {
        let _ = stdout.write_out_pending();
    }
}

/// The statuses whose request lines are budgeted each on its own, and the
/// labels of their budgets; the last label stands for every other `4xx`.
const CLIENT_ERROR_CODES: [u16; 7] = [400, 401, 403, 404, 405, 413, 429];
const CLIENT_ERRORS: [&str; 8] = ["400", "401", "403", "404", "405", "413", "429", "4xx"];

/// Which `4xx` request lines are written (see the module docs): app data
/// of each service, so its clock times the intervals.
pub struct RequestLog {
    client_errors: RefusalLog,
}

impl RequestLog {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            client_errors: RefusalLog::new(&CLIENT_ERRORS, clock),
        }
    }

    /// Writes the summaries that are due: any request may.
    pub fn write_summaries(&self) {
        self.client_errors.summaries(log_summary);
    }

    /// Whether the line of a request answered `status` is written: always
    /// but for a `4xx`, which is counted against its status's budget.
    pub fn writes(&self, status: u16) -> bool {
        if !(400..500).contains(&status) {
            return true;
        }
        let slot = CLIENT_ERROR_CODES
            .iter()
            .position(|code| *code == status)
            .unwrap_or(CLIENT_ERROR_CODES.len());
        let (in_full, summary) = self.client_errors.refusal(slot);
        if let Some(summary) = summary {
            log_summary(summary);
        }
        in_full
    }
}

/// The line that stands for the request lines of one status not written.
fn log_summary(summary: RefusalSummary) {
    let RefusalSummary {
        reason: status,
        not_logged,
        seconds,
    } = summary;
    tracing::info!(
        %status,
        not_logged,
        seconds,
        "{not_logged} more requests answered {status} in the last {seconds} s, not logged one by one"
    );
}

#[cfg(feature = "actix")]
/// For a host that registers no [`RequestLog`]: one for the process, on
/// the wall clock.
fn process_request_log() -> Arc<RequestLog> {
    static LOG: OnceLock<Arc<RequestLog>> = OnceLock::new();
    LOG.get_or_init(|| Arc::new(RequestLog::new(Arc::new(SystemClock))))
        .clone()
}

#[cfg(feature = "actix")]
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // Kept for the log line: `req` moves into the handler, and cloning the
    // request itself would break actix's routing (it needs it unshared).
    // Both clones share the request's buffers rather than copying them.
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let request_log = req
        .app_data::<web::Data<RequestLog>>()
        .map_or_else(process_request_log, |log| log.clone().into_inner());
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let trace = trace_id(header("x-cloud-trace-context"), header("traceparent"));
    let context = Rc::new(RequestContext::new(trace));
    let started = Instant::now();
    let mut result = InRequest::new(context.clone(), next.call(req)).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let path = uri.path();
    let all_requests = ALL_REQUESTS.load(Ordering::Relaxed);
    within(&context, || {
        request_log.write_summaries();
        match &mut result {
            Ok(res) => {
                let status = res.status().as_u16();
                if quiet_on_success(path, all_requests) && status < 400 {
                    tracing::debug!(%method, %path, status, latency_ms, "request");
                } else if request_log.writes(status) {
                    tracing::info!(%method, %path, status, latency_ms, "request");
                }
                if let Ok(id) = HeaderValue::from_str(context.request_id()) {
                    res.headers_mut()
                        .insert(HeaderName::from_static("x-request-id"), id);
                }
            }
            Err(e) => {
                let status = e.as_response_error().status_code().as_u16();
                if request_log.writes(status) {
                    tracing::warn!(%method, %path, status, latency_ms, "request failed")
                }
            }
        }
    });
    write_out_pending();
    result
}

#[cfg(feature = "actix")]
/// Whether a request to `path` that succeeds is logged at debug only:
/// every one by default (see the module docs); with `REQUEST_LOG=all`, the
/// requests that come on a timer rather than from a person: the apps'
/// revocation polls and key refreshes, and readiness probes (startup
/// probes and `local-stack` poll `/readyz`), so that info shows what
/// people do. `/healthz` stays at info then: it is the line an operator
/// checks a probe by.
fn quiet_on_success(path: &str, all_requests: bool) -> bool {
    !all_requests
        || matches!(
            path,
            "/sessions/revoked" | "/.well-known/jwks.json" | "/readyz"
        )
}

thread_local! {
    static SERVICE: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

/// Names the service whose server runs on this thread (each actix worker
/// thread serves one server), for a process that runs several services and
/// tags their log lines (`local-stack`). Call it from `HttpServer::on_connect`.
pub fn set_thread_service(name: &'static str) {
    SERVICE.with(|s| s.set(Some(name)));
}

/// The name [`set_thread_service`] gave this thread, if any.
pub fn thread_service() -> Option<&'static str> {
    SERVICE.with(|s| s.get())
}

#[cfg(feature = "actix")]
/// Headers every response carries: no sniffing, no framing, forms posted
/// only to this origin, and a `Referer` of the origin only (never a path,
/// which could hold a code), which keeps `Origin` on form posts for the
/// sign-out checks (`no-referrer` would turn it into `null`).
pub fn security_headers() -> DefaultHeaders {
    security_headers_allowing_forms_to(&[])
}

#[cfg(feature = "actix")]
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

/// The text lines: time, level, the request's ids, enclosing spans, then
/// the message and fields (what `tracing_subscriber`'s default format
/// shows, with the request's ids where its span used to be).
pub struct TextFormat;

impl<S, N> FormatEvent<S, N> for TextFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        SystemTime.format_time(&mut writer)?;
        write!(writer, " {:>5} ", event.metadata().level())?;
        crate::request_context::current(|request| match request {
            Some(request) => {
                write!(writer, "request{{request_id={}", request.request_id())?;
                if let Some(trace) = request.trace() {
                    write!(writer, " trace_id={trace}")?;
                }
                writer.write_str("}: ")
            }
            None => Ok(()),
        })?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.name())?;
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>() {
                    if !fields.is_empty() {
                        write!(writer, "{{{fields}}}")?;
                    }
                }
                writer.write_str(": ")?;
            }
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

// The request context and the request line are the actix middleware's.
#[cfg(all(test, feature = "actix"))]
mod tests;

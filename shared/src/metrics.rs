//! Prometheus metrics: counters and latency histograms, recorded through
//! the [`metrics`] facade and served as text at `/metrics` by
//! `metrics-exporter-prometheus`'s recorder.
//!
//! Names and label values are fixed strings chosen in code, never taken
//! from a request, so the set of series stays bounded. Series recorded on
//! every request (the verification counters and histogram) are statics
//! that look their facade handle up once, so recording one is an atomic
//! add on the exporter's storage, no lock and no key lookup; rarer ones
//! ([`count`], [`observe`]) look their series up in the exporter's
//! registry on every call. A series appears once it has been recorded.
//!
//! The recorder is installed as the process's global one the first time
//! anything is recorded or rendered. A host application that installed its
//! own recorder first keeps it: the series go there and [`render`] shows
//! nothing. Histogram samples wait in the exporter's lock-free buckets until
//! they are folded into the fixed [`BUCKETS`]; a background thread folds them
//! every [`UPKEEP`], and every render does too, so memory stays bounded
//! without scrapes.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpRequest, HttpResponse};
use metrics::{Key, Label, Level, Metadata};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::config::{ConfigError, Env};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.25, 1.0,
];

/// How often waiting histogram samples are folded into their buckets.
const UPKEEP: Duration = Duration::from_secs(1);

const VERIFICATIONS_HELP: &str = "Handoff tokens verified, by outcome.";

/// Handoff tokens that verified.
pub static HANDOFF_VALID: Counter = Counter::new(
    "handoff_verifications_total",
    VERIFICATIONS_HELP,
    &[("outcome", "valid")],
);
/// Handoff tokens that were refused.
pub static HANDOFF_REFUSED: Counter = Counter::new(
    "handoff_verifications_total",
    VERIFICATIONS_HELP,
    &[("outcome", "refused")],
);
/// Time to verify a handoff token (a cached one included).
pub static HANDOFF_VERIFICATION_SECONDS: Histogram = Histogram::new(
    "handoff_verification_seconds",
    "Time to verify a handoff token.",
);

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// The exporter's handle, the recorder installed on first use.
fn exporter() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .expect("a non-empty list of buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Refused when the host installed a recorder of its own: it keeps it.
        let _ = metrics::set_global_recorder(recorder);
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP);
                upkeep.run_upkeep();
            });
        handle
    })
}

fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::from_static_parts(k, v))
        .collect();
    Key::from_parts(name, labels)
}

/// A counter series with its labels fixed in code.
pub struct Counter {
    name: &'static str,
    help: &'static str,
    labels: &'static [(&'static str, &'static str)],
    handle: OnceLock<metrics::Counter>,
}

impl Counter {
    pub const fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [(&'static str, &'static str)],
    ) -> Self {
        Self {
            name,
            help,
            labels,
            handle: OnceLock::new(),
        }
    }

    pub fn increment(&self) {
        self.handle
            .get_or_init(|| {
                exporter();
                metrics::describe_counter!(self.name, self.help);
                metrics::with_recorder(|r| {
                    r.register_counter(&key(self.name, self.labels), &METADATA)
                })
            })
            .increment(1);
    }
}

/// A latency histogram over [`BUCKETS`].
pub struct Histogram {
    name: &'static str,
    help: &'static str,
    handle: OnceLock<metrics::Histogram>,
}

impl Histogram {
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            handle: OnceLock::new(),
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        self.handle
            .get_or_init(|| {
                exporter();
                metrics::describe_histogram!(self.name, self.help);
                metrics::with_recorder(|r| r.register_histogram(&key(self.name, &[]), &METADATA))
            })
            .record(elapsed.as_secs_f64());
    }
}

/// Adds one to the counter `name` with `labels`.
pub fn count(name: &'static str, help: &'static str, labels: &[(&'static str, &'static str)]) {
    exporter();
    metrics::describe_counter!(name, help);
    metrics::with_recorder(|r| r.register_counter(&key(name, labels), &METADATA)).increment(1);
}

/// Records one observation of the histogram `name`.
pub fn observe(name: &'static str, help: &'static str, elapsed: Duration) {
    exporter();
    metrics::describe_histogram!(name, help);
    metrics::with_recorder(|r| r.register_histogram(&key(name, &[]), &METADATA))
        .record(elapsed.as_secs_f64());
}

/// Everything recorded so far, in Prometheus' text format.
pub fn render() -> String {
    exporter().render()
}

/// Who may read `/metrics`: counts of sign-ins, denials and refreshes are
/// not for the whole internet.
#[derive(Clone)]
pub enum MetricsAccess {
    /// Callers presenting `Authorization: Bearer <token>` (`METRICS_TOKEN`).
    Token(SecretString),
    /// Anyone (`METRICS_PUBLIC=true`: local runs, or a port no one else
    /// reaches).
    Public,
    /// No one: `/metrics` answers 404 (the default).
    Off,
}

impl MetricsAccess {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let public = env.flag_or("METRICS_PUBLIC", false)?;
        match env.secret("METRICS_TOKEN")? {
            Some(_) if public => Err(ConfigError::new(
                "METRICS_PUBLIC",
                "cannot be true while METRICS_TOKEN is set: choose one",
            )),
            Some(token) if token.expose_secret().len() < 16 => Err(ConfigError::new(
                "METRICS_TOKEN",
                "must be at least 16 characters, for example the output of `openssl rand -hex 32`",
            )),
            Some(token) => Ok(Self::Token(token)),
            None if public => Ok(Self::Public),
            None => Ok(Self::Off),
        }
    }

    /// The answer that refuses `req`, if it is refused.
    fn refusal(&self, req: &HttpRequest) -> Option<HttpResponse> {
        match self {
            Self::Public => None,
            Self::Off => Some(HttpResponse::NotFound().finish()),
            Self::Token(expected) => {
                let presented = req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or_default();
                let expected = expected.expose_secret().as_bytes();
                if bool::from(presented.as_bytes().ct_eq(expected)) {
                    None
                } else {
                    Some(
                        HttpResponse::Unauthorized()
                            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\""))
                            .finish(),
                    )
                }
            }
        }
    }
}

/// The `/metrics` route; the app data [`MetricsAccess`] says who may read
/// it (none given: no one).
pub async fn endpoint(req: HttpRequest, access: Option<web::Data<MetricsAccess>>) -> HttpResponse {
    let refusal = match &access {
        Some(access) => access.refusal(&req),
        None => MetricsAccess::Off.refusal(&req),
    };
    if let Some(refused) = refusal {
        return refused;
    }
    HttpResponse::Ok()
        .insert_header(ContentType(
            "text/plain; version=0.0.4; charset=utf-8"
                .parse()
                .expect("a valid media type"),
        ))
        .body(render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_closed_unless_a_token_or_public_access_is_configured() {
        let access = |vars: &[(&str, &str)]| MetricsAccess::from_env(&Env::from_map(vars.to_vec()));
        assert!(matches!(access(&[]), Ok(MetricsAccess::Off)));
        assert!(matches!(
            access(&[("METRICS_PUBLIC", "true")]),
            Ok(MetricsAccess::Public)
        ));
        assert!(matches!(
            access(&[("METRICS_TOKEN", "0123456789abcdef0123")]),
            Ok(MetricsAccess::Token(_))
        ));
        let short = access(&[("METRICS_TOKEN", "short")]).err().unwrap();
        assert!(short.to_string().contains("METRICS_TOKEN"));
        assert!(access(&[
            ("METRICS_TOKEN", "0123456789abcdef0123"),
            ("METRICS_PUBLIC", "true")
        ])
        .is_err());
        let req = actix_web::test::TestRequest::default().to_http_request();
        let refused = MetricsAccess::Off.refusal(&req).unwrap();
        assert_eq!(refused.status(), 404);
        assert!(MetricsAccess::Public.refusal(&req).is_none());
    }

    #[test]
    fn counters_and_histograms_render_in_the_text_format() {
        count("test_things_total", "Things.", &[("outcome", "ok")]);
        count("test_things_total", "Things.", &[("outcome", "ok")]);
        count("test_things_total", "Things.", &[("outcome", "failed")]);
        observe(
            "test_latency_seconds",
            "Latency.",
            Duration::from_micros(300),
        );
        let text = render();
        assert!(text.contains("# TYPE test_things_total counter"));
        assert!(text.contains("test_things_total{outcome=\"ok\"} 2"));
        assert!(text.contains("test_things_total{outcome=\"failed\"} 1"));
        assert!(text.contains("test_latency_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("test_latency_seconds_bucket{le=\"0.00025\"} 0"));
        assert!(text.contains("test_latency_seconds_count 1"));
    }

    /// The value of the series `series` in `text`.
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn lock_free_series_render_like_registered_ones() {
        HANDOFF_REFUSED.increment();
        HANDOFF_VERIFICATION_SECONDS.observe(Duration::from_micros(300));
        let text = render();
        assert_eq!(
            text.matches("# TYPE handoff_verifications_total counter\n")
                .count(),
            1
        );
        assert!(text.contains("# HELP handoff_verifications_total Handoff tokens verified"));
        assert!(value(&text, r#"handoff_verifications_total{outcome="refused"}"#) >= Some(1.0));
        let bucket = |le: &str| {
            value(
                &text,
                &format!("handoff_verification_seconds_bucket{{le=\"{le}\"}}"),
            )
        };
        assert!(bucket("0.0005") >= Some(1.0));
        assert!(bucket("0.0005") <= bucket("1"));
        assert!(value(&text, "handoff_verification_seconds_count") >= Some(1.0));
        assert!(value(&text, "handoff_verification_seconds_sum") >= Some(0.0003));
        let histogram = text.find("# TYPE handoff_verification_seconds histogram");
        let counter = text.find("# TYPE handoff_verifications_total counter");
        assert!(counter < histogram, "counters first, as before");
    }
}

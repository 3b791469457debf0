//! Prometheus metrics: counters and latency histograms, kept in process
//! and served as text at `/metrics`.
//!
//! Names and label values are fixed strings chosen in code, never taken
//! from a request, so the set of series stays bounded. Series recorded on
//! every request (the verification counters and histogram) are statics of
//! atomics, so recording one takes no lock and allocates nothing; rarer
//! ones ([`count`], [`observe`]) go through a registry behind a lock. A
//! series appears once it has been recorded, whichever kind it is.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::config::{ConfigError, Env};

/// Upper bounds of the verification-latency buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.25, 1.0,
];

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

const REFUSALS_HELP: &str =
    "Requests refused for their credentials, by reason: every one, logged one by one or not.";

/// Refused credentials, by the `reason` the library counts them under
/// (`handoff_guard::Refusal` and `handoff_guard::callers`):
/// a flood of forged tokens is counted here in full while its log lines
/// are summarised.
pub static AUTH_REFUSALS: [Counter; 7] = [
    Counter::new(
        "auth_refusals_total",
        REFUSALS_HELP,
        &[("reason", "no_credentials")],
    ),
    Counter::new(
        "auth_refusals_total",
        REFUSALS_HELP,
        &[("reason", "malformed_authorization")],
    ),
    Counter::new(
        "auth_refusals_total",
        REFUSALS_HELP,
        &[("reason", "handoff_token")],
    ),
    Counter::new(
        "auth_refusals_total",
        REFUSALS_HELP,
        &[("reason", "id_token")],
    ),
    Counter::new(
        "auth_refusals_total",
        REFUSALS_HELP,
        &[("reason", "revoked_session")],
    ),
    Counter::new(
        "auth_refusals_total",
        REFUSALS_HELP,
        &[("reason", "caller_token")],
    ),
    Counter::new(
        "auth_refusals_total",
        REFUSALS_HELP,
        &[("reason", "caller_not_allowed")],
    ),
];

/// The static of `auth_refusals_total` for `reason`, if there is one.
pub fn auth_refusals(reason: &str) -> Option<&'static Counter> {
    AUTH_REFUSALS
        .iter()
        .find(|c| c.labels.iter().any(|(k, v)| *k == "reason" && *v == reason))
}

static COUNTERS: [&Counter; 2] = [&HANDOFF_VALID, &HANDOFF_REFUSED];
static HISTOGRAMS: [&Histogram; 1] = [&HANDOFF_VERIFICATION_SECONDS];

/// A counter series with its labels fixed in code.
pub struct Counter {
    name: &'static str,
    help: &'static str,
    labels: &'static [(&'static str, &'static str)],
    value: AtomicU64,
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
            value: AtomicU64::new(0),
        }
    }

    /// Adds `by` at once (the `metrics` facade's counters increment by any amount).
    pub fn add(&self, by: u64) {
        self.value.fetch_add(by, Ordering::Relaxed);
    }

    /// The count so far.
    pub fn value(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    pub fn increment(&self) {
        // Counters order nothing else, so relaxed suffices.
        self.value.fetch_add(1, Ordering::Relaxed);
    }
}

/// A latency histogram over [`BUCKETS`]. Each observation adds to the one
/// bucket it falls in (the last slot: above every bound), two atomic adds
/// in all; the cumulative counts Prometheus wants are summed when read.
pub struct Histogram {
    name: &'static str,
    help: &'static str,
    slots: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            slots: [const { AtomicU64::new(0) }; BUCKETS.len() + 1],
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let slot = BUCKETS.partition_point(|bound| *bound < seconds);
        self.slots[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn values(&self) -> HistogramValues {
        let mut values = HistogramValues {
            sum: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            ..HistogramValues::default()
        };
        let mut below = 0;
        for (i, slot) in self.slots.iter().enumerate() {
            below += slot.load(Ordering::Relaxed);
            if let Some(bucket) = values.buckets.get_mut(i) {
                *bucket = below;
            }
        }
        values.count = below;
        values
    }
}

#[derive(Default, Clone)]
struct HistogramValues {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// A series: the metric's name and its label pairs.
type Series = (&'static str, Vec<(&'static str, &'static str)>);

#[derive(Default, Clone)]
struct Registry {
    counters: BTreeMap<Series, u64>,
    help: BTreeMap<&'static str, &'static str>,
    histograms: BTreeMap<&'static str, HistogramValues>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn with_registry<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    let mut guard = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(Registry::default))
}

/// Adds one to the counter `name` with `labels`.
pub fn count(name: &'static str, help: &'static str, labels: &[(&'static str, &'static str)]) {
    with_registry(|r| {
        r.help.entry(name).or_insert(help);
        *r.counters.entry((name, labels.to_vec())).or_default() += 1;
    });
}

/// Records one observation of the histogram `name`.
pub fn observe(name: &'static str, help: &'static str, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    with_registry(|r| {
        r.help.entry(name).or_insert(help);
        let histogram = r.histograms.entry(name).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                histogram.buckets[i] += 1;
            }
        }
        histogram.sum += seconds;
        histogram.count += 1;
    });
}

/// The registry's series with the statics' recorded ones merged in.
fn snapshot() -> Registry {
    let mut all = with_registry(|r| r.clone());
    for counter in COUNTERS.into_iter().chain(&AUTH_REFUSALS) {
        let value = counter.value.load(Ordering::Relaxed);
        if value > 0 {
            all.help.entry(counter.name).or_insert(counter.help);
            *all.counters
                .entry((counter.name, counter.labels.to_vec()))
                .or_default() += value;
        }
    }
    for histogram in HISTOGRAMS {
        let values = histogram.values();
        if values.count > 0 {
            all.help.entry(histogram.name).or_insert(histogram.help);
            let merged = all.histograms.entry(histogram.name).or_default();
            for (into, from) in merged.buckets.iter_mut().zip(values.buckets) {
                *into += from;
            }
            merged.sum += values.sum;
            merged.count += values.count;
        }
    }
    all
}

/// Everything recorded so far, in Prometheus' text format.
pub fn render() -> String {
    let r = snapshot();
    let mut out = String::new();
    let mut last = "";
    for ((name, labels), value) in &r.counters {
        if *name != last {
            let _ = writeln!(out, "# HELP {name} {}", r.help.get(name).unwrap_or(&""));
            let _ = writeln!(out, "# TYPE {name} counter");
            last = name;
        }
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", labels.join(","))
        };
        let _ = writeln!(out, "{name}{labels} {value}");
    }
    for (name, histogram) in &r.histograms {
        let _ = writeln!(out, "# HELP {name} {}", r.help.get(name).unwrap_or(&""));
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (bound, count) in BUCKETS.iter().zip(histogram.buckets) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", histogram.count);
        let _ = writeln!(out, "{name}_sum {}", histogram.sum);
        let _ = writeln!(out, "{name}_count {}", histogram.count);
    }
    out
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

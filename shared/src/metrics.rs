//! Prometheus metrics: counters and one latency histogram, kept in process
//! and served as text at `/metrics`.
//!
//! Names and label values are fixed strings chosen in code, never taken
//! from a request, so the set of series stays bounded.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::http::header::ContentType;
use actix_web::HttpResponse;

/// Upper bounds of the verification-latency buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.25, 1.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// A series: the metric's name and its label pairs.
type Series = (&'static str, Vec<(&'static str, &'static str)>);

#[derive(Default)]
struct Registry {
    counters: BTreeMap<Series, u64>,
    help: BTreeMap<&'static str, &'static str>,
    histograms: BTreeMap<&'static str, Histogram>,
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

/// Everything recorded so far, in Prometheus' text format.
pub fn render() -> String {
    with_registry(|r| {
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
    })
}

/// The `/metrics` route.
pub async fn endpoint() -> HttpResponse {
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
}

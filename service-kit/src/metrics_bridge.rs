//! The `metrics` facade recorder that hands the library's series
//! (`handoff_verifications_total`, `auth_refusals_total`,
//! `handoff_verification_seconds`) to our exporter's lock-free statics in
//! [`crate::metrics`]. Series it does not
//! know are dropped: every other series is recorded through
//! [`crate::metrics::count`] and [`crate::metrics::observe`] directly.

use std::sync::Arc;
use std::time::Duration;

use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

use crate::metrics::{HANDOFF_REFUSED, HANDOFF_VALID, HANDOFF_VERIFICATION_SECONDS};

struct Bridge;

struct StaticCounter(&'static crate::metrics::Counter);

impl CounterFn for StaticCounter {
    fn increment(&self, value: u64) {
        self.0.add(value);
    }

    fn absolute(&self, _value: u64) {}
}

struct StaticHistogram(&'static crate::metrics::Histogram);

impl HistogramFn for StaticHistogram {
    fn record(&self, seconds: f64) {
        if seconds.is_finite() && seconds >= 0.0 {
            self.0.observe(Duration::from_secs_f64(seconds));
        }
    }
}

impl Recorder for Bridge {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        if key.name() == "auth_refusals_total" {
            let reason = key.labels().find(|l| l.key() == "reason");
            return match reason.and_then(|l| crate::metrics::auth_refusals(l.value())) {
                Some(counter) => Counter::from_arc(Arc::new(StaticCounter(counter))),
                None => Counter::noop(),
            };
        }
        if key.name() != "handoff_verifications_total" {
            return Counter::noop();
        }
        let outcome = key
            .labels()
            .find(|l| l.key() == "outcome")
            .map(|l| l.value().to_owned());
        match outcome.as_deref() {
            Some("valid") => Counter::from_arc(Arc::new(StaticCounter(&HANDOFF_VALID))),
            Some("refused") => Counter::from_arc(Arc::new(StaticCounter(&HANDOFF_REFUSED))),
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        if key.name() == "handoff_verification_seconds" {
            Histogram::from_arc(Arc::new(StaticHistogram(&HANDOFF_VERIFICATION_SECONDS)))
        } else {
            Histogram::noop()
        }
    }
}

/// Installs the bridge as the process's `metrics` recorder; later calls
/// (and a recorder someone else installed first) leave it as it is.
pub fn install() {
    let _ = metrics::set_global_recorder(Bridge);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{auth_refusals, AUTH_REFUSALS};

    #[test]
    fn every_refusal_the_library_counts_reaches_its_own_series() {
        let reasons: Vec<&str> = handoff_guard::Refusal::LABELS
            .into_iter()
            .chain(handoff_guard::login_service::REFUSAL_REASONS)
            .collect();
        assert_eq!(reasons.len(), AUTH_REFUSALS.len(), "one series each");
        for reason in reasons {
            let series = auth_refusals(reason).unwrap_or_else(|| panic!("{reason}"));
            let before = series.value();
            metrics::with_local_recorder(&Bridge, || {
                metrics::counter!("auth_refusals_total", "reason" => reason).increment(3);
            });
            let after = series.value();
            assert!(after >= before + 3, "{reason}: {before} then {after}");
        }
    }
}

//! The documented limits of startup and liveness probes.
//!
//! - Field ranges and defaults (initial delay 0, period 10 s, timeout 1 s,
//!   failure threshold 3; period at least the timeout; startup probes at
//!   most 240 s, liveness 3600 s):
//!   <https://cloud.google.com/run/docs/reference/rest/v2/Container#Probe>
//! - A startup probe must succeed within failureThreshold × periodSeconds,
//!   which cannot exceed 240 seconds; HTTP and gRPC liveness probes only (no
//!   TCP); HTTP probes are HTTP/1 GETs:
//!   <https://cloud.google.com/run/docs/configuring/healthchecks>

use std::time::Duration;

use super::plan::{Probe, ProbeAction};
use super::problems::Problems;
use super::spec::ProbeSpec;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProbeKind {
    Startup,
    Liveness,
}

pub fn check_probe(
    p: &mut Problems,
    field: &str,
    spec: &ProbeSpec,
    kind: ProbeKind,
    port: u16,
) -> Probe {
    let max = match kind {
        ProbeKind::Startup => 240,
        ProbeKind::Liveness => 3600,
    };
    let initial = p.int(
        &format!("{field}.initialDelaySeconds"),
        &spec.initial_delay_seconds,
        0,
    );
    p.range(&format!("{field}.initialDelaySeconds"), initial, 0, max);
    let period = p.int(&format!("{field}.periodSeconds"), &spec.period_seconds, 10);
    p.range(&format!("{field}.periodSeconds"), period, 1, max);
    let timeout = p.int(&format!("{field}.timeoutSeconds"), &spec.timeout_seconds, 1);
    p.range(&format!("{field}.timeoutSeconds"), timeout, 1, max);
    if timeout > period {
        p.add(
            &format!("{field}.timeoutSeconds"),
            format!("must be less than or equal to periodSeconds ({timeout} > {period})."),
        );
    }
    let threshold = p.int(
        &format!("{field}.failureThreshold"),
        &spec.failure_threshold,
        3,
    );
    p.range(
        &format!("{field}.failureThreshold"),
        threshold,
        1,
        i64::from(i32::MAX),
    );
    if kind == ProbeKind::Startup && threshold.saturating_mul(period) > 240 {
        p.add(
            field,
            format!("failureThreshold × periodSeconds ({threshold} × {period} s) must not exceed 240 seconds."),
        );
    }
    let actions = usize::from(spec.http_get.is_some())
        + usize::from(spec.tcp_socket.is_some())
        + usize::from(spec.grpc);
    if actions != 1 {
        p.add(
            field,
            "exactly one of httpGet, tcpSocket or grpc must be specified.",
        );
    }
    if spec.grpc {
        p.add(
            &format!("{field}.grpc"),
            "gRPC probes are not rehearsed here (the services speak HTTP/1).",
        );
    }
    if kind == ProbeKind::Liveness && spec.tcp_socket.is_some() {
        p.add(
            &format!("{field}.tcpSocket"),
            "liveness probes must be HTTP or gRPC.",
        );
    }
    let probe_port = spec
        .http_get
        .as_ref()
        .and_then(|h| h.port.clone())
        .or_else(|| spec.tcp_socket.clone().flatten());
    if let Some(given) = probe_port {
        let n = p.int(&format!("{field}.port"), &Some(given), i64::from(port));
        if n != i64::from(port) {
            p.add(
                &format!("{field}.port"),
                format!("must be the container port {port}, got {n}."),
            );
        }
    }
    let action = match &spec.http_get {
        Some(http) => {
            let path = http.path.clone().unwrap_or_else(|| "/".into());
            if !path.starts_with('/') {
                p.add(
                    &format!("{field}.httpGet.path"),
                    format!("must begin with '/', got {path:?}."),
                );
            }
            ProbeAction::HttpGet { path }
        }
        None => ProbeAction::Tcp,
    };
    let secs = |n: i64| Duration::from_secs(n.clamp(0, max) as u64);
    Probe {
        action,
        initial_delay: secs(initial),
        period: secs(period.max(1)),
        timeout: secs(timeout.max(1)),
        failure_threshold: threshold.clamp(1, i64::from(u32::MAX)) as u32,
    }
}

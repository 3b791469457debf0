//! Startup and liveness probes with the definition's own numbers
//! (<https://cloud.google.com/run/docs/configuring/healthchecks>):
//!
//! - the first check after `initialDelaySeconds`, then one every
//!   `periodSeconds`, each given `timeoutSeconds`;
//! - an HTTP probe is a GET; "any response between 200 and 400 is a
//!   success, everything else indicates failure"; a TCP probe succeeds
//!   when a connection opens;
//! - a startup probe that has not succeeded after `failureThreshold`
//!   checks fails the revision and the container is shut down; a liveness
//!   probe failing `failureThreshold` times in a row restarts the
//!   container (here: recorded, see docs/cloud-run-rehearsal.md);
//! - CPU is allocated for every probe ([`super::cpu`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::instance::Instance;
use super::plan::{Probe, ProbeAction};

/// One check, `Ok` when it passed.
pub async fn check(
    client: &reqwest::Client,
    instance: &Instance,
    probe: &Probe,
) -> Result<(), String> {
    let _cpu = instance.cpu.enter();
    let port = instance.port;
    let attempt = async {
        match &probe.action {
            ProbeAction::Tcp => tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map(drop)
                .map_err(|e| format!("TCP connection to port {port} failed: {e}")),
            ProbeAction::HttpGet { path } => {
                let response = client
                    .get(format!("http://127.0.0.1:{port}{path}"))
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "GET {path} failed: {}",
                            handoff_guard::login_service::describe_http_error(&e)
                        )
                    })?;
                let status = response.status().as_u16();
                match (200..400).contains(&status) {
                    true => Ok(()),
                    false => Err(format!("GET {path} answered {status}")),
                }
            }
        }
    };
    match tokio::time::timeout(probe.timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {}s", probe.timeout.as_secs())),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .expect("the probe client builds")
}

/// Runs the startup probe until it passes or fails the revision. Returns
/// the number of checks made, or the failure's explanation.
pub async fn startup(instance: &Instance, probe: &Probe) -> Result<u32, String> {
    let client = client();
    tokio::time::sleep(probe.initial_delay).await;
    let mut ticks = tokio::time::interval(probe.period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = String::new();
    for attempt in 1..=probe.failure_threshold {
        ticks.tick().await;
        if let Some(status) = instance.exited() {
            return Err(format!(
                "The user-provided container exited ({status}) before it was ready. Last probe: {last}"
            ));
        }
        let began = std::time::Instant::now();
        let outcome = check(&client, instance, probe).await;
        instance
            .startup_checks
            .lock()
            .unwrap()
            .push(super::instance::Checked {
                took: began.elapsed(),
                outcome: outcome.clone(),
            });
        match outcome {
            Ok(()) => return Ok(attempt),
            Err(e) => last = e,
        }
    }
    Err(format!(
        "The user-provided container failed the configured startup probe checks ({} checks every {}s; last: {last}).",
        probe.failure_threshold,
        probe.period.as_secs()
    ))
}

/// What a revision's liveness probe saw.
#[derive(Default, Debug)]
pub struct Liveness {
    /// Checks made.
    pub checks: AtomicU64,
    /// Checks that failed.
    pub failed_checks: AtomicU64,
    /// Times the probe failed `failureThreshold` times in a row: each one a
    /// container restart on Cloud Run.
    pub failures: AtomicU64,
}

impl Liveness {
    /// (checks, failed checks, restarts Cloud Run would have made).
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.checks.load(Ordering::Relaxed),
            self.failed_checks.load(Ordering::Relaxed),
            self.failures.load(Ordering::Relaxed),
        )
    }
}

/// Liveness checks until the instance exits, recorded in `record`.
pub fn watch_liveness(instance: Arc<Instance>, probe: Probe, record: Arc<Liveness>) {
    tokio::spawn(async move {
        let client = client();
        tokio::time::sleep(probe.initial_delay).await;
        let mut ticks = tokio::time::interval(probe.period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        let mut in_a_row = 0;
        loop {
            ticks.tick().await;
            if instance.exited().is_some() || Arc::strong_count(&instance) == 1 {
                return;
            }
            let result = check(&client, &instance, &probe).await;
            record.checks.fetch_add(1, Ordering::Relaxed);
            match result {
                Ok(()) => in_a_row = 0,
                Err(e) => {
                    record.failed_checks.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(revision = %instance.revision, reason = %e, "liveness check failed");
                    in_a_row += 1;
                    if in_a_row >= probe.failure_threshold {
                        record.failures.fetch_add(1, Ordering::Relaxed);
                        in_a_row = 0;
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn probe(period_ms: u64, threshold: u32) -> Probe {
        Probe {
            action: ProbeAction::HttpGet {
                path: "/ready".into(),
            },
            initial_delay: Duration::ZERO,
            period: Duration::from_millis(period_ms),
            timeout: Duration::from_millis(period_ms),
            failure_threshold: threshold,
        }
    }

    #[tokio::test]
    async fn a_container_that_never_listens_fails_after_the_threshold() {
        let command = std::process::Command::new("sleep");
        let mut command = command;
        command.arg("30");
        let port = crate::ports::for_a_child();
        let env = [("PATH".to_string(), "/usr/bin:/bin".to_string())];
        let instance = Instance::spawn(command, &env, "x-00001-abc", port, true).unwrap();
        let started = std::time::Instant::now();
        let e = startup(&instance, &probe(100, 3)).await.unwrap_err();
        assert!(
            e.contains("failed the configured startup probe checks"),
            "{e}"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "3 checks, 100 ms apart"
        );
        let report = instance.stop().await;
        assert!(report.exited_by_itself, "sleep ends on SIGTERM");
    }
}

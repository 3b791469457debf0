//! What a valid service definition asks Cloud Run to run: the revision's
//! plan, with Cloud Run's defaults filled in ([`super::validate`] builds it).

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    /// The ingress container, the one with the port: it takes the requests.
    /// Its name, if given (required with sidecars).
    pub ingress_name: Option<String>,
    pub image: String,
    pub container_port: u16,
    pub env: Vec<(String, EnvValue)>,
    pub startup: Probe,
    pub liveness: Option<Probe>,
    /// The ingress container's dependencies: the containers whose startup
    /// probes must pass before it starts.
    pub ingress_depends_on: Vec<String>,
    /// The other containers, in an order that starts each one after its
    /// dependencies (<https://cloud.google.com/run/docs/deploying#sidecars>).
    pub sidecars: Vec<Sidecar>,
    /// Request-based billing: CPU only while a request (or probe) runs.
    pub cpu_throttling: bool,
    pub cloudsql_instances: Vec<String>,
    /// The service's Invoker IAM check (a service setting: changing it
    /// makes no new revision). On, the URL refuses every request here,
    /// since the emulator grants `roles/run.invoker` to no one.
    pub invoker_iam_check: bool,
    pub concurrency: u32,
    pub request_timeout: Duration,
    /// The revision template as text: unchanged text, no new revision.
    pub template_text: String,
}

/// A container without a port: it takes no requests from Cloud Run; the
/// others reach it on localhost.
#[derive(Debug, Clone)]
pub struct Sidecar {
    pub name: String,
    pub image: String,
    pub env: Vec<(String, EnvValue)>,
    /// No default: Cloud Run gives the default TCP startup probe to the
    /// ingress container only, which has the port to probe.
    pub startup: Option<Probe>,
    pub liveness: Option<Probe>,
    /// The localhost port its probes name (0 without probes).
    pub probe_port: u16,
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EnvValue {
    Plain(String),
    Secret {
        name: String,
        version: SecretVersion,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SecretVersion {
    Latest,
    Number(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub action: ProbeAction,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub failure_threshold: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProbeAction {
    HttpGet { path: String },
    Tcp,
}

impl Probe {
    /// "A TCP startup probe is automatically configured for a new Cloud Run
    /// service": timeout 240 s, period 240 s, failure threshold 1
    /// (<https://cloud.google.com/run/docs/configuring/healthchecks#default-tcp-startup-probe>).
    pub fn default_startup() -> Self {
        Self {
            action: ProbeAction::Tcp,
            initial_delay: Duration::ZERO,
            period: Duration::from_secs(240),
            timeout: Duration::from_secs(240),
            failure_threshold: 1,
        }
    }
}

//! Services and their revisions, as `gcloud run services replace` drives
//! them (<https://cloud.google.com/run/docs/managing/revisions>,
//! <https://cloud.google.com/run/docs/rollouts-rollbacks-traffic-migration>):
//!
//! - a definition whose revision template did not change makes no new
//!   revision;
//! - a changed one starts a new revision; traffic moves to it only once its
//!   startup probe passed, then the old revision's instance is shut down
//!   (`SIGTERM`, 10 s, `SIGKILL`);
//! - a revision that cannot become ready fails the deployment, its
//!   containers are shut down, and the previous revision keeps serving;
//! - with sidecars, the containers start in dependency order
//!   ([`super::startup`]); the ingress container takes the requests.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use rand::Rng;
use serde::Serialize;
use url::Url;

use super::cloudsql::CloudSql;
use super::cpu::Cpu;
use super::front::{self, Front, Route, Served, Target};
use super::instance::{Instance, StopReport};
use super::plan::Plan;
use super::runtime::Runtime;
use super::{environment, probes, spec, startup, validate};

pub struct Config {
    /// Holds `secrets/NAME/VERSION` (written by the stand-in gcloud).
    pub state: PathBuf,
    pub runtime: Arc<dyn Runtime>,
    /// Variables that stand in for Google's endpoints (the one deviation).
    pub overlay: Vec<(String, String)>,
    pub cloudsql: Option<CloudSql>,
}

#[derive(Debug)]
pub enum DeployError {
    /// The definition is refused (HTTP 400).
    Invalid(String),
    /// The new revision did not become ready (HTTP 409).
    NotReady(String),
}

impl std::fmt::Display for DeployError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeployError::Invalid(e) | DeployError::NotReady(e) => f.write_str(e),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Deployed {
    pub url: String,
    pub revision: String,
    pub changed: bool,
}

/// A revision that served traffic (or tried to).
pub struct Revision {
    pub name: String,
    /// The ingress container's process (`None` inside only if it never
    /// started: see [`Revision::sidecars`] for the others).
    pub instance: Arc<Instance>,
    /// The sidecars that started, in start order.
    pub sidecars: Vec<Arc<Instance>>,
    pub plan: Plan,
    pub liveness: Arc<probes::Liveness>,
    pub ready_at: Option<std::time::Instant>,
}

#[derive(Default)]
struct ServiceState {
    template: Option<String>,
    generation: u32,
    current: Option<Arc<Revision>>,
    revisions: Vec<Arc<Revision>>,
    stopped: Vec<StopReport>,
}

pub struct Service {
    pub name: String,
    pub url: Url,
    front: Front,
    deploying: tokio::sync::Mutex<()>,
    state: Mutex<ServiceState>,
}

impl Service {
    /// The URL as Cloud Run writes `status.url`: no trailing slash.
    pub fn url_text(&self) -> String {
        self.url.as_str().trim_end_matches('/').to_owned()
    }

    pub fn current(&self) -> Option<Arc<Revision>> {
        self.state.lock().unwrap().current.clone()
    }

    pub fn revisions(&self) -> Vec<Arc<Revision>> {
        self.state.lock().unwrap().revisions.clone()
    }

    /// How the instances of replaced or deleted revisions ended.
    pub fn stopped(&self) -> Vec<StopReport> {
        self.state.lock().unwrap().stopped.clone()
    }

    /// Paths of the requests the Invoker IAM check refused at the URL.
    pub fn front_refused(&self) -> Vec<String> {
        self.front.route.refused()
    }

    /// Requests the service's URL passed on.
    pub fn served(&self) -> Vec<Served> {
        self.front.route.served()
    }

    /// The ingress container first (it stops taking requests), then the
    /// sidecars, the last started first.
    async fn stop_revision(self: &Arc<Self>, revision: Arc<Revision>) -> StopReport {
        let report = revision.instance.stop().await;
        for sidecar in revision.sidecars.iter().rev() {
            sidecar.stop().await;
        }
        self.state.lock().unwrap().stopped.push(report.clone());
        report
    }
}

pub struct Emulator {
    config: Config,
    services: Mutex<BTreeMap<String, Arc<Service>>>,
    next_host: AtomicU8,
}

/// The instance's `PORT`: on Cloud Run each container has the port to
/// itself; here the instances share the host, so the port comes from
/// below the ephemeral range, where no outgoing connection can take it
/// before the instance binds it.
fn free_port() -> u16 {
    crate::ports::for_a_child()
}

/// `env` with each sidecar port `from` replaced by `to`: a value that is
/// the port, or a loopback address with it (`127.0.0.1:PORT`,
/// `localhost:PORT`).
fn relocalise(env: &mut [(String, String)], ports: &[(u16, u16)]) {
    for (_, value) in env.iter_mut() {
        for (from, to) in ports {
            if *value == from.to_string() {
                *value = to.to_string();
            }
            for host in ["127.0.0.1", "localhost"] {
                let (old, new) = (format!("{host}:{from}"), format!("{host}:{to}"));
                let mut out = String::new();
                let mut rest = value.as_str();
                while let Some(at) = rest.find(&old) {
                    let after = &rest[at + old.len()..];
                    // 127.0.0.1:808 is not in 127.0.0.1:8080.
                    let whole = !after.starts_with(|c: char| c.is_ascii_digit());
                    out.push_str(&rest[..at]);
                    out.push_str(if whole { &new } else { &old });
                    rest = after;
                }
                out.push_str(rest);
                *value = out;
            }
        }
    }
}

fn suffix() -> String {
    let mut rng = rand::thread_rng();
    (0..3).map(|_| rng.gen_range(b'a'..=b'z') as char).collect()
}

impl Emulator {
    pub fn new(config: Config) -> Arc<Self> {
        Arc::new(Self {
            config,
            services: Mutex::default(),
            next_host: AtomicU8::new(11),
        })
    }

    pub fn service(&self, name: &str) -> Option<Arc<Service>> {
        self.services.lock().unwrap().get(name).cloned()
    }

    pub fn services(&self) -> Vec<Arc<Service>> {
        self.services.lock().unwrap().values().cloned().collect()
    }

    /// The service's URL, allocated on first use and kept for its life.
    /// Each service gets a loopback address of its own (127.0.0.N), so
    /// browsers keep their cookies apart as they do for two `run.app` hosts.
    pub fn url_for(&self, name: &str) -> Result<Url, String> {
        Ok(self.service_named(name)?.url.clone())
    }

    fn service_named(&self, name: &str) -> Result<Arc<Service>, String> {
        let mut services = self.services.lock().unwrap();
        if let Some(service) = services.get(name) {
            return Ok(service.clone());
        }
        let host = Ipv4Addr::new(
            127,
            0,
            0,
            self.next_host.fetch_add(1, Ordering::Relaxed).max(2),
        );
        let listener = TcpListener::bind((host, 0))
            .or_else(|_| TcpListener::bind("127.0.0.1:0"))
            .map_err(|e| format!("no loopback port for the service URL: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let front =
            front::start(listener, Arc::new(Route::default())).map_err(|e| e.to_string())?;
        let service = Arc::new(Service {
            name: name.to_owned(),
            url: Url::parse(&format!("http://{addr}")).map_err(|e| e.to_string())?,
            front,
            deploying: tokio::sync::Mutex::new(()),
            state: Mutex::default(),
        });
        services.insert(name.to_owned(), service.clone());
        Ok(service)
    }

    /// `gcloud run services replace`: returns once the revision serves
    /// traffic, or with the reason it cannot.
    pub async fn replace(&self, yaml: &str) -> Result<Deployed, DeployError> {
        let plan = spec::parse(yaml)
            .and_then(|s| validate::validate(&s))
            .map_err(DeployError::Invalid)?;
        let entrypoint = self
            .config
            .runtime
            .entrypoint(&plan.image)
            .map_err(DeployError::Invalid)?;
        let sidecar_entrypoints = plan
            .sidecars
            .iter()
            .map(|s| self.config.runtime.entrypoint(&s.image))
            .collect::<Result<Vec<_>, _>>()
            .map_err(DeployError::Invalid)?;
        let service = self
            .service_named(&plan.name)
            .map_err(DeployError::Invalid)?;
        let _one_at_a_time = service.deploying.lock().await;
        // A service setting, applied with the definition whether or not a
        // new revision is made.
        service
            .front
            .route
            .set_invoker_iam_check(plan.invoker_iam_check);
        let (unchanged, generation) = {
            let mut state = service.state.lock().unwrap();
            let alive = state
                .current
                .as_ref()
                .is_some_and(|r| r.instance.exited().is_none());
            let unchanged = alive && state.template.as_deref() == Some(plan.template_text.as_str());
            if !unchanged {
                state.generation += 1;
            }
            (
                unchanged.then(|| state.current.clone()).flatten(),
                state.generation,
            )
        };
        if let Some(current) = unchanged {
            return Ok(Deployed {
                url: service.url_text(),
                revision: current.name.clone(),
                changed: false,
            });
        }
        let name = format!("{}-{generation:05}-{}", plan.name, suffix());
        let port = free_port();
        let mut env =
            environment::build(&plan, &self.config.state, &name, port, &self.config.overlay)
                .map_err(DeployError::Invalid)?;
        // Each instance has a localhost of its own on Cloud Run; here all
        // share the host's, so each sidecar's port is a fresh one per
        // instance, written into every container's variables in its place.
        let ports: Vec<(u16, u16)> = plan
            .sidecars
            .iter()
            .filter(|s| s.probe_port != 0)
            .map(|s| (s.probe_port, free_port()))
            .collect();
        relocalise(&mut env, &ports);
        let command = self.command(&entrypoint, &mut env, &plan);
        let mut containers = Vec::new();
        for (sidecar, entrypoint) in plan.sidecars.iter().zip(&sidecar_entrypoints) {
            let mut env = environment::build_for(
                &plan.name,
                &sidecar.env,
                &self.config.state,
                &name,
                None,
                &self.config.overlay,
            )
            .map_err(DeployError::Invalid)?;
            relocalise(&mut env, &ports);
            let port = ports
                .iter()
                .find(|(from, _)| *from == sidecar.probe_port)
                .map_or(sidecar.probe_port, |(_, to)| *to);
            containers.push(startup::Container {
                name: Some(sidecar.name.clone()),
                command: self.command(entrypoint, &mut env, &plan),
                env,
                port,
                startup: sidecar.startup.clone(),
                depends_on: sidecar.depends_on.clone(),
            });
        }
        containers.push(startup::Container {
            name: plan.ingress_name.clone(),
            command,
            env,
            port,
            startup: Some(plan.startup.clone()),
            depends_on: plan.ingress_depends_on.clone(),
        });
        let cpu = Cpu::for_instance(plan.cpu_throttling);
        let (mut spawned, started) = startup::start(&name, containers, cpu).await;
        let ingress = spawned.pop().flatten();
        let sidecars: Vec<Arc<Instance>> = spawned.into_iter().flatten().collect();
        let Some(instance) = ingress else {
            // The ingress container never started: its dependencies failed.
            for sidecar in sidecars.iter().rev() {
                sidecar.stop().await;
            }
            let e = started.err().unwrap_or_default();
            return Err(DeployError::NotReady(format!(
                "Revision '{name}' is not ready and cannot serve traffic. {e} Logs for this revision might contain more information."
            )));
        };
        let mut revision = Revision {
            name: name.clone(),
            instance: instance.clone(),
            sidecars,
            plan: plan.clone(),
            liveness: Arc::default(),
            ready_at: None,
        };
        if let Err(e) = started {
            let revision = Arc::new(revision);
            service
                .state
                .lock()
                .unwrap()
                .revisions
                .push(revision.clone());
            service.stop_revision(revision).await;
            return Err(DeployError::NotReady(format!(
                "Revision '{name}' is not ready and cannot serve traffic. {e} Logs for this revision might contain more information."
            )));
        }
        revision.ready_at = Some(std::time::Instant::now());
        instance.cpu.start_throttling();
        if let Some(liveness) = &plan.liveness {
            probes::watch_liveness(
                instance.clone(),
                liveness.clone(),
                revision.liveness.clone(),
            );
        }
        // The sidecars' liveness checks count with the ingress container's.
        for (sidecar, spec) in revision.sidecars.iter().zip(&plan.sidecars) {
            if let Some(liveness) = &spec.liveness {
                probes::watch_liveness(
                    sidecar.clone(),
                    liveness.clone(),
                    revision.liveness.clone(),
                );
            }
        }
        let revision = Arc::new(revision);
        let target = Target {
            instance,
            request_timeout: plan.request_timeout,
        };
        service.front.route.switch(Some(Arc::new(target)));
        let previous = {
            let mut state = service.state.lock().unwrap();
            state.template = Some(plan.template_text.clone());
            state.revisions.push(revision.clone());
            state.current.replace(revision)
        };
        if let Some(previous) = previous {
            let service = service.clone();
            tokio::spawn(async move { service.stop_revision(previous).await });
        }
        Ok(Deployed {
            url: service.url_text(),
            revision: name,
            changed: true,
        })
    }

    /// The process for `entrypoint`, in the `/cloudsql` mount namespace
    /// when the revision names Cloud SQL instances.
    fn command(
        &self,
        entrypoint: &std::path::Path,
        env: &mut [(String, String)],
        plan: &Plan,
    ) -> std::process::Command {
        match &self.config.cloudsql {
            Some(cloudsql) => cloudsql
                .wrap(entrypoint, &plan.cloudsql_instances)
                .unwrap_or_else(|| {
                    cloudsql.rewrite(env, &plan.cloudsql_instances);
                    std::process::Command::new(entrypoint)
                }),
            None => std::process::Command::new(entrypoint),
        }
    }

    /// Stops the service's revision (`SIGTERM` semantics) and frees its URL.
    pub async fn delete(&self, name: &str) -> Option<Option<StopReport>> {
        let service = self.services.lock().unwrap().remove(name)?;
        let _one_at_a_time = service.deploying.lock().await;
        service.front.route.switch(None);
        let current = service.state.lock().unwrap().current.take();
        let report = match current {
            Some(revision) => Some(service.stop_revision(revision).await),
            None => None,
        };
        service.front.handle.stop(true).await;
        Some(report)
    }

    /// Stops every service.
    pub async fn shutdown(&self) {
        let names: Vec<String> = self.services.lock().unwrap().keys().cloned().collect();
        futures_util::future::join_all(names.iter().map(|n| self.delete(n))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::relocalise;

    #[test]
    fn a_sidecar_port_is_replaced_where_a_variable_holds_it_and_nowhere_else() {
        let mut env: Vec<(String, String)> = [
            ("PORT", "8080"),
            ("UPSTREAM_URL", "http://127.0.0.1:8080"),
            ("OTHER", "http://localhost:8080/x, 127.0.0.1:80800"),
            ("UNRELATED", "18080"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        relocalise(&mut env, &[(8080, 3456)]);
        let values: Vec<&str> = env.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            values,
            [
                "3456",
                "http://127.0.0.1:3456",
                "http://localhost:3456/x, 127.0.0.1:80800",
                "18080"
            ]
        );
    }
}

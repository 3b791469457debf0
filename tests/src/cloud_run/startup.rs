//! Starting an instance's containers as Cloud Run does with sidecars
//! (<https://cloud.google.com/run/docs/deploying#sidecars>): a container
//! named in `run.googleapis.com/container-dependencies` starts only once
//! every container it depends on has passed its startup probe; the
//! others start at once. The instance is ready when every container's
//! startup probe has passed, and not at all if one fails. All containers
//! share the instance's network (localhost) and its CPU
//! ([`super::cpu`]).

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::future::{BoxFuture, FutureExt, Shared};

use super::cpu::Cpu;
use super::instance::Instance;
use super::plan::Probe;
use super::probes;

/// One container to start.
pub struct Container {
    /// `None` for the only container of a single-container revision.
    pub name: Option<String>,
    pub command: Command,
    pub env: Vec<(String, String)>,
    /// Where its probes connect on localhost.
    pub port: u16,
    /// `None`: started counts as ready (a sidecar without a probe).
    pub startup: Option<Probe>,
    pub depends_on: Vec<String>,
}

type Ready = Shared<BoxFuture<'static, Result<(), String>>>;

/// Starts `containers` (given dependencies first) and waits until every
/// one is ready. Returns the instances started, by position (`None`: not
/// started, its dependency failed), and the first failure.
pub async fn start(
    revision: &str,
    containers: Vec<Container>,
    cpu: Arc<Cpu>,
) -> (Vec<Option<Arc<Instance>>>, Result<(), String>) {
    let spawned: Arc<Mutex<Vec<Option<Arc<Instance>>>>> =
        Arc::new(Mutex::new(vec![None; containers.len()]));
    let mut ready: HashMap<String, Ready> = HashMap::new();
    let mut all = Vec::new();
    for (i, container) in containers.into_iter().enumerate() {
        let dependencies: Vec<Ready> = container
            .depends_on
            .iter()
            .filter_map(|d| ready.get(d).cloned())
            .collect();
        let (spawned, cpu, revision) = (spawned.clone(), cpu.clone(), revision.to_owned());
        let name = container.name.clone();
        let future = async move {
            // A dependency's failure is this container's: it never starts.
            for dependency in futures_util::future::join_all(dependencies).await {
                dependency?;
            }
            let Container {
                name,
                command,
                env,
                port,
                startup,
                ..
            } = container;
            let instance = Arc::new(Instance::spawn_in(
                command,
                &env,
                &revision,
                name.as_deref(),
                port,
                cpu,
            )?);
            spawned.lock().unwrap()[i] = Some(instance.clone());
            if let Some(probe) = &startup {
                probes::startup(&instance, probe)
                    .await
                    .map_err(|e| match &name {
                        Some(name) => format!("Container '{name}': {e}"),
                        None => e,
                    })?;
            }
            *instance.ready_at.lock().unwrap() = Some(Instant::now());
            Ok::<(), String>(())
        }
        .boxed()
        .shared();
        if let Some(name) = name {
            ready.insert(name, future.clone());
        }
        all.push(future);
    }
    let outcome = futures_util::future::join_all(all)
        .await
        .into_iter()
        .collect::<Result<Vec<()>, String>>()
        .map(drop);
    let spawned = spawned.lock().unwrap().clone();
    (spawned, outcome)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cloud_run::plan::ProbeAction;

    fn whoami(name: &str, port: u16, depends_on: &[&str]) -> Container {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("apps/whoami.py");
        Container {
            name: Some(name.into()),
            command: Command::new(script),
            env: vec![("PORT".into(), port.to_string())],
            port,
            startup: Some(Probe {
                action: ProbeAction::Tcp,
                initial_delay: Duration::ZERO,
                period: Duration::from_millis(100),
                timeout: Duration::from_millis(100),
                failure_threshold: 50,
            }),
            depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[tokio::test]
    async fn a_dependent_starts_only_after_its_dependency_passed_its_startup_probe() {
        let (app, gate) = (crate::ports::for_a_child(), crate::ports::for_a_child());
        let containers = vec![whoami("app", app, &[]), whoami("gate", gate, &["app"])];
        let (spawned, outcome) = start("x-00001-abc", containers, Cpu::for_instance(false)).await;
        outcome.unwrap();
        let [Some(app), Some(gate)] = spawned.as_slice() else {
            panic!("both started")
        };
        let app_ready = app.ready_at.lock().unwrap().unwrap();
        assert!(
            gate.started_at >= app_ready,
            "the gate started before the app's startup probe passed"
        );
        assert!(gate.ready_at.lock().unwrap().is_some());
        for instance in [gate, app] {
            assert!(instance.stop().await.exited_by_itself);
        }
    }

    #[tokio::test]
    async fn a_dependency_that_never_becomes_ready_keeps_its_dependent_from_starting() {
        let mut never = Container {
            command: Command::new("sleep"),
            ..whoami("app", crate::ports::for_a_child(), &[])
        };
        never.command.arg("30");
        never.env.push(("PATH".into(), "/usr/bin:/bin".into()));
        never.startup.as_mut().unwrap().failure_threshold = 3;
        let containers = vec![never, whoami("gate", crate::ports::for_a_child(), &["app"])];
        let (spawned, outcome) = start("x-00001-abc", containers, Cpu::for_instance(false)).await;
        let e = outcome.unwrap_err();
        assert!(
            e.starts_with("Container 'app': ") && e.contains("startup probe"),
            "{e}"
        );
        assert!(spawned[1].is_none(), "the gate was started");
        spawned[0].as_ref().unwrap().stop().await;
    }
}

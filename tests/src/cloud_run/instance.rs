//! One container instance: the process, its captured output, its CPU
//! ([`super::cpu`]) and its shutdown. Cloud Run sends `SIGTERM` and
//! stops the instance with `SIGKILL` 10 seconds later if it has not exited
//! (<https://cloud.google.com/run/docs/container-contract#instance-shutdown>).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cpu::Cpu;

pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How an instance ended.
#[derive(Debug, Clone, Serialize)]
pub struct StopReport {
    pub revision: String,
    /// It exited within the grace period after `SIGTERM`.
    pub exited_by_itself: bool,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub seconds_to_exit: f64,
}

/// One startup check: how long it took and how it ended.
#[derive(Debug, Clone)]
pub struct Checked {
    pub took: Duration,
    pub outcome: Result<(), String>,
}

pub struct Instance {
    pub revision: String,
    /// The container's name in the definition (`None`: a single unnamed one).
    pub container: Option<String>,
    pub port: u16,
    /// When the process was started.
    pub started_at: Instant,
    /// When its startup probe passed (or, without one, when it started).
    pub ready_at: Mutex<Option<Instant>>,
    pub cpu: Arc<Cpu>,
    /// Every startup check made, in order.
    pub startup_checks: Mutex<Vec<Checked>>,
    child: Mutex<Child>,
    logs: Arc<Mutex<Vec<String>>>,
}

fn capture(stream: impl Read + Send + 'static, logs: Arc<Mutex<Vec<String>>>, tag: String) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if std::env::var_os("TEST_LOG").is_some() {
                eprintln!("[{tag}] {line}");
            }
            logs.lock().unwrap().push(line);
        }
    });
}

impl Instance {
    /// Starts `command` with exactly `env` (nothing inherited), with a CPU
    /// of its own.
    pub fn spawn(
        command: Command,
        env: &[(String, String)],
        revision: &str,
        port: u16,
        request_based: bool,
    ) -> Result<Self, String> {
        let cpu = Cpu::for_instance(request_based);
        Self::spawn_in(command, env, revision, None, port, cpu)
    }

    /// Starts one container of an instance whose containers share `cpu`.
    pub fn spawn_in(
        mut command: Command,
        env: &[(String, String)],
        revision: &str,
        container: Option<&str>,
        port: u16,
        cpu: Arc<Cpu>,
    ) -> Result<Self, String> {
        command
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // A container must not outlive the emulator (a frozen orphan would
        // stay stopped forever): the kernel kills it when its parent goes.
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let named = container
            .map(|c| format!(" container '{c}'"))
            .unwrap_or_default();
        let mut child = command.spawn().map_err(|e| {
            format!("The{named} container for revision '{revision}' could not start: {e}")
        })?;
        cpu.adopt(child.id());
        let tag = match container {
            Some(c) => format!("{revision}/{c}"),
            None => revision.to_owned(),
        };
        let logs = Arc::new(Mutex::new(Vec::new()));
        capture(child.stdout.take().unwrap(), logs.clone(), tag.clone());
        capture(child.stderr.take().unwrap(), logs.clone(), tag);
        Ok(Self {
            revision: revision.to_owned(),
            container: container.map(str::to_owned),
            port,
            started_at: Instant::now(),
            ready_at: Mutex::default(),
            cpu,
            startup_checks: Mutex::default(),
            child: Mutex::new(child),
            logs,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&self) -> Option<std::process::ExitStatus> {
        self.child.lock().unwrap().try_wait().ok().flatten()
    }

    /// `SIGTERM` (after giving the CPU back if it was frozen), up to 10 s
    /// to exit, then `SIGKILL`.
    pub async fn stop(&self) -> StopReport {
        self.stop_within(SHUTDOWN_GRACE).await
    }

    pub async fn stop_within(&self, grace: Duration) -> StopReport {
        use std::os::unix::process::ExitStatusExt;
        self.cpu.release();
        let pid = self.pid() as i32;
        let started = Instant::now();
        if self.exited().is_none() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let mut status = None;
        while started.elapsed() < grace {
            status = self.exited();
            if status.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let exited_by_itself = status.is_some();
        if status.is_none() {
            let mut child = self.child.lock().unwrap();
            let _ = child.kill();
            status = child.wait().ok();
        }
        StopReport {
            revision: self.revision.clone(),
            exited_by_itself,
            exit_code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            seconds_to_exit: started.elapsed().as_secs_f64(),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap();
        if child.try_wait().ok().flatten().is_none() {
            self.cpu.release();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

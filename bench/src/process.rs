//! The servers as child processes: started pinned with only the
//! environment given, timed from spawn to the first `200` of their ready path,
//! and asked for their peak resident memory.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// How long a server may take to become ready before the run gives up.
const READY_LIMIT: Duration = Duration::from_secs(20);
/// How often readiness is asked: the resolution of start-to-ready.
const READY_POLL: Duration = Duration::from_millis(1);

/// What to start.
pub struct Launch {
    pub name: &'static str,
    /// `<log_dir>/<log_name>.log` gets the server's output.
    pub log_name: &'static str,
    pub binary: PathBuf,
    /// Arguments after the binary (nginx's `-c <config>`; none for ours).
    pub args: Vec<String>,
    pub port: u16,
    /// Answers `200` once the server is ready: `/readyz` for the services
    /// and the baselines, the gate's own health route for the gate.
    pub ready_path: &'static str,
    pub env: Vec<(&'static str, String)>,
    pub cpus: Option<String>,
    pub log_dir: PathBuf,
}

/// A running server; killed when dropped.
pub struct Server {
    pub name: &'static str,
    pub port: u16,
    child: Child,
}

impl Server {
    /// Starts the server and waits until its ready path answers `200`;
    /// returns it with the time that took.
    pub fn start(launch: &Launch) -> anyhow::Result<(Self, Duration)> {
        let log_path = launch.log_dir.join(format!("{}.log", launch.log_name));
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let mut command = match &launch.cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg(&launch.binary);
                c
            }
            None => Command::new(&launch.binary),
        };
        // Only what is given: a setting in the caller's shell (a
        // DATABASE_URL, say) must not change what is measured.
        command
            .args(&launch.args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let started = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", launch.binary.display()))?;
        let mut server = Server {
            name: launch.name,
            port: launch.port,
            child,
        };
        loop {
            if is_ready(launch.port, launch.ready_path) {
                return Ok((server, started.elapsed()));
            }
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "{} stopped ({status}) before it was ready; its output is in {}",
                    launch.name,
                    log_path.display()
                );
            }
            if started.elapsed() > READY_LIMIT {
                bail!(
                    "{} was not ready within {READY_LIMIT:?}; its output is in {}",
                    launch.name,
                    log_path.display()
                );
            }
            std::thread::sleep(READY_POLL);
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts a new peak: the kernel's high-water mark of resident memory
    /// is set back to what is resident now.
    pub fn reset_peak_memory(&self) -> anyhow::Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5")
            .with_context(|| format!("resetting the peak memory of {}", self.name))
    }

    /// The most memory resident at once since the last reset, in bytes.
    pub fn peak_memory(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .with_context(|| format!("reading the status of {}", self.name))?;
        let kb: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("{} has no VmHWM", self.name))?;
        Ok(kb * 1024)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free now (the server binds it a moment later).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One plain `GET <path>`: `true` on `200`.
fn is_ready(port: u16, path: &str) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

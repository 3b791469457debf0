//! Google's Firestore emulator behind a rehearsed Firestore database, as
//! [`super::postgres`] is a real PostgreSQL behind Cloud SQL:
//! `gcloud emulators firestore start --host-port=127.0.0.1:PORT` (the
//! Debian package google-cloud-cli-firestore-emulator, which runs on Java).
//! The client libraries, and the public service's store, talk to it instead
//! of Firestore when `FIRESTORE_EMULATOR_HOST` names it, without
//! credentials: <https://cloud.google.com/firestore/docs/emulator>
//! ("Connect to the emulator"). It holds every project and database an
//! application names, in memory, until it stops.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running emulator; stopped (its whole process group: gcloud starts
/// Java under it) when dropped.
pub struct FirestoreEmulator {
    child: Child,
    host: String,
    _config: tempfile::TempDir,
}

/// How long the emulator may take to listen: Java's start on a busy
/// machine takes tens of seconds.
const START_TIMEOUT: Duration = Duration::from_secs(120);

impl FirestoreEmulator {
    /// Starts the emulator on a free loopback port and waits until it
    /// accepts connections. The error says what is missing.
    pub fn start() -> Result<Self, String> {
        let port = crate::ports::for_a_child();
        let host = format!("127.0.0.1:{port}");
        // gcloud's own configuration in a directory of the test's, so the
        // machine's is neither read nor written.
        let config = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut child = Command::new("gcloud")
            .args(["emulators", "firestore", "start", "--quiet"])
            .arg(format!("--host-port={host}"))
            .env("CLOUDSDK_CONFIG", config.path())
            .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
            .env("CLOUDSDK_CORE_DISABLE_USAGE_REPORTING", "true")
            .env("CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| {
                format!("gcloud emulators firestore start: {e} (install google-cloud-cli and google-cloud-cli-firestore-emulator)")
            })?;
        let address = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
        let started = Instant::now();
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "the Firestore emulator exited ({status}) before listening on {host}; it needs google-cloud-cli-firestore-emulator and a Java runtime"
                ));
            }
            if started.elapsed() > START_TIMEOUT {
                stop(&mut child);
                return Err(format!(
                    "the Firestore emulator did not listen on {host} within {START_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(Self {
            child,
            host,
            _config: config,
        })
    }

    /// `HOST:PORT`, the value of `FIRESTORE_EMULATOR_HOST`.
    pub fn host(&self) -> &str {
        &self.host
    }
}

fn stop(child: &mut Child) {
    // The group this emulator leads (process_group(0) above): gcloud and
    // the Java process it started, and nothing else.
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals that process group
        // only; it reads no memory of ours.
        unsafe {
            libc::kill(-pid, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: as above.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.wait();
}

impl Drop for FirestoreEmulator {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

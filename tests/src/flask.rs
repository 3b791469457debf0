//! `examples/flask-api` as a real Python process: a virtual environment
//! with its pinned packages (made once, in the workspace's
//! `target/flask-venv`, by `examples/flask-api/make-venv.sh` with pip
//! from PyPI), and the app under gunicorn as Cloud Run would run it.
//!
//! Without `python3` or PyPI the suite records a skip; `.ci/run` makes the
//! environment first and sets `FLASK_TEST_REQUIRED=1`, so there it fails
//! instead.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use url::Url;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The example's folder.
pub fn app_dir() -> PathBuf {
    workspace().join("examples/flask-api")
}

/// The virtual environment's `bin/`, made on first use, or why not.
pub fn venv_bin() -> Result<PathBuf, String> {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    VENV.get_or_init(|| {
        let venv = workspace().join("target/flask-venv");
        let made = std::process::Command::new("bash")
            .arg(app_dir().join("make-venv.sh"))
            .arg(&venv)
            .output()
            .map_err(|e| format!("bash does not run: {e}"))?;
        if !made.status.success() {
            return Err(format!(
                "the Flask app's virtual environment could not be made \
                 (python3 and PyPI are needed): {}",
                String::from_utf8_lossy(&made.stderr).trim()
            ));
        }
        Ok(venv.join("bin"))
    })
    .clone()
}

/// The venv's `bin/`, or `None` after recording a skip; panics instead
/// when `FLASK_TEST_REQUIRED` is set.
pub fn venv_or_skip() -> Option<PathBuf> {
    match venv_bin() {
        Ok(bin) => Some(bin),
        Err(reason) if std::env::var_os("FLASK_TEST_REQUIRED").is_none() => {
            crate::skipped(format_args!(
                "{reason}; .ci/run installs what this test needs"
            ));
            None
        }
        Err(reason) => panic!("the Flask test is required here: {reason}"),
    }
}

/// The Flask app under gunicorn; killed when dropped.
pub struct FlaskApp {
    child: Child,
    pub url: Url,
}

impl FlaskApp {
    /// Starts the app on `port` (see [`crate::ports::for_a_child`]) with
    /// `env` as its settings, and waits until it accepts connections.
    pub async fn start(bin: &Path, port: u16, env: &[(&str, String)]) -> Self {
        let mut command = Command::new(bin.join("gunicorn"));
        command
            .current_dir(app_dir())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .args([
                // As the README runs it on Cloud Run; the settings are
                // read in the master, so a bad one stops it at once.
                "--preload",
                "--workers",
                "1",
                "--threads",
                "8",
                "--timeout",
                "0",
                "--log-level",
                "warning",
                // Tests run several at once: no shared control socket.
                "--no-control-socket",
                "--bind",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .arg("app:app")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("gunicorn starts");
        let started = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the Flask app exited at start: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the Flask app did not listen within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self {
            child,
            url: Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        }
    }

    /// Imports the app's module with only `env` as its settings, as
    /// gunicorn's `--preload` does at start: its exit code and what it
    /// printed.
    pub async fn import(bin: &Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
        let output = Command::new(bin.join("python"))
            .current_dir(app_dir())
            .env_clear()
            .envs(env.iter().copied())
            .args(["-c", "import app"])
            .output()
            .await
            .expect("python runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

impl Drop for FlaskApp {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

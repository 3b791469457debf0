//! Captures every log line the services write during the test run, so a
//! test can prove that no token, code or secret it saw reached a log.
//!
//! One global subscriber per test binary, installed before any service
//! starts; `TEST_LOG=1` also echoes the lines to stderr. [`lines_of_trace`]
//! picks the lines of the requests that carried one trace id.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::EnvFilter;

static CAPTURED: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
static SERVICE_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = std::io::stderr().write_all(buf);
        }
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber (idempotent).
pub fn install() {
    CAPTURED.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink(buffer.clone());
        // Everything at debug, including the libraries the services use;
        // only the mock provider, which legitimately logs what it issues, is left out.
        let filter = EnvFilter::new("debug,mock_provider=off");
        // The services' own text format: a line written during a request
        // carries its `request_id` and `trace_id`, so a test can pick the
        // lines of its own requests out of those of every test running.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .event_format(service_kit::telemetry::TextFormat)
            .with_writer(move || sink.clone())
            .try_init();
        record_service_panics();
        buffer
    });
}

/// Appends what a child process writes to `stream` to the captured logs.
pub fn capture_stream(stream: impl std::io::Read + Send + 'static) {
    let Some(buffer) = CAPTURED.get().cloned() else {
        return;
    };
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut sink = Sink(buffer);
        for line in std::io::BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
        {
            let _ = sink.write_all(format!("{line}\n").as_bytes());
        }
    });
}

/// Panics on server threads (actix workers, tokio runtime threads) are
/// recorded; test threads panicking on a failed assertion are not.
fn record_service_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or_default();
        if name.starts_with("actix") || name.starts_with("tokio-runtime") {
            SERVICE_PANICS
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!("{name}: {info}"));
        }
        previous(info);
    }));
}

/// Fails if any service thread has panicked during this test binary's run.
pub fn assert_no_service_panics() {
    let panics = SERVICE_PANICS.lock().unwrap_or_else(|p| p.into_inner());
    assert!(panics.is_empty(), "a service panicked: {panics:?}");
}

pub fn captured() -> String {
    CAPTURED
        .get()
        .map(|b| String::from_utf8_lossy(&b.lock().unwrap()).into_owned())
        .unwrap_or_default()
}

/// Fails the test if any of `secrets` appears in the captured logs.
pub fn assert_not_logged(secrets: &[&str]) {
    let logs = captured();
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        assert!(
            !logs.contains(secret),
            "a secret reached the logs: {}…",
            &secret[..8]
        );
    }
}

/// The captured lines written during requests that carried `trace`
/// (`X-Cloud-Trace-Context: <trace>/…`), in the order written.
pub fn lines_of_trace(trace: &str) -> Vec<String> {
    let marker = format!(" trace_id={trace}}}");
    captured()
        .lines()
        .filter(|line| line.contains(&marker))
        .map(str::to_owned)
        .collect()
}

//! `wrk` with one fixed request per row, set up by a Lua script that also
//! reports exact percentiles and every kind of error in one line.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::load::Measured;

/// One request, repeated on every connection.
pub struct Request {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

pub struct Wrk<'a> {
    pub connections: usize,
    pub threads: usize,
    pub cpus: Option<&'a str>,
    /// A private directory for the scripts (they hold tokens).
    pub script_dir: &'a Path,
}

const RESULT_MARK: &str = "bench-result";

impl Wrk<'_> {
    pub fn run(&self, request: &Request, duration: Duration) -> anyhow::Result<Measured> {
        let script = self.script_dir.join("request.lua");
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&script)?
            .write_all(lua(request)?.as_bytes())?;
        let mut command = match self.cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg("wrk");
                c
            }
            None => Command::new("wrk"),
        };
        let output = command
            .arg(format!("--threads={}", self.threads.min(self.connections)))
            .arg(format!("--connections={}", self.connections))
            .arg(format!("--duration={}s", duration.as_secs().max(1)))
            .arg("--timeout=10s")
            .arg(format!("--script={}", script.display()))
            .arg(&request.url)
            .output()
            .context("running wrk (bench/run installs it)")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "wrk failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        parse(&stdout).with_context(|| format!("no {RESULT_MARK} line in wrk's output:\n{stdout}"))
    }
}

/// The script: the request, and a `done` that prints requests, duration
/// (µs), p50 and p99 (µs) and errors of every kind (socket and non-2xx/3xx).
fn lua(request: &Request) -> anyhow::Result<String> {
    let mut script = format!("wrk.method = {}\n", quoted(request.method)?);
    for (name, value) in &request.headers {
        // The spaces matter: `headers[[==[` would open a long string.
        script += &format!("wrk.headers[ {} ] = {}\n", quoted(name)?, quoted(value)?);
    }
    if let Some(body) = &request.body {
        script += &format!("wrk.body = {}\n", quoted(body)?);
    }
    script += &format!(
        r#"done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("{RESULT_MARK} %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"#
    );
    Ok(script)
}

/// A Lua long string: no escaping, and nothing in it can end it early.
fn quoted(value: &str) -> anyhow::Result<String> {
    if value.contains("]==]") || value.contains('\n') {
        bail!("a request value cannot be put in a wrk script");
    }
    Ok(format!("[==[{value}]==]"))
}

fn parse(stdout: &str) -> Option<Measured> {
    let line = stdout.lines().find_map(|l| l.strip_prefix(RESULT_MARK))?;
    let numbers: Vec<u64> = line
        .split_whitespace()
        .map(|n| n.parse::<f64>().map(|f| f as u64))
        .collect::<Result<_, _>>()
        .ok()?;
    let [requests, duration_us, p50, p99, errors] = numbers[..] else {
        return None;
    };
    Some(Measured {
        completed: requests.saturating_sub(errors),
        errors,
        seconds: duration_us as f64 / 1e6,
        p50: Duration::from_micros(p50),
        p99: Duration::from_micros(p99),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_line_is_read_among_wrk_s_own_output() {
        let out = "Running 1s test @ http://127.0.0.1:1/\n  1 threads\nbench-result 2000 1000000 450 1900 10\n";
        let m = parse(out).unwrap();
        assert_eq!((m.completed, m.errors), (1990, 10));
        assert_eq!(m.p99, Duration::from_micros(1900));
        assert_eq!(m.seconds, 1.0);
    }

    #[test]
    fn headers_are_indexed_not_called() {
        let script = lua(&Request {
            method: "GET",
            url: "http://127.0.0.1:1/".into(),
            headers: vec![("Cookie", "a=b".into())],
            body: None,
        })
        .unwrap();
        assert!(script.contains("wrk.headers[ [==[Cookie]==] ] = [==[a=b]==]"));
    }

    #[test]
    fn a_value_that_would_end_the_lua_string_is_refused() {
        assert!(quoted("a]==]b").is_err());
        assert_eq!(quoted("Bearer x.y").unwrap(), "[==[Bearer x.y]==]");
    }
}

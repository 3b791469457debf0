//! `wrk` with one request per row, set up by a Lua script that also
//! reports exact percentiles and every kind of error in one line. A row may
//! rotate a token through a header from a list (100 users, or tokens the
//! server has never seen) and may expect a refusal (forged tokens).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::load::Measured;

/// One request, repeated on every connection.
#[derive(Clone)]
pub struct Request {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
    /// A header whose value changes from request to request.
    pub rotate: Option<Rotation>,
    /// The one status that counts as success (`None`: any 2xx/3xx).
    pub expect: Option<u16>,
}

/// `header: prefix + token`, the tokens taken in turn; each wrk thread
/// takes every n-th one, so no two threads send the same token.
#[derive(Clone)]
pub struct Rotation {
    pub header: &'static str,
    pub prefix: String,
    pub tokens: std::sync::Arc<Vec<String>>,
}

/// What one wrk run saw, and how often the rotation started over.
pub struct WrkRun {
    pub measured: Measured,
    /// Times a thread came to the end of its tokens and began again.
    pub wrapped: u64,
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
    pub fn run(&self, request: &Request, duration: Duration) -> anyhow::Result<WrkRun> {
        let script = self.script_dir.join("request.lua");
        let tokens = self.script_dir.join("tokens.txt");
        if let Some(rotation) = &request.rotate {
            let mut text = String::new();
            for token in rotation.tokens.iter() {
                if token.contains('\n') {
                    bail!("a token cannot be put in a wrk token list");
                }
                text += token;
                text.push('\n');
            }
            private_file(&tokens)?.write_all(text.as_bytes())?;
        }
        let threads = self.threads.min(self.connections);
        private_file(&script)?.write_all(lua(request, &tokens, threads)?.as_bytes())?;
        let mut command = match self.cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg("wrk");
                c
            }
            None => Command::new("wrk"),
        };
        let output = command
            .arg(format!("--threads={threads}"))
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

/// A file only this user can read (scripts and lists hold tokens).
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// The script: the request, and a `done` that prints requests, duration
/// (µs), p50 and p99 (µs), errors of every kind (socket, and non-2xx/3xx
/// or not the expected status) and how often a rotation started over.
fn lua(request: &Request, tokens: &Path, threads: usize) -> anyhow::Result<String> {
    let mut script = format!("wrk.method = {}\n", quoted(request.method)?);
    for (name, value) in &request.headers {
        // The spaces matter: `headers[[==[` would open a long string.
        script += &format!("wrk.headers[ {} ] = {}\n", quoted(name)?, quoted(value)?);
    }
    if let Some(body) = &request.body {
        script += &format!("wrk.body = {}\n", quoted(body)?);
    }
    // Every thread's state, so that `done` can add up their counters.
    script += r#"local threads = {}
local thread_count = 0
setup = function(thread)
  thread:set("offset", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end
unexpected = 0
wrapped = 0
"#;
    if let Some(rotation) = &request.rotate {
        script += &format!(
            r#"local tokens = {{}}
local next_token = 0
init = function(args)
  local i = 0
  for line in io.lines({path}) do
    if i % {stride} == (offset or 0) then tokens[#tokens + 1] = line end
    i = i + 1
  end
end
request = function()
  next_token = next_token + 1
  if next_token > #tokens then
    next_token = 1
    wrapped = wrapped + 1
  end
  wrk.headers[ {header} ] = {prefix} .. tokens[next_token]
  return wrk.format()
end
"#,
            path = quoted(&tokens.display().to_string())?,
            stride = threads.max(1),
            header = quoted(rotation.header)?,
            prefix = quoted(&rotation.prefix)?,
        );
    }
    let status_errors = match request.expect {
        Some(status) => {
            script += &format!(
                "response = function(status, headers, body)\n  if status ~= {status} then unexpected = unexpected + 1 end\nend\n"
            );
            "unexpected"
        }
        None => "e.status",
    };
    script += &format!(
        r#"done = function(summary, latency, requests)
  local e = summary.errors
  local unexpected, wrapped = 0, 0
  for _, t in ipairs(threads) do
    unexpected = unexpected + t:get("unexpected")
    wrapped = wrapped + t:get("wrapped")
  end
  io.write(string.format("{RESULT_MARK} %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + {status_errors} + e.timeout, wrapped))
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

fn parse(stdout: &str) -> Option<WrkRun> {
    let line = stdout.lines().find_map(|l| l.strip_prefix(RESULT_MARK))?;
    let numbers: Vec<u64> = line
        .split_whitespace()
        .map(|n| n.parse::<f64>().map(|f| f as u64))
        .collect::<Result<_, _>>()
        .ok()?;
    let [requests, duration_us, p50, p99, errors, wrapped] = numbers[..] else {
        return None;
    };
    Some(WrkRun {
        measured: Measured {
            completed: requests.saturating_sub(errors),
            errors,
            seconds: duration_us as f64 / 1e6,
            p50: Duration::from_micros(p50),
            p99: Duration::from_micros(p99),
        },
        wrapped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_line_is_read_among_wrk_s_own_output() {
        let out = "Running 1s test @ http://127.0.0.1:1/\n  1 threads\nbench-result 2000 1000000 450 1900 10 3\n";
        let run = parse(out).unwrap();
        assert_eq!(run.wrapped, 3);
        let m = run.measured;
        assert_eq!((m.completed, m.errors), (1990, 10));
        assert_eq!(m.p99, Duration::from_micros(1900));
        assert_eq!(m.seconds, 1.0);
    }

    #[test]
    fn headers_are_indexed_not_called() {
        let script = lua(
            &Request {
                method: "GET",
                url: "http://127.0.0.1:1/".into(),
                headers: vec![("Cookie", "a=b".into())],
                body: None,
                rotate: None,
                expect: None,
            },
            Path::new("/tmp/t"),
            1,
        )
        .unwrap();
        assert!(script.contains("wrk.headers[ [==[Cookie]==] ] = [==[a=b]==]"));
    }

    #[test]
    fn a_value_that_would_end_the_lua_string_is_refused() {
        assert!(quoted("a]==]b").is_err());
        assert_eq!(quoted("Bearer x.y").unwrap(), "[==[Bearer x.y]==]");
    }
}

//! The Cloud Run emulator as a process, for the stand-in `gcloud`:
//!
//! ```text
//! cloud-run-emulator --state DIR --binaries DIR [--env-overlay FILE]
//!                    [--port N] [--cloudsql-dir DIR] [--app NAME=PROGRAM]…
//! ```
//!
//! Prints `listening on http://127.0.0.1:PORT` as its first line, then
//! serves the control API of `integration_tests::cloud_run::api` until
//! `POST /v1/shutdown` (or SIGINT/SIGTERM, which stop every service too).
//! `--env-overlay`: `NAME=VALUE` lines added to every container's
//! environment (the stand-ins for Google's endpoints). `--cloudsql-dir`:
//! the directory standing in for `/cloudsql`. `--app`: an image named NAME
//! runs PROGRAM (an app of this repository run as a sidecar, where an
//! operator's image would be).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use integration_tests::cloud_run::api;
use integration_tests::cloud_run::cloudsql::CloudSql;
use integration_tests::cloud_run::runtime::{HostBinaries, WithApps};
use integration_tests::cloud_run::{Config, Emulator};

struct Args {
    state: PathBuf,
    binaries: PathBuf,
    overlay: Vec<(String, String)>,
    port: u16,
    cloudsql: Option<PathBuf>,
    apps: Vec<(String, PathBuf)>,
}

const USAGE: &str = "usage: cloud-run-emulator --state DIR --binaries DIR [--env-overlay FILE] [--port N] [--cloudsql-dir DIR] [--app NAME=PROGRAM]...";

fn overlay(path: &str) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--env-overlay {path}: {e}"))?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .ok_or_else(|| format!("--env-overlay {path}: {l:?} is not NAME=VALUE"))
        })
        .collect()
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut state, mut binaries, mut overlay_vars, mut port, mut cloudsql) =
        (None, None, Vec::new(), 0, None);
    let mut apps = Vec::new();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--state" => state = Some(PathBuf::from(value()?)),
            "--binaries" => binaries = Some(PathBuf::from(value()?)),
            "--env-overlay" => overlay_vars = overlay(&value()?)?,
            "--port" => {
                port = value()?
                    .parse()
                    .map_err(|_| format!("--port: not a port number\n{USAGE}"))?
            }
            "--cloudsql-dir" => cloudsql = Some(PathBuf::from(value()?)),
            "--app" => {
                let app = value()?;
                let (name, program) = app
                    .split_once('=')
                    .ok_or_else(|| format!("--app {app:?} is not NAME=PROGRAM\n{USAGE}"))?;
                apps.push((name.to_owned(), PathBuf::from(program)));
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Args {
        state: state.ok_or(format!("--state is required\n{USAGE}"))?,
        binaries: binaries.ok_or(format!("--binaries is required\n{USAGE}"))?,
        overlay: overlay_vars,
        port,
        cloudsql,
        apps,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let emulator = Emulator::new(Config {
        state: args.state,
        runtime: Arc::new(WithApps {
            binaries: HostBinaries { dir: args.binaries },
            apps: args.apps,
        }),
        overlay: args.overlay,
        cloudsql: args.cloudsql.map(|root| CloudSql { root }),
    });
    let listener = match std::net::TcpListener::bind(("127.0.0.1", args.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{}: {e}", args.port);
            return ExitCode::FAILURE;
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(args.port);
    let (handle, mut stopped) = match api::serve(listener, emulator.clone()) {
        Ok(served) => served,
        Err(e) => {
            eprintln!("the control API did not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on http://127.0.0.1:{port}");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = stopped.wait_for(|s| *s) => {}
        _ = tokio::signal::ctrl_c() => emulator.shutdown().await,
        _ = terminate.recv() => emulator.shutdown().await,
    }
    handle.stop(true).await;
    ExitCode::SUCCESS
}

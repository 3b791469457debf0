//! The benchmark behind `bench/run`. It starts the public service, the
//! private app and a no-auth baseline from their release binaries on
//! loopback (the mock provider inside this process), drives them with
//! `wrk` or, for flows no fixed request can repeat, with its own client,
//! and writes one table with the machine's facts to `bench/RESULTS.md`.
//!
//! - [`cpus`]: servers on one half of the cores, load on the other.
//! - [`process`]: the servers as children: pinned, timed to readiness,
//!   their peak memory.
//! - [`stack`]: the deployment and its configuration.
//! - [`browser`] and [`inputs`]: a real sign-in, and the cookies, tokens
//!   and codes the rows send.
//! - [`tokens`]: handoff tokens minted with the stack's signing key, for
//!   the rotating and never-seen rows.
//! - [`wrk`] and [`load`]: the two load generators; [`rows`]: what is
//!   measured; [`steps`]: a sign-in's cost step by step.
//! - [`report`] and [`machine`]: the results file.
#![forbid(unsafe_code)]

mod browser;
mod cpus;
mod inputs;
mod load;
mod machine;
mod process;
mod proxies;
mod report;
mod rows;
mod settings;
mod stack;
mod steps;
mod tokens;
mod wrk;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let settings = settings::RunSettings::from_env()?;
    // Before any thread starts: this may run the program again, pinned.
    let pinning = cpus::pin()?;
    if pinning.server.is_none() {
        eprintln!("bench: one core only: servers and load generators share it, so the figures understate the servers");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(measure(settings, pinning))
}

async fn measure(settings: settings::RunSettings, pinning: cpus::Pinning) -> anyhow::Result<()> {
    let bin_dir = match &settings.binaries {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(PathBuf::from)
            .context("the directory of the release binaries")?,
    };
    // Beside the results: `bench/out/` (ignored by git) by default.
    let log_dir = settings
        .results
        .parent()
        .map_or_else(|| PathBuf::from("out"), |dir| dir.join("out"));
    std::fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
    let facts = machine::Facts::gather();
    let load_before = machine::load_average();
    eprintln!(
        "bench: starting the services ({} starts each)",
        settings.starts
    );
    let stack = stack::Stack::start(&settings, &pinning, &bin_dir, &log_dir).await?;
    let client = browser::client()?;
    let inputs = inputs::Inputs::prepare(&stack, &client).await?;
    let scripts = tempfile::Builder::new().prefix("bench-wrk-").tempdir()?;
    let runner = rows::Runner {
        settings: &settings,
        stack: &stack,
        inputs: &inputs,
        client,
        wrk: wrk::Wrk {
            connections: settings.connections,
            threads: pinning.load_cores,
            cpus: pinning.load.as_deref(),
            script_dir: scripts.path(),
        },
    };
    let rows = runner.all().await?;
    eprintln!(
        "bench: sign-in steps ({} sign-ins one at a time)",
        settings.step_sign_ins
    );
    let steps = if settings.runs("Steps") {
        steps::measure(&runner.client, &inputs, settings.step_sign_ins).await?
    } else {
        Default::default()
    };
    let report = report::Report {
        steps: &steps,
        settings: &settings,
        pinning: &pinning,
        stack: &stack,
        rows: &rows,
        facts: &facts,
        load_before,
        load_after: machine::load_average(),
    };
    if let Some(path) = &settings.figures {
        std::fs::write(path, report.figures())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let report = report.markdown();
    println!("{report}");
    std::fs::write(&settings.results, &report)
        .with_context(|| format!("writing {}", settings.results.display()))?;
    eprintln!("bench: written to {}", settings.results.display());
    Ok(())
}

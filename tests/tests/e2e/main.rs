//! The end-to-end suites in one test binary: linking a binary that holds
//! both services dominates the build on two cores, so the suites share one
//! (docs/testing.md). Each suite is a module, and its tests are named
//! `<suite>::…`: `cargo test -p integration-tests --test e2e -- flows::`
//! runs one suite. The load test is a binary of its own (`--test load`):
//! its latency and memory figures must not share the machine with the
//! other suites.

mod abuse;
mod admin;
mod backchannel_logout;
mod bearer;
mod browser;
mod certified_provider;
mod cloud_run;
mod deploy;
mod deploy_script;
mod faults;
mod flask;
mod flows;
mod forward_auth;
mod frameworks;
mod gate;
mod image;
mod offline;
mod operations;
mod separate_sites;
mod sessions_page;
mod source_rules;
mod storage;
mod supply_chain;

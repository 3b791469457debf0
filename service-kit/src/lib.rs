//! The internal plumbing of this workspace's services, not for the apps
//! that depend on `handoff-guard`:
//! - [`config`]: reading settings from the environment with one clear error
//!   line per bad setting; secrets from `NAME` or `NAME_FILE`;
//!   [`access`]: the access policy's variables.
//! - [`telemetry`]: log set-up, the request log line (no query strings) and
//!   the security headers every response carries; [`request_context`]: the
//!   request id and trace a line carries; [`cloud_logging`]: the
//!   JSON lines Cloud Logging reads; [`log_writer`]: lines reach stdout in
//!   batches from a thread of their own.
//! - [`metrics`]: the `/metrics` exporter; [`metrics_bridge`] routes the
//!   library's `metrics` facade calls into it.
//! - [`rate_limit`]: per-address and per-caller limits; [`throttle`] puts
//!   them in front of the library's routes.
//! - [`cors`]: CORS for configured origins only (a Chrome extension).
//! - [`service`]: what both `main`s share (exit codes, HTML responses).
//! - [`random`]: URL-safe random values (session ids, states, codes).
//!
//! The actix-web parts (rate limits, CORS, metrics, the request log
//! middleware and security headers, `service`) are behind the default
//! feature `actix`; without it the crate is configuration, log set-up and
//! the log formats, for a server on another HTTP stack (the gate).
#![forbid(unsafe_code)]

pub mod access;
pub mod cloud_logging;
pub mod config;
#[cfg(feature = "actix")]
pub mod cors;
pub mod log_writer;
#[cfg(feature = "actix")]
pub mod metrics;
#[cfg(feature = "actix")]
pub mod metrics_bridge;
pub mod random;
pub mod rate_limit;
pub mod request_context;
#[cfg(feature = "actix")]
pub mod service;
pub mod telemetry;
#[cfg(feature = "actix")]
pub mod throttle;

//! A rehearsal of Cloud Run on one machine: takes the Knative Service YAML
//! `gcloud run services replace` takes and runs it as Cloud Run would,
//! each behaviour following the Cloud Run page cited where it is built.
//! docs/cloud-run-rehearsal.md lists them and the deviations.
//!
//! - [`spec`], [`validate`] (with [`annotations`], [`probe_rules`],
//!   [`containers`] for sidecars, each adding to the [`problems`]): the
//!   definition is checked against the documented constraints first;
//! - [`emulator`]: services, revisions and rollouts; [`instance`]: the
//!   process and its shutdown; [`cpu`]: CPU only while a request or probe
//!   runs; [`probes`]: startup and liveness probes; [`startup`]: containers
//!   in dependency order; [`front`]: the service
//!   URL; [`environment`]: variables and secrets; [`cloudsql`]: `/cloudsql`;
//! - [`api`]: the control API the stand-in `gcloud` calls;
//! - [`postgres`]: a PostgreSQL on a Cloud SQL-named Unix socket;
//!   [`firestore`]: Google's Firestore emulator behind a Firestore database;
//! - [`deploy_sh`], [`rehearsal`]: the deployment as `deploy.sh` makes it.

pub mod annotations;
pub mod api;
pub mod cloudsql;
pub mod containers;
pub mod cpu;
pub mod deploy_sh;
pub mod emulator;
pub mod environment;
pub mod firestore;
pub mod front;
pub mod instance;
pub mod plan;
pub mod postgres;
pub mod probe_rules;
pub mod probes;
pub mod problems;
pub mod rehearsal;
pub mod runtime;
pub mod spec;
pub mod startup;
pub mod validate;

pub use emulator::{Config, DeployError, Deployed, Emulator};

//! Test support: [`app::TestApp`] starts the mock provider and both
//! services on random loopback ports; [`browser::Browser`] walks every hop
//! with a browser-like cookie jar; [`tokens`] makes hostile tokens;
//! [`logs`] proves no secret reached a log line; [`db`] gives each test a
//! database of its own, SQLite or PostgreSQL; [`proxy`] puts a relay that
//! a test can cut in front of a database or the provider; [`cloud_run`]
//! rehearses Cloud Run's contract with the deployment's own definitions;
//! [`ports`] gives servers ports no outgoing connection can take;
//! [`sign_in`] walks a person's sign-in with every variation a suite needs;
//! [`flask`] runs `examples/flask-api` under gunicorn.

pub mod app;
pub mod browser;
pub mod chromium;
pub mod cloud_run;
pub mod db;
pub mod flask;
pub mod logs;
pub mod ports;
pub mod proxy;
pub mod sign_in;
pub mod skip;
pub mod tokens;

pub use app::{TestApp, TestOptions};
pub use browser::{Browser, Page};
pub use sign_in::{Landing, ProviderPages, SignIn, SignedIn};
pub use skip::skipped;

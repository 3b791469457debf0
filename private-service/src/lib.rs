//! The private app: pages and an API that only signed-in users reach.
//!
//! It never talks to the identity provider and holds no secret: it verifies
//! the public service's handoff token against the public service's JWKS.
//!
//! - [`settings`]: typed settings from environment variables.
//! - [`startup`]: [`startup::Application`] wires the [`shared`] gate and routes.
//! - [`routes`]: the protected page, `GET /api/me`, health.
#![forbid(unsafe_code)]

pub mod routes;
pub mod settings;
pub mod startup;

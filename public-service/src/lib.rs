//! The public login service.
//!
//! It runs the OpenID Connect authorization-code flow against the provider
//! (Google, or the mock in tests) and hands the signed-in user to a
//! registered app with a short-lived ES256 handoff token.
//!
//! A guided tour, in the order a sign-in touches them:
//! - [`settings`]: typed settings from environment variables.
//! - [`startup`]: [`startup::Application`] wires routes, state and server.
//! - [`routes::login`]: checks `return_to` against [`apps`], seals a
//!   [`login_transaction`] into a cookie, redirects to the provider.
//! - [`oidc`]: discovery, the authorization URL, the code exchange and
//!   id_token validation with `openidconnect`.
//! - [`routes::callback`]: checks `state`, exchanges the code, applies the
//!   access [`policy`], and issues the handoff token through [`handoff`].
//! - [`routes::jwks`]: the keys apps verify handoff tokens with.
//! - [`pages`]: the start page and the error page (askama templates).
//! - [`token_broker`] and [`routes::broker`]: fresh access tokens for
//!   trusted backends, within each caller's [`broker_rules`], minted from
//!   the users' [`grants`].
//! - [`store`]: the storage contracts, and the SQL backend behind them.
//! - [`admin`]: `public-service admin …`, the operators' commands (sessions,
//!   grants, key rotation) on the service's own environment.
//! - [`housekeeping`]: upkeep started by requests (purges, a database that
//!   was down), since Cloud Run gives no CPU between them.
#![forbid(unsafe_code)]

pub mod admin;
pub mod apps;
pub mod boundary;
pub mod broker_rules;
pub mod delivery;
pub mod device;
pub mod flows;
pub mod grants;
pub mod handoff;
pub mod housekeeping;
pub mod http;
pub mod login_transaction;
pub mod oidc;
pub mod pages;
pub mod policy;
pub mod readiness;
pub mod routes;
pub mod scopes;
pub mod sessions;
pub mod settings;
pub mod startup;
pub mod state;
pub mod store;
pub mod token_broker;
pub mod token_cipher;

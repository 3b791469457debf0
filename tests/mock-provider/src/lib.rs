//! A mock OpenID Connect provider for tests and the local stack. Test-only.
//!
//! It behaves like Google where the services depend on it: discovery,
//! a JWKS of RS256 keys that can rotate, the authorization endpoint (an
//! HTML sign-in form, or an automatic mode for tests), PKCE, codes that are
//! single-use and short-lived, refresh tokens only on consent with
//! `access_type=offline`, `invalid_grant` after revocation, userinfo, a
//! revocation endpoint and an end-session endpoint. It can be told to
//! misbehave ([`Misbehaviour`]) so tests can prove what the services refuse.
//!
//! - [`provider`]: the [`MockProvider`] handle and its builder.
//! - [`state`]: everything the provider remembers, behind one mutex.
//! - [`tokens`]: id_tokens, broken on request.
//! - [`routes`]: the HTTP endpoints.
//! - [`keys`]: test-only RSA keys.
#![forbid(unsafe_code)]

pub mod keys;
pub mod provider;
pub mod routes;
pub mod state;
pub mod tokens;

pub use provider::{MockProvider, MockProviderBuilder};
pub use state::{Decision, Misbehaviour, MockUser};

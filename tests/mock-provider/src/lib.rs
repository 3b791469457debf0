//! A mock OpenID Connect provider for tests and the local stack. Test-only.
//!
//! By default it behaves as Google documents ([`Dialect::Google`]):
//! discovery without an end-session endpoint, a JWKS of RS256 keys that can
//! rotate, the authorization endpoint (an HTML sign-in form, or an automatic
//! mode for tests), PKCE, codes that are single-use and short-lived, `email`
//! and `profile` reported in their long names, scopes merged across grants
//! with `include_granted_scopes`, refresh tokens only on consent with
//! `access_type=offline`, `invalid_grant` after revocation or past the
//! seven days of an app in "testing" status, userinfo, and a revocation
//! endpoint that ends the grant. [`Dialect::Generic`] is a plain OpenID
//! provider with an end-session endpoint. Either can sign ES256, put claims
//! only in UserInfo, or send `iss` in authorization responses (RFC 9207),
//! and can be told to misbehave ([`Misbehaviour`]) so tests can prove what
//! the services refuse.
//!
//! - [`google`]: where Google differs from a plain OpenID provider, with
//!   the Google pages that document it ([`Dialect`]).
//! - [`provider`]: the [`MockProvider`] handle and its builder.
//! - [`state`]: everything the provider remembers, behind one mutex.
//! - [`tokens`]: id_tokens, broken on request.
//! - [`routes`]: the HTTP endpoints.
//! - [`logout_tokens`]: back-channel logout tokens, broken on request.
//! - [`keys`]: test-only RSA keys and one P-256 key.
#![forbid(unsafe_code)]

pub mod google;
pub mod keys;
pub mod logout_tokens;
pub mod provider;
pub mod routes;
pub mod state;
pub mod tokens;

pub use google::Dialect;
pub use logout_tokens::LogoutSigning;
pub use provider::{MockProvider, MockProviderBuilder};
pub use state::{Decision, Misbehaviour, MockUser, SigningAlg};

/// The address UserInfo names under [`Misbehaviour::UserinfoContradictsEmail`].
pub const CONTRADICTING_EMAIL: &str = "mallory@example.com";

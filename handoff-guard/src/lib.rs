//! Protect a service with the login service's handoff tokens: the
//! contract between the public login service and every app it protects.
//!
//! The public service signs a short-lived ES256 JWT (the *handoff token*) and
//! publishes its verification keys as a JWKS; an app verifies it with no
//! secret of its own, so a compromised app cannot mint sessions.
//!
//! A guided tour:
//! - [`claims`]: the claims both sides agree on ([`HandoffClaims`]).
//! - [`keys`]: ES256 signing keys from PEM (or ephemeral in dev mode), their
//!   public JWK and RFC 7638 key id.
//! - [`signer`]: [`HandoffSigner`] mints tokens with the active key and
//!   serves the JWKS of every published key.
//! - [`verifier`] and [`jwks`]: [`HandoffVerifier`] checks signature,
//!   algorithm, `iss`, `aud`, `exp`, `nbf`; keys come from a static JWKS or
//!   from the public service's JWKS endpoint, cached and re-fetched on an
//!   unknown `kid` at most once per interval.
//! - [`token_cache`]: both verifiers keep the tokens they verified, so a
//!   token costs one signature check, not one per request; [`crypto`]
//!   makes that check on `ring` (installed as `jsonwebtoken`'s backend
//!   unless the host chose one).
//! - [`id_token`]: [`id_token::IdTokenVerifier`] checks provider-signed
//!   (Google) RS256 ID tokens presented as Bearer tokens; [`callers`]
//!   admits service accounts on an allowlist with them.
//! - [`revocation`]: apps poll the public service for revoked sessions, so
//!   a copied handoff token dies within a bounded delay after sign-out;
//!   [`metadata`] gets the app's own service-account ID token for that call.
//! - [`handoff_code`]: the app's routes of the separate-sites delivery
//!   (redeem a one-time code, set its own cookie, forget it at sign-out);
//!   [`handoff_binding`]: a code works only in the browser that asked for it.
//! - [`policy`]: who may sign in or call as a person (verified e-mail on
//!   an allowlist of addresses, domains or Workspace `hd`).
//! - [`cookie`]: the cookie names and attributes of the handoff cookie;
//!   [`cookie_header`] reads every cookie of ours by its exact name, and
//!   [`request_origin`] a browser's `Origin` as it was sent.
//! - [`extractor`]: [`SignedInUser`], an actix-web extractor; a handler that
//!   takes it cannot run for an anonymous request.
//! - [`clock`] and [`random`]: injectable time and URL-safe random values.
//! - [`refusal_log`]: the first few refused requests of each kind per
//!   interval are logged one by one, the rest in one summary line, so a
//!   flood of forged tokens is a few lines (the gate and [`callers`] use it).
//! - [`page`]: the small HTML answers of the routes.
//!
//! The library reads no environment variable, installs no logger and keeps
//! no registry: it logs through `tracing` and counts through the `metrics`
//! facade, and the host application decides where both go. With the
//! `actix` feature (on by default) it also brings the actix-web
//! extractors, gates and routes.
//!
//! The crate's README (with the "protect a service in a dozen lines"
//! example, compiled as a doc test) is in `handoff-guard/README.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum;
pub mod back_channel;
#[cfg(feature = "actix")]
pub mod callers;
pub mod claims;
pub mod clock;
pub mod cookie;
pub mod cookie_header;
pub mod crypto;
#[cfg(feature = "actix")]
pub mod extractor;
pub mod gate;
pub mod guard;
pub mod handoff_binding;
pub mod handoff_code;
pub mod id_token;
pub mod jwks;
pub mod keys;
pub mod metadata;
pub mod page;
pub mod policy;
pub mod random;
pub mod refusal_log;
pub mod request_head;
pub mod request_origin;
pub mod revocation;
pub mod signer;
pub mod token_cache;
#[cfg(feature = "tower")]
pub mod tower;
pub mod verifier;

pub use claims::HandoffClaims;
pub use gate::{HandoffGate, Principal, ServiceCaller, SignedInUser};
pub use guard::Guard;
pub use signer::HandoffSigner;
pub use verifier::HandoffVerifier;

/// The README's examples, compiled as doc tests (one per framework, so
/// with every adapter's feature, as the workspace's tests build it).
#[cfg(all(doctest, feature = "actix", feature = "axum", feature = "tower"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

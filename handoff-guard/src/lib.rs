//! Protect a service with the login service's handoff tokens: the
//! contract between the public login service and every app it protects.
//!
//! The public service signs a short-lived ES256 JWT (the *handoff token*) and
//! publishes its verification keys as a JWKS; an app verifies it with no
//! secret of its own, so a compromised app cannot mint sessions.
//!
//! Start at [`Guard`]: built from two URLs, the login service's and the
//! app's own, it derives everything else and serves every framework.
//!
//! - **Who is calling.** [`SignedInUser`] (a person), [`ServiceCaller`] (a
//!   service account on the app's list) and [`Principal`] (either) are what
//!   a handler takes; [`HandoffGate`] decides, the same way for every
//!   framework, and answers a refusal ([`Unauthenticated`]) with a redirect
//!   to sign in for a browser's page and `401` otherwise.
//! - **Adapters**, each behind its feature: `actix` (extractors and the
//!   code-redemption routes, on by default), `axum` (extractors and a
//!   `Router`) and `tower` (a `Layer` for hyper and tonic: `401` or gRPC
//!   `UNAUTHENTICATED`, never a redirect). With none of them the crate is
//!   the framework-neutral core: claims, verifier, key sets, revocation and
//!   the code-redemption client, over any [`RequestHead`].
//! - **The token.** [`HandoffClaims`], with its protocol values as types
//!   of their own ([`Issuer`], [`Audience`], [`Subject`], [`SessionId`]);
//!   [`HandoffVerifier`] checks signature, algorithm, `iss`, `aud`, `exp`
//!   and `nbf` against keys from a [`KeySource`], and keeps the tokens it
//!   verified so a token costs one signature check, not one per request.
//! - **Service accounts.** [`IdTokenVerifier`] checks Google-signed ID
//!   tokens presented as Bearer tokens; [`AccessPolicy`] says which people
//!   may call as themselves.
//! - **Sign-out reaches the app.** [`RevocationFeed`] polls the login
//!   service for ended sessions, authenticated by the app's own ID token
//!   from the metadata server ([`IdTokenSource`]).
//! - **Separate sites.** [`CodeRedemption`] redeems the one-time code the
//!   login service hands a browser, in that browser only, and sets the
//!   app's own cookie.
//! - **Tests.** Every time-dependent part takes a [`Clock`]
//!   ([`OffsetClock`] moves at will).
//!
//! The minting side (signing keys, the signer, the login service's wire
//! formats) is in `login_service`, behind the `login-service` feature,
//! which only the login service enables.
//!
//! The library reads no environment variable, installs no logger and keeps
//! no registry: it logs through `tracing` and counts through the `metrics`
//! facade, and the host application decides where both go.
//!
//! The crate's README (a quick start per framework, each compiled as a doc
//! test) is in `handoff-guard/README.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod back_channel;
#[cfg(all(feature = "login-service", feature = "actix"))]
mod callers;
mod claims;
mod clock;
mod cookie;
mod cookie_header;
mod crypto;
mod gate;
mod guard;
mod handoff_binding;
mod handoff_code;
mod id_token;
mod jwks;
mod jwks_cache;
#[cfg(any(feature = "login-service", test))]
mod keys;
mod metadata;
mod page;
mod policy;
mod refusal_log;
mod request_head;
mod request_origin;
mod revocation;
#[cfg(any(feature = "login-service", test))]
mod signer;
mod token_cache;
mod token_checks;
mod verifier;

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
#[cfg(feature = "login-service")]
#[cfg_attr(docsrs, doc(cfg(feature = "login-service")))]
pub mod login_service;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

pub use claims::{Audience, HandoffClaims, Issuer, SessionId, Subject};
pub use clock::{Clock, OffsetClock, SharedClock, SystemClock};
pub use cookie::{CookieScope, HOST_ONLY_NAME, PARENT_DOMAIN_PREFIX};
pub use gate::{
    BearerIdTokens, HandoffGate, Person, Principal, Refusal, Service, ServiceCaller, SignedInUser,
    Unauthenticated, Via,
};
pub use guard::{BuildError, Delivery, Guard, GuardBuilder, DEFAULT_REVOCATION_INTERVAL};
#[cfg(feature = "actix")]
pub use handoff_code::Throttle;
pub use handoff_code::{
    CodeRedemption, RedeemError, Redeemed, HANDOFF_PATH, LOGOUT_PATH, SIGNED_OUT_PATH, START_PATH,
};
pub use id_token::{
    bearer_token, IdTokenClaims, IdTokenVerifier, GOOGLE_ISSUERS, GOOGLE_JWKS_URL,
    LEEWAY as ID_TOKEN_LEEWAY,
};
pub use jwks::{JwksError, KeySet, RemoteJwks, RemoteJwksOptions};
pub use metadata::{IdTokenSource, MetadataError, GOOGLE_METADATA_URL};
pub use page::Reply;
pub use policy::{AccessPolicy, Denial, Identity};
pub use refusal_log::{RefusalLog, Summary as RefusalSummary};
pub use request_head::{RequestHead, Several};
pub use revocation::{RevocationFeed, RevokedSessions};
pub use token_checks::{KeySource, VerifyError, MAX_TOKEN_LEN};
pub use verifier::{HandoffVerifier, LEEWAY};

/// The README's examples, compiled as doc tests (one per framework, so
/// with every adapter's feature, as the workspace's tests build it).
#[cfg(all(doctest, feature = "actix", feature = "axum", feature = "tower"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

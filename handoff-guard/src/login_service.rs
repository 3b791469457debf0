//! The login service's side of the protocol: what mints handoff tokens and
//! what both sides must agree on byte for byte. Only the login service
//! enables the `login-service` feature; an app never needs it, and nothing
//! here is covered by the crate's stability promise.
//!
//! - Minting: [`SigningKey`] (ES256 from PEM, or ephemeral in dev mode)
//!   and [`HandoffSigner`], which signs with the active key and publishes
//!   the JWKS of every key still trusted.
//! - The handoff cookie's attributes ([`handoff_cookie`],
//!   [`removal_cookie`]) for the cookie deliveries.
//! - The browser binding of one-time codes ([`binding_hash`],
//!   [`parse_binding`]) and the revocation feed's page ([`RevokedPage`]).
//! - Apps' and brokers' callers authenticated by their service-account ID
//!   tokens (`ServiceCallers`, actix-web only).
//! - The apps' JWKS cache, for keys read into another type
//!   ([`JwksCache`]: the provider's keys, as `openidconnect` reads them).
//! - Exact boundaries the login service parses as the apps do:
//!   [`cookie_header`] (a cookie by its exact name) and
//!   [`claimed_origin`].

pub use crate::back_channel::{
    client as back_channel_client, describe as describe_http_error, POOL_IDLE_TIMEOUT,
};
#[cfg(feature = "actix")]
pub use crate::callers::{
    CallerError, ServiceCaller as CallerAccount, ServiceCallers, REFUSAL_REASONS,
};
pub use crate::cookie::{cookie_value, handoff_cookie, parent_domain_name, removal_cookie};
pub use crate::crypto::{rsa_modulus_bits_of_jwk, MIN_RSA_MODULUS_BITS};
pub use crate::handoff_binding::{
    hash as binding_hash, is_well_formed as is_well_formed_verifier, parse_binding, BINDING_PARAM,
    MAX_PENDING as MAX_PENDING_BINDINGS, VERIFIER_COOKIE, VERIFIER_LIFETIME,
};
pub use crate::jwks_cache::{cache_control_max_age, JwksCache, JwksFreshness};
pub use crate::keys::{KeyError, SigningKey};
pub use crate::request_origin::claimed as claimed_origin;
pub use crate::revocation::{page_url, RevokedPage, RevokedSession, MAX_SID_LEN, PAGE_LEN};
pub use crate::signer::{HandoffSigner, SignError};

/// Reading the `Cookie` header by exact names: a name is compared byte for
/// byte, never decoded or trimmed, and a name sent twice counts as absent.
pub mod cookie_header {
    pub use crate::cookie_header::{find, pairs, Lookup};
}

//! The claims of the handoff token (SPEC section 3).

use serde::{Deserialize, Serialize};

/// What the public service asserts about a signed-in user to one app.
///
/// `aud` is a single app: a token minted for one app is refused by another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffClaims {
    /// The public service's URL.
    pub iss: String,
    /// The target app's audience (its origin).
    pub aud: String,
    /// The provider's stable subject identifier for the user.
    pub sub: String,
    /// The user's e-mail address, in the case the provider gave it. The
    /// provider verified it and the public service's access policy
    /// admitted it: no token is issued otherwise.
    pub email: String,
    /// The user's display name, when the provider shared one; absent from
    /// the token otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The server-side session this token was issued under.
    pub sid: String,
    /// Unix seconds when the public service signed the token.
    pub iat: u64,
    /// Unix seconds before which the token is refused (with
    /// [`crate::verifier::LEEWAY`] of tolerance); the public service sets
    /// it to `iat`.
    pub nbf: u64,
    /// Unix seconds from which the token is refused (with
    /// [`crate::verifier::LEEWAY`] of tolerance): `iat` plus the public
    /// service's handoff lifetime (`HANDOFF_TTL`, 30 s to an hour).
    pub exp: u64,
    /// Unique per token, so two tokens are never byte-identical.
    pub jti: String,
}

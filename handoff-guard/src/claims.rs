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
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The server-side session this token was issued under.
    pub sid: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    /// Unique per token, so two tokens are never byte-identical.
    pub jti: String,
}

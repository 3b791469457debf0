//! The claims of the handoff token (SPEC section 3), and the protocol
//! values they carry as types of their own, so an issuer cannot be passed
//! where an audience is expected.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

macro_rules! protocol_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps `value` as it is: the verifier compares it byte for byte.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The value as sent on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

protocol_string!(
    /// The login service's URL as the `iss` of its handoff tokens, for
    /// example `https://login.example.com`.
    Issuer
);
protocol_string!(
    /// The app a handoff token is for (`aud`): the app's origin, for
    /// example `https://reports.example.com`.
    Audience
);
protocol_string!(
    /// The provider's stable identifier of a person (`sub`): unlike the
    /// e-mail address, it never changes hands.
    Subject
);
protocol_string!(
    /// The login service's session a handoff token was issued under
    /// (`sid`): what a sign-out revokes.
    SessionId
);

/// What the public service asserts about a signed-in user to one app.
///
/// `aud` is a single app: a token minted for one app is refused by another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffClaims {
    /// The public service's URL.
    pub iss: Issuer,
    /// The target app's audience (its origin).
    pub aud: Audience,
    /// The provider's stable subject identifier for the user.
    pub sub: Subject,
    /// The user's e-mail address, in the case the provider gave it. The
    /// provider verified it and the public service's access policy
    /// admitted it: no token is issued otherwise.
    pub email: String,
    /// The user's display name, when the provider shared one; absent from
    /// the token otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The server-side session this token was issued under.
    pub sid: SessionId,
    /// Unix seconds when the public service signed the token.
    pub iat: u64,
    /// Unix seconds before which the token is refused (with
    /// [`crate::LEEWAY`] of tolerance); the public service sets
    /// it to `iat`.
    pub nbf: u64,
    /// Unix seconds from which the token is refused (with
    /// [`crate::LEEWAY`] of tolerance): `iat` plus the public
    /// service's handoff lifetime (`HANDOFF_TTL`, 30 s to an hour).
    pub exp: u64,
    /// Unique per token, so two tokens are never byte-identical.
    pub jti: String,
}

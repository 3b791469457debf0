//! Minting handoff tokens and publishing the keys that verify them.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{encode, Algorithm, Header};

use crate::claims::HandoffClaims;
use crate::keys::SigningKey;

/// Signing a handoff token failed: `jsonwebtoken` (the source) could not
/// encode the claims or sign them with the key. No token was made.
#[derive(Debug, thiserror::Error)]
#[error("signing the handoff token failed")]
pub struct SignError(#[source] jsonwebtoken::errors::Error);

/// Signs with the active key; publishes the active key and every key still
/// in its overlap window, so tokens signed before a rotation keep verifying.
pub struct HandoffSigner {
    active: SigningKey,
    previous: Vec<SigningKey>,
    jwks: JwkSet,
}

impl HandoffSigner {
    /// `active` signs every new token; `previous` are keys retired by a
    /// rotation, published but never used to sign; drop one once every
    /// token it signed has expired (a handoff lifetime after the switch).
    /// Installs the library's signature backend unless the host chose one
    /// first.
    pub fn new(active: SigningKey, previous: Vec<SigningKey>) -> Self {
        // Before the first signature: it fixes the process's backend.
        crate::crypto::install();
        let keys = std::iter::once(&active)
            .chain(previous.iter())
            .map(|k| k.public_jwk().clone())
            .collect();
        Self {
            active,
            previous,
            jwks: JwkSet { keys },
        }
    }

    /// The compact JWT of `claims`, signed with ES256 by the active key
    /// and naming it as `kid`. The claims are signed as given: the caller
    /// sets every one of them, times included; nothing is added or checked.
    pub fn sign(&self, claims: &HandoffClaims) -> Result<String, SignError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.active.kid().to_owned());
        encode(&header, claims, self.active.encoding_key()).map_err(SignError)
    }

    /// The key id a token signed now carries.
    pub fn active_kid(&self) -> &str {
        self.active.kid()
    }

    /// The key ids of every published key: the active one first, then the
    /// previous ones in the order given.
    pub fn published_kids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(&self.active)
            .chain(self.previous.iter())
            .map(SigningKey::kid)
    }

    /// The JWKS apps verify with (served at `/.well-known/jwks.json`):
    /// the public halves of the active and every previous key, nothing
    /// secret.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }
}

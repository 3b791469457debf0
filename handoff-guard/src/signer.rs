//! Minting handoff tokens and publishing the keys that verify them.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{encode, Algorithm, Header};

use crate::claims::HandoffClaims;
use crate::keys::SigningKey;

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

    pub fn sign(&self, claims: &HandoffClaims) -> Result<String, SignError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.active.kid().to_owned());
        encode(&header, claims, self.active.encoding_key()).map_err(SignError)
    }

    pub fn active_kid(&self) -> &str {
        self.active.kid()
    }

    pub fn published_kids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(&self.active)
            .chain(self.previous.iter())
            .map(SigningKey::kid)
    }

    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }
}

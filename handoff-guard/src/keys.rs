//! ES256 signing keys: parsing, the public JWK, and the key id.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::EncodingKey;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use p256::SecretKey;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Why a signing key could not be read. The message never quotes the PEM.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not a P-256 private key in PEM: another curve, an RSA
    /// key, a public key, a certificate, or a damaged PEM.
    #[error("not a P-256 private key in PEM (PKCS#8 or SEC1) form")]
    NotP256Pem,
}

/// A P-256 private key that signs handoff tokens.
///
/// Deliberately not `Debug` or `Clone`: the private half never leaves this type.
pub struct SigningKey {
    encoding: EncodingKey,
    public_jwk: Jwk,
    kid: String,
}

impl SigningKey {
    /// Parses a PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`) PEM.
    pub fn from_pem(pem: &SecretString) -> Result<Self, KeyError> {
        let pem = pem.expose_secret().trim();
        let secret = SecretKey::from_pkcs8_pem(pem)
            .or_else(|_| SecretKey::from_sec1_pem(pem))
            .map_err(|_| KeyError::NotP256Pem)?;
        Self::from_secret(&secret)
    }

    /// A fresh random key. Only for explicit dev mode and tests: tokens it
    /// signs die with the process.
    pub fn generate() -> Self {
        let secret = SecretKey::random(&mut rand::rngs::OsRng);
        Self::from_secret(&secret).expect("a freshly generated P-256 key encodes as PKCS#8")
    }

    fn from_secret(secret: &SecretKey) -> Result<Self, KeyError> {
        let pkcs8 = secret
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| KeyError::NotP256Pem)?;
        let encoding =
            EncodingKey::from_ec_pem(pkcs8.as_bytes()).map_err(|_| KeyError::NotP256Pem)?;
        let (x, y) = public_coordinates(secret);
        let kid = thumbprint(&x, &y);
        let public_jwk = serde_json::from_value(serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": x,
            "y": y,
            "kid": kid,
            "alg": "ES256",
            "use": "sig",
        }))
        .map_err(|_| KeyError::NotP256Pem)?;
        Ok(Self {
            encoding,
            public_jwk,
            kid,
        })
    }

    /// RFC 7638 thumbprint of the public key: stable, derived, never configured.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half as the JWKS publishes it: `kty` `EC`, `crv`
    /// `P-256`, `alg` `ES256`, `use` `sig` and [`Self::kid`] as `kid`.
    pub fn public_jwk(&self) -> &Jwk {
        &self.public_jwk
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }
}

fn public_coordinates(secret: &SecretKey) -> (String, String) {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let point = secret.public_key().to_encoded_point(false);
    let x = point
        .x()
        .map(|x| URL_SAFE_NO_PAD.encode(x))
        .unwrap_or_default();
    let y = point
        .y()
        .map(|y| URL_SAFE_NO_PAD.encode(y))
        .unwrap_or_default();
    (x, y)
}

fn thumbprint(x: &str, y: &str) -> String {
    // RFC 7638: the required members, lexicographic order, no whitespace.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_round_trips_to_the_same_key_id() {
        let secret = SecretKey::random(&mut rand::rngs::OsRng);
        let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
        let a = SigningKey::from_pem(&SecretString::from(pem.to_string())).unwrap();
        let b = SigningKey::from_secret(&secret).unwrap();
        assert_eq!(a.kid(), b.kid());
        assert_eq!(a.kid().len(), 43);
    }

    #[test]
    fn a_sec1_pem_is_accepted() {
        let secret = SecretKey::random(&mut rand::rngs::OsRng);
        let pem = secret.to_sec1_pem(LineEnding::LF).unwrap();
        let key = SigningKey::from_pem(&SecretString::from(pem.to_string())).unwrap();
        assert_eq!(key.kid(), SigningKey::from_secret(&secret).unwrap().kid());
    }

    #[test]
    fn garbage_is_not_a_key() {
        let err = SigningKey::from_pem(&SecretString::from(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----".to_owned(),
        ));
        assert!(err.is_err());
    }
}

//! RSA signing keys: test-only fixtures first, generated ones after.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::EncodingKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;

const FIXTURES: [&str; 3] = [
    include_str!("../keys/test-only-rsa-1.pem"),
    include_str!("../keys/test-only-rsa-2.pem"),
    include_str!("../keys/test-only-rsa-3.pem"),
];
const ROGUE: &str = include_str!("../keys/test-only-rsa-rogue.pem");
const WEAK: &str = include_str!("../keys/test-only-rsa-1024.pem");

/// The `kid` of [`RsaKey::weak`].
pub const WEAK_KID: &str = "mock-key-rsa-1024";

#[derive(Clone)]
pub struct RsaKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub public_pem: String,
    n: String,
    e: String,
}

impl RsaKey {
    fn from_private(kid: String, private: &RsaPrivateKey) -> Self {
        let pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an RSA key encodes as PKCS#8");
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("an RSA public key encodes");
        Self {
            kid,
            encoding: EncodingKey::from_rsa_pem(pem.as_bytes())
                .expect("jsonwebtoken reads the PEM"),
            public_pem,
            n: URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            e: URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
        }
    }

    /// The `n`-th signing key: a committed fixture while they last.
    pub fn nth(index: usize) -> Self {
        let kid = format!("mock-key-{}", index + 1);
        let private = match FIXTURES.get(index) {
            Some(pem) => RsaPrivateKey::from_pkcs8_pem(pem).expect("fixture keys parse"),
            None => RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key generation"),
        };
        Self::from_private(kid, &private)
    }

    /// A key that is never published.
    pub fn rogue() -> Self {
        let private = RsaPrivateKey::from_pkcs8_pem(ROGUE).expect("the rogue fixture parses");
        Self::from_private("never-published".into(), &private)
    }

    /// A 1024-bit key: too short to be trusted, published only when a test
    /// asks ([`crate::MockProvider::sign_with_a_1024_bit_key`]).
    pub fn weak() -> Self {
        let private = RsaPrivateKey::from_pkcs8_pem(WEAK).expect("the 1024-bit fixture parses");
        Self::from_private(WEAK_KID.into(), &private)
    }

    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": self.n,
            "e": self.e,
        })
    }

    /// The `kid` this key has when it signs PS256.
    pub fn ps256_kid(&self) -> String {
        format!("{}-ps256", self.kid)
    }

    /// The same key published for PS256 (a JWK names one `alg`).
    pub fn ps256_jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "RSA",
            "alg": "PS256",
            "use": "sig",
            "kid": self.ps256_kid(),
            "n": self.n,
            "e": self.e,
        })
    }
}

const EC_FIXTURE: &str = include_str!("../keys/test-only-ec-1.pem");

/// The P-256 key ES256 ID tokens are signed with.
#[derive(Clone)]
pub struct EcKey {
    pub kid: String,
    pub encoding: EncodingKey,
    x: String,
    y: String,
}

impl EcKey {
    pub fn fixture() -> Self {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        use p256::pkcs8::DecodePrivateKey as _;
        let secret = p256::SecretKey::from_pkcs8_pem(EC_FIXTURE).expect("the EC fixture parses");
        let point = secret.public_key().to_encoded_point(false);
        Self {
            kid: "mock-ec-key-1".into(),
            encoding: EncodingKey::from_ec_pem(EC_FIXTURE.as_bytes())
                .expect("jsonwebtoken reads the EC PEM"),
            x: URL_SAFE_NO_PAD.encode(point.x().expect("an uncompressed point")),
            y: URL_SAFE_NO_PAD.encode(point.y().expect("an uncompressed point")),
        }
    }

    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "alg": "ES256",
            "use": "sig",
            "kid": self.kid,
            "x": self.x,
            "y": self.y,
        })
    }
}

const ED_FIXTURE: &str = include_str!("../keys/test-only-ed25519-1.pem");
/// The fixture's public key, base64url: `openssl pkey -in
/// keys/test-only-ed25519-1.pem -pubout -outform DER | tail -c 32`.
const ED_FIXTURE_X: &str = "W0zpfVZo5URJMu_YoFBZ_zyCCVXCYLu8RrFA6JoNhE8";

/// The Ed25519 key EdDSA ID tokens are signed with (RFC 8037).
#[derive(Clone)]
pub struct EdKey {
    pub kid: String,
    pub encoding: EncodingKey,
}

impl EdKey {
    pub fn fixture() -> Self {
        Self {
            kid: "mock-ed-key-1".into(),
            encoding: EncodingKey::from_ed_pem(ED_FIXTURE.as_bytes())
                .expect("jsonwebtoken reads the Ed25519 PEM"),
        }
    }

    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "use": "sig",
            "kid": self.kid,
            "x": ED_FIXTURE_X,
        })
    }
}

//! Handoff tokens for the verifier targets: a fixed signing key, a
//! stranger's key, compact JWS built from any header and claims bytes, and
//! what must hold of every token the verifier accepts.

use std::sync::{Arc, LazyLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use secrecy::SecretString;
use handoff_guard::HandoffClaims;
use handoff_guard::KeySet;
use handoff_guard::login_service::SigningKey;
use handoff_guard::login_service::HandoffSigner;
use handoff_guard::{HandoffVerifier, KeySource, LEEWAY};

use crate::{FixedClock, AUDIENCE, ISSUER, NOW};

/// A P-256 key pair from fixed scalar bytes (fuzzing only).
pub struct FixedKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub signer: HandoffSigner,
}

impl FixedKey {
    fn from_scalar(byte: u8) -> Self {
        let secret = p256::SecretKey::from_slice(&[byte; 32]).expect("a valid P-256 scalar");
        let pem = secret
            .to_pkcs8_pem(LineEnding::LF)
            .expect("PKCS#8 encoding")
            .to_string();
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).expect("an EC PEM");
        let signing = SigningKey::from_pem(&SecretString::from(pem)).expect("a P-256 PEM");
        let kid = signing.kid().to_owned();
        Self {
            kid,
            encoding,
            signer: HandoffSigner::new(signing, vec![]),
        }
    }

    /// `header.claims.signature` over exactly these bytes.
    pub fn sign_parts(&self, header: &[u8], claims: &[u8]) -> String {
        let message = format!("{}.{}", b64(header), b64(claims));
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, Algorithm::ES256)
                .expect("ES256 signing");
        format!("{message}.{signature}")
    }
}

/// The key the verifier trusts.
pub fn trusted() -> &'static FixedKey {
    static KEY: LazyLock<FixedKey> = LazyLock::new(|| FixedKey::from_scalar(0x11));
    &KEY
}

/// A key the verifier has never seen.
pub fn stranger() -> &'static FixedKey {
    static KEY: LazyLock<FixedKey> = LazyLock::new(|| FixedKey::from_scalar(0x22));
    &KEY
}

pub fn verifier() -> &'static HandoffVerifier {
    static VERIFIER: LazyLock<HandoffVerifier> = LazyLock::new(|| {
        let keys = KeySet::from_jwks(trusted().signer.jwks());
        HandoffVerifier::new(handoff_guard::Issuer::new(ISSUER), handoff_guard::Audience::new(AUDIENCE), KeySource::Static(keys))
            .with_clock(Arc::new(FixedClock))
    });
    &VERIFIER
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What every accepted token must satisfy, whatever it looked like: our
/// issuer and audience, inside its lifetime (with leeway), an ES256
/// header naming the trusted key, and claims that are exactly what its
/// payload says.
pub fn assert_acceptable(token: &str, claims: &HandoffClaims) {
    assert_eq!(claims.iss, ISSUER, "accepted a foreign issuer");
    assert_eq!(claims.aud, AUDIENCE, "accepted a foreign audience");
    assert!(
        claims.exp.saturating_add(LEEWAY.as_secs()) > NOW,
        "accepted an expired token"
    );
    assert!(
        claims.nbf <= NOW + LEEWAY.as_secs(),
        "accepted a token before its nbf"
    );
    let header = jsonwebtoken::decode_header(token).expect("an accepted token has a header");
    assert_eq!(header.alg, Algorithm::ES256, "accepted another algorithm");
    assert_eq!(header.kid.as_deref(), Some(trusted().kid.as_str()));
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "accepted a token that is not three parts");
    let payload = parts[1];
    let decoded = URL_SAFE_NO_PAD
        .decode(payload)
        .expect("an accepted payload is base64url");
    let read: HandoffClaims =
        serde_json::from_slice(&decoded).expect("an accepted payload is claims JSON");
    assert_eq!(
        &read, claims,
        "the verifier read other claims than the payload's"
    );
}

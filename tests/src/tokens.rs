//! Hand-made handoff tokens for attacks: forged, tampered, `alg: none`,
//! algorithm confusion.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use handoff_guard::HandoffClaims;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use p256::pkcs8::{EncodePrivateKey, LineEnding};

/// A fresh P-256 private key as PKCS#8 PEM.
pub fn new_p256_pem() -> String {
    p256::SecretKey::random(&mut rand::rngs::OsRng)
        .to_pkcs8_pem(LineEnding::LF)
        .expect("a P-256 key encodes")
        .to_string()
}

pub fn sign_es256(pem: &str, kid: &str, claims: &HandoffClaims) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    encode(
        &header,
        claims,
        &EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// An unsigned token: header `{"alg":"none"}` and an empty signature.
pub fn alg_none(kid: &str, claims: &HandoffClaims) -> String {
    let header = serde_json::json!({ "alg": "none", "typ": "JWT", "kid": kid });
    format!("{}.{}.", b64_json(&header), b64_json(claims))
}

/// HS256 with the published public key as the HMAC secret: the classic
/// algorithm-confusion attack on verifiers that trust the header's `alg`.
pub fn hs256_with_public_key(
    public_key_material: &[u8],
    kid: &str,
    claims: &HandoffClaims,
) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    encode(
        &header,
        claims,
        &EncodingKey::from_secret(public_key_material),
    )
    .unwrap()
}

/// The same token with one payload character changed.
pub fn tamper_payload(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = URL_SAFE_NO_PAD.decode(&parts[1]).unwrap();
    let mut claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    claims["email"] = serde_json::Value::String("mallory@example.com".into());
    parts[1] = b64_json(&claims);
    parts.join(".")
}

pub fn decode_payload(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn b64_json(value: &impl serde::Serialize) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

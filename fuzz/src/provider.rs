//! The OpenID provider as the public service sees it, for the logout-token
//! and UserInfo targets: a fixed issuer and client id, a fixed JWKS with
//! one P-256 and one RSA key, keys that are not in it, and a client built
//! from that metadata as discovery builds one.

use std::sync::LazyLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use openidconnect::core::{
    CoreClient, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreResponseType,
    CoreSubjectIdentifierType,
};
use openidconnect::{
    AuthUrl, ClientId, ClientSecret, IssuerUrl, JsonWebKeySetUrl, ResponseTypes, UserInfoUrl,
};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use public_service::oidc::{DiscoveredClient, LogoutMetadata, Metadata};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

use crate::token::b64;

/// The provider's issuer (not ours: logout tokens and UserInfo come from
/// the provider).
pub const PROVIDER: &str = "https://accounts.example.com";
/// Our client id at the provider.
pub const CLIENT_ID: &str = "client-1.apps.example.com";
/// The subject of the ID token UserInfo is asked about.
pub const SUBJECT: &str = "108234567890123456789";
/// What `OIDC_ID_TOKEN_ALGORITHMS` allows here (and the provider
/// advertises): logout tokens are checked against it.
pub static ALGORITHMS: [CoreJwsSigningAlgorithm; 2] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
];
/// The same, as `alg` values in a JOSE header.
pub const ALGORITHM_NAMES: [&str; 2] = ["RS256", "ES256"];

/// A signing key of (or posing as) the provider's (fuzzing only).
pub struct ProviderKey {
    pub kid: &'static str,
    pub alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

impl ProviderKey {
    fn ec(kid: &'static str, scalar: u8) -> Self {
        let secret = p256::SecretKey::from_slice(&[scalar; 32]).expect("a valid P-256 scalar");
        let pem = secret
            .to_pkcs8_pem(LineEnding::LF)
            .expect("PKCS#8 encoding")
            .to_string();
        let mut jwk: Value =
            serde_json::from_str(&secret.public_key().to_jwk_string()).expect("a JWK");
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!("ES256");
        Self {
            kid,
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_pem(pem.as_bytes()).expect("an EC PEM"),
            jwk,
        }
    }

    fn rsa(kid: &'static str, pem: &str) -> Self {
        let private = rsa::RsaPrivateKey::from_pkcs8_pem(pem).expect("a test-only RSA key");
        let jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
        });
        Self {
            kid,
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).expect("an RSA PEM"),
            jwk,
        }
    }

    /// `header.claims.signature` over exactly these bytes, with this key's
    /// algorithm whatever the header says.
    pub fn sign(&self, header: &[u8], claims: &[u8]) -> String {
        let message = format!("{}.{}", b64(header), b64(claims));
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, self.alg)
            .expect("signing");
        format!("{message}.{signature}")
    }

    /// The `alg` this key signs with, as a JOSE header names it.
    pub fn alg_name(&self) -> &'static str {
        match self.alg {
            Algorithm::RS256 => "RS256",
            _ => "ES256",
        }
    }
}

/// The provider's P-256 key (in the JWKS).
pub fn provider_ec() -> &'static ProviderKey {
    static KEY: LazyLock<ProviderKey> = LazyLock::new(|| ProviderKey::ec("provider-ec", 0x33));
    &KEY
}

/// The provider's RSA key (in the JWKS); the mock provider's first
/// test-only key.
pub fn provider_rsa() -> &'static ProviderKey {
    static KEY: LazyLock<ProviderKey> = LazyLock::new(|| {
        ProviderKey::rsa(
            "provider-rsa",
            include_str!("../../tests/mock-provider/keys/test-only-rsa-1.pem"),
        )
    });
    &KEY
}

/// A P-256 key that is not in the JWKS, with the `kid` of one that is.
pub fn stranger_ec() -> &'static ProviderKey {
    static KEY: LazyLock<ProviderKey> = LazyLock::new(|| ProviderKey::ec("provider-ec", 0x44));
    &KEY
}

/// An RSA key that is not in the JWKS, with the `kid` of one that is.
pub fn stranger_rsa() -> &'static ProviderKey {
    static KEY: LazyLock<ProviderKey> = LazyLock::new(|| {
        ProviderKey::rsa(
            "provider-rsa",
            include_str!("../../tests/mock-provider/keys/test-only-rsa-rogue.pem"),
        )
    });
    &KEY
}

/// The provider's keys that are published.
pub fn published() -> [&'static ProviderKey; 2] {
    [provider_ec(), provider_rsa()]
}

/// The provider's JWKS: its two keys.
pub fn jwks() -> &'static CoreJsonWebKeySet {
    static JWKS: LazyLock<CoreJsonWebKeySet> = LazyLock::new(|| {
        let keys: Vec<Value> = published().iter().map(|k| k.jwk.clone()).collect();
        serde_json::from_value(json!({ "keys": keys })).expect("the fuzzing JWKS parses")
    });
    &JWKS
}

/// The client discovery would build for this provider (with a UserInfo
/// endpoint and its JWKS).
pub fn client() -> &'static DiscoveredClient {
    static CLIENT: LazyLock<DiscoveredClient> = LazyLock::new(|| {
        let metadata = Metadata::new(
            IssuerUrl::new(PROVIDER.into()).expect("an issuer URL"),
            AuthUrl::new(format!("{PROVIDER}/authorize")).expect("a URL"),
            JsonWebKeySetUrl::new(format!("{PROVIDER}/jwks")).expect("a URL"),
            vec![ResponseTypes::new(vec![CoreResponseType::Code])],
            vec![CoreSubjectIdentifierType::Public],
            ALGORITHMS.to_vec(),
            LogoutMetadata::default(),
        )
        .set_userinfo_endpoint(Some(
            UserInfoUrl::new(format!("{PROVIDER}/userinfo")).expect("a URL"),
        ))
        .set_jwks(jwks().clone());
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(CLIENT_ID.into()),
            Some(ClientSecret::new("fuzzing-secret".into())),
        )
    });
    &CLIENT
}

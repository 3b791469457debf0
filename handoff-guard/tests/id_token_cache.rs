//! The Bearer ID-token verifier keeps what it verified, per audience list.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use handoff_guard::KeySet;
use handoff_guard::{Clock, OffsetClock, SystemClock};
use handoff_guard::{IdTokenVerifier, ID_TOKEN_LEEWAY as LEEWAY};
use handoff_guard::{KeySource, VerifyError};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;

const ISSUER: &str = "https://accounts.google.com";

struct Provider {
    encoding: EncodingKey,
    jwks: String,
}

fn provider() -> Provider {
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let pem = key.to_pkcs1_pem(LineEnding::LF).unwrap();
    let b64 = |bytes: Vec<u8>| URL_SAFE_NO_PAD.encode(bytes);
    let jwks = serde_json::json!({"keys": [{
        "kty": "RSA", "kid": "r1", "use": "sig", "alg": "RS256",
        "n": b64(key.n().to_bytes_be()), "e": b64(key.e().to_bytes_be()),
    }]});
    Provider {
        encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        jwks: jwks.to_string(),
    }
}

impl Provider {
    fn id_token(&self, audience: &str) -> String {
        let now = SystemClock.unix_seconds();
        let claims = serde_json::json!({
            "iss": ISSUER, "aud": audience, "sub": "42",
            "email": "ext@example.com", "email_verified": true,
            "iat": now, "exp": now + 3600,
        });
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("r1".into());
        jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap()
    }

    fn verifier(&self, audience: &str) -> IdTokenVerifier {
        let keys = KeySet::from_json_for(&self.jwks, Algorithm::RS256).unwrap();
        IdTokenVerifier::new(
            &[ISSUER.to_owned()],
            &[audience.to_owned()],
            KeySource::Static(keys),
        )
    }
}

#[tokio::test]
async fn an_id_token_is_verified_once_and_served_only_to_its_audience_until_it_expires() {
    let provider = provider();
    let clock = OffsetClock::default();
    let extension = provider
        .verifier("extension-client")
        .with_clock(Arc::new(clock.clone()));
    let elsewhere = provider.verifier("another-client");
    let token = provider.id_token("extension-client");

    let first = extension.verify_shared(&token).await.unwrap();
    let again = extension.verify_shared(&token).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again), "verified again");
    assert_eq!(again.verified_email(), Some("ext@example.com"));

    assert_eq!(
        elsewhere.verify_shared(&token).await.unwrap_err(),
        VerifyError::WrongAudience
    );
    assert_eq!(elsewhere.cached_tokens(), 0);

    clock.advance(Duration::from_secs(3600) + LEEWAY);
    assert_eq!(
        extension.verify_shared(&token).await.unwrap_err(),
        VerifyError::Expired
    );
    assert_eq!(extension.cached_tokens(), 0);
}

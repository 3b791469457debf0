//! The cache seen through the verifiers that own it.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;

use crate::claims::HandoffClaims;
use crate::clock::{Clock, OffsetClock, SystemClock};
use crate::jwks::{KeySet, RemoteJwksOptions};
use crate::keys::SigningKey;
use crate::signer::HandoffSigner;
use crate::token_checks::{KeySource, VerifyError};
use crate::verifier::{HandoffVerifier, LEEWAY};

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://app.example.com";

fn claims(jti: &str) -> HandoffClaims {
    let now = SystemClock.unix_seconds();
    HandoffClaims {
        iss: ISS.into(),
        aud: AUD.into(),
        sub: "1234".into(),
        email: "alice@example.com".into(),
        name: None,
        sid: "session-1".into(),
        iat: now,
        nbf: now,
        exp: now + 600,
        jti: jti.into(),
    }
}

fn verifier(signer: &HandoffSigner, audience: &str) -> HandoffVerifier {
    HandoffVerifier::new(
        crate::Issuer::new(ISS),
        crate::Audience::new(audience),
        KeySource::Static(KeySet::from_jwks(signer.jwks())),
    )
}

fn signer() -> HandoffSigner {
    HandoffSigner::new(SigningKey::generate(), vec![])
}

#[tokio::test]
async fn a_token_seen_again_is_answered_from_the_cache() {
    let signer = signer();
    let verifier = verifier(&signer, AUD);
    let token = signer.sign(&claims("a")).unwrap();
    let first = verifier.verify_shared(&token).await.unwrap();
    let second = verifier.verify_shared(&token).await.unwrap();
    assert!(Arc::ptr_eq(&first, &second), "verified again");
    assert_eq!(*second, claims("a"));
    assert_eq!(verifier.cached_tokens(), 1);
}

#[tokio::test]
async fn a_cached_token_is_refused_once_the_clock_passes_its_expiry() {
    let signer = signer();
    let clock = OffsetClock::default();
    let verifier = verifier(&signer, AUD).with_clock(Arc::new(clock.clone()));
    let token = signer.sign(&claims("a")).unwrap();
    verifier.verify_shared(&token).await.unwrap();

    clock.advance(Duration::from_secs(600) + LEEWAY - Duration::from_secs(10));
    assert!(
        verifier.verify_shared(&token).await.is_ok(),
        "not yet expired"
    );
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        verifier.verify_shared(&token).await,
        Err(VerifyError::Expired)
    );
    assert_eq!(verifier.cached_tokens(), 0, "the expired entry is dropped");
}

#[tokio::test]
async fn a_revoked_session_is_refused_even_when_its_token_is_cached() {
    use crate::gate::HandoffGate;
    use crate::revocation::{RevokedSession, RevokedSessions};

    let signer = signer();
    let revoked = Arc::new(RevokedSessions::default());
    let gate = HandoffGate::new(
        verifier(&signer, AUD),
        "https://auth.example.com/login".parse().unwrap(),
        AUD.parse().unwrap(),
    )
    .refusing_revoked(revoked.clone());
    let token = signer.sign(&claims("a")).unwrap();
    let request = || {
        actix_web::test::TestRequest::default()
            .insert_header(("authorization", format!("Bearer {token}")))
            .to_http_request()
    };
    assert!(gate.authenticate(&request()).await.is_ok());
    assert_eq!(gate.verifier().cached_tokens(), 1);

    let now = SystemClock.unix_seconds();
    revoked.record(
        &[RevokedSession {
            sid: "session-1".into(),
            revoked_at: now,
        }],
        now,
    );
    assert!(gate.authenticate(&request()).await.is_err());
}

#[tokio::test]
async fn a_verifier_for_another_audience_never_sees_the_entry() {
    let signer = signer();
    let ours = verifier(&signer, AUD);
    let theirs = verifier(&signer, "https://other.example.com");
    let token = signer.sign(&claims("a")).unwrap();
    ours.verify_shared(&token).await.unwrap();
    assert_eq!(
        theirs.verify_shared(&token).await,
        Err(VerifyError::WrongAudience)
    );
    assert_eq!(theirs.cached_tokens(), 0);
}

#[tokio::test]
async fn the_cache_keeps_no_more_than_its_capacity_and_evicts_the_rest() {
    let signer = signer();
    let verifier = verifier(&signer, AUD).with_cache_capacity(4);
    let tokens: Vec<String> = (0..20)
        .map(|i| signer.sign(&claims(&i.to_string())).unwrap())
        .collect();
    let mut first_answers = Vec::new();
    for token in &tokens {
        first_answers.push(verifier.verify_shared(token).await.unwrap());
        assert!(verifier.cached_tokens() <= 4);
    }
    // Seen once each: which four stay is the eviction policy's choice
    // (S3-FIFO keeps the first ones and lets a run of one-off tokens
    // churn), but no more than four answer from the cache.
    let mut from_cache = 0;
    for (token, first) in tokens.iter().zip(&first_answers) {
        let again = verifier.verify_shared(token).await.unwrap();
        if Arc::ptr_eq(&again, first) {
            from_cache += 1;
        }
    }
    assert!(from_cache <= 4, "{from_cache} answered from a cache of 4");
    assert!(verifier.cached_tokens() <= 4);
}

#[tokio::test]
async fn a_capacity_of_zero_verifies_every_time() {
    let signer = signer();
    let verifier = verifier(&signer, AUD).with_cache_capacity(0);
    let token = signer.sign(&claims("a")).unwrap();
    let first = verifier.verify_shared(&token).await.unwrap();
    let second = verifier.verify_shared(&token).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &second));
    assert_eq!(verifier.cached_tokens(), 0);
}

#[tokio::test]
async fn a_refused_token_is_not_cached() {
    let signer = signer();
    let verifier = verifier(&signer, AUD);
    let mut expired = claims("a");
    expired.exp = expired.iat - 600;
    let mut elsewhere = claims("b");
    elsewhere.aud = "https://other.example.com".into();
    for token in [
        signer.sign(&expired).unwrap(),
        signer.sign(&elsewhere).unwrap(),
    ] {
        assert!(verifier.verify_shared(&token).await.is_err());
        assert!(verifier.verify_shared(&token).await.is_err());
    }
    assert_eq!(verifier.cached_tokens(), 0);
}

#[tokio::test]
async fn a_tampered_copy_of_a_cached_token_is_verified_afresh_and_refused() {
    let signer = signer();
    let verifier = verifier(&signer, AUD);
    let token = signer.sign(&claims("a")).unwrap();
    verifier.verify_shared(&token).await.unwrap();

    // The signature's first character carries six bits of it (the last
    // one carries padding bits too).
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{signed}.{flipped}{}", &signature[1..]);
    assert_eq!(
        verifier.verify_shared(&tampered).await,
        Err(VerifyError::BadSignature)
    );
    let other = signer.sign(&claims("b")).unwrap();
    let other_signature = other.rsplit_once('.').unwrap().1;
    assert_eq!(
        verifier
            .verify_shared(&format!("{signed}.{other_signature}"))
            .await,
        Err(VerifyError::BadSignature),
        "a cached token's header and claims with another signature"
    );
    assert!(verifier.verify_shared(&format!("{token}x")).await.is_err());
    assert_eq!(verifier.cached_tokens(), 1);
}

/// A JWKS endpoint on loopback serving whatever `jwks` holds.
fn serve_jwks(jwks: Arc<Mutex<JwkSet>>) -> url::Url {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = serde_json::to_string(&*jwks.lock().unwrap()).unwrap();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url.parse().unwrap()
}

/// Keys fetched again on every use, as if each use came after `max_age`.
fn remote_verifier(jwks: &Arc<Mutex<JwkSet>>) -> HandoffVerifier {
    let options = RemoteJwksOptions {
        min_refetch_interval: Duration::ZERO,
        max_age: Duration::ZERO,
        ..RemoteJwksOptions::default()
    };
    HandoffVerifier::remote(
        crate::Issuer::new(ISS),
        crate::Audience::new(AUD),
        serve_jwks(jwks.clone()),
        options,
    )
}

#[tokio::test]
async fn a_retired_keys_entries_are_not_served_after_the_keys_refresh() {
    let (retiring, staying) = (signer(), signer());
    let both = [retiring.jwks().keys.clone(), staying.jwks().keys.clone()].concat();
    let jwks = Arc::new(Mutex::new(JwkSet { keys: both }));
    let verifier = remote_verifier(&jwks);
    let old = retiring.sign(&claims("old")).unwrap();
    let new = staying.sign(&claims("new")).unwrap();
    verifier.verify_shared(&old).await.unwrap();
    let cached_new = verifier.verify_shared(&new).await.unwrap();
    assert_eq!(verifier.cached_tokens(), 2);

    *jwks.lock().unwrap() = staying.jwks().clone();
    assert_eq!(
        verifier.verify_shared(&old).await,
        Err(VerifyError::UnknownKey)
    );
    let still = verifier.verify_shared(&new).await.unwrap();
    assert!(
        Arc::ptr_eq(&cached_new, &still),
        "a key kept across the refresh keeps its entries"
    );
    assert_eq!(verifier.cached_tokens(), 1);
}

#[tokio::test]
async fn a_key_replaced_under_the_same_kid_ends_its_entries() {
    let (original, replacement) = (signer(), signer());
    let jwks = Arc::new(Mutex::new(original.jwks().clone()));
    let verifier = remote_verifier(&jwks);
    let token = original.sign(&claims("a")).unwrap();
    verifier.verify_shared(&token).await.unwrap();

    let mut swapped = replacement.jwks().clone();
    swapped.keys[0].common.key_id = Some(original.active_kid().to_owned());
    *jwks.lock().unwrap() = swapped;
    assert_eq!(
        verifier.verify_shared(&token).await,
        Err(VerifyError::BadSignature)
    );
    assert_eq!(verifier.cached_tokens(), 0);
}

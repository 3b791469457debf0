//! The private app refuses every handoff token it should not trust.

use handoff_guard::HandoffClaims;
use integration_tests::app::PARENT_DOMAIN;
use integration_tests::{tokens, Browser, TestApp};
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A browser holding `token` as its handoff cookie.
fn browser_with(app: &TestApp, token: &str) -> Browser {
    let browser = app.browser();
    browser.put_cookie(&app.handoff_cookie(), token, PARENT_DOMAIN, false);
    browser
}

async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let browser = browser_with(app, token);
    let api = browser.get_json(&app.app("/api/me")).await;
    assert_eq!(api.status, 401, "{what}: the API accepted it");
    let page = browser.get(&app.app("/")).await;
    assert_eq!(page.status, 302, "{what}: the page was served");
    assert_eq!(page.location().unwrap().path(), "/renew", "{what}");
}

async fn assert_accepted(app: &TestApp, token: &str) {
    let api = browser_with(app, token).get_json(&app.app("/api/me")).await;
    assert_eq!(api.status, 200, "a valid token was refused: {}", api.body);
}

#[tokio::test]
async fn a_token_signed_with_the_real_key_and_right_claims_is_accepted() {
    let app = TestApp::spawn().await;
    assert_accepted(&app, &app.sign(&app.claims_for("alice@example.com"))).await;
}

#[tokio::test]
async fn a_tampered_handoff_cookie_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.sign(&app.claims_for("alice@example.com"));
    assert_refused(&app, &tokens::tamper_payload(&token), "tampered payload").await;
    let mut truncated = token.clone();
    truncated.truncate(token.len() - 5);
    assert_refused(&app, &truncated, "truncated signature").await;
    assert_refused(&app, "garbage", "garbage").await;
}

#[tokio::test]
async fn an_expired_handoff_token_is_refused() {
    let app = TestApp::spawn().await;
    let claims = HandoffClaims {
        iat: now() - 900,
        nbf: now() - 900,
        exp: now() - 120,
        ..app.claims_for("alice@example.com")
    };
    assert_refused(&app, &app.sign(&claims), "expired").await;
}

#[tokio::test]
async fn a_handoff_token_for_another_audience_is_refused() {
    let app = TestApp::spawn().await;
    let claims = HandoffClaims {
        aud: "http://other.example.test".into(),
        ..app.claims_for("alice@example.com")
    };
    assert_refused(&app, &app.sign(&claims), "wrong aud").await;
}

#[tokio::test]
async fn a_handoff_token_from_another_issuer_is_refused() {
    let app = TestApp::spawn().await;
    let claims = HandoffClaims {
        iss: "http://evil.example.test".into(),
        ..app.claims_for("alice@example.com")
    };
    assert_refused(&app, &app.sign(&claims), "wrong iss").await;
}

#[tokio::test]
async fn a_handoff_token_signed_by_an_unknown_key_is_refused() {
    let app = TestApp::spawn().await;
    let claims = app.claims_for("alice@example.com");
    let stranger = tokens::new_p256_pem();
    assert_refused(
        &app,
        &tokens::sign_es256(&stranger, "made-up-kid", &claims),
        "unknown kid",
    )
    .await;
    assert_refused(
        &app,
        &tokens::sign_es256(&stranger, app.kid(), &claims),
        "published kid, other key",
    )
    .await;
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_refused() {
    let app = TestApp::spawn().await;
    let claims = app.claims_for("alice@example.com");
    assert_refused(&app, &tokens::alg_none(app.kid(), &claims), "alg none").await;
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_public_key_is_refused() {
    let app = TestApp::spawn().await;
    let claims = app.claims_for("alice@example.com");
    let browser = app.browser();
    let jwks = browser
        .get_json(&app.auth("/.well-known/jwks.json"))
        .await
        .body;
    // Every public form of the key an attacker could feed to a confused verifier.
    let secret = p256::SecretKey::from_pkcs8_pem(app.signing_pem()).unwrap();
    let public_pem = secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    for material in [public_pem.as_bytes(), jwks.as_bytes()] {
        let token = tokens::hs256_with_public_key(material, app.kid(), &claims);
        assert_refused(&app, &token, "HS256 keyed with the public key").await;
    }
}

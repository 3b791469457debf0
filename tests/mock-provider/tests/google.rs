//! The mock's Google dialect, checked at its endpoints against what Google
//! documents (the links are in `src/google.rs`), and the generic dialect
//! where the two differ.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use mock_provider::google::{USERINFO_EMAIL, USERINFO_PROFILE};
use mock_provider::{Dialect, MockProvider, MockUser};
use serde_json::Value;
use sha2::{Digest, Sha256};

const CLIENT: &str = "client-1";
const SECRET: &str = "secret-1";
const REDIRECT: &str = "http://rp.example.test/callback";
const VERIFIER: &str = "verifier-verifier-verifier-verifier-verifier";

async fn provider(dialect: Dialect) -> MockProvider {
    MockProvider::builder()
        .client(CLIENT, SECRET, &[REDIRECT])
        .dialect(dialect)
        .start()
        .await
        .unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn discovery(p: &MockProvider) -> Value {
    http()
        .get(format!("{}/.well-known/openid-configuration", p.issuer()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A whole code grant asking for `scope` (plus `extra` parameters): the
/// token endpoint's JSON answer.
async fn sign_in(p: &MockProvider, scope: &str, extra: &[(&str, &str)]) -> Value {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let mut url = url::Url::parse(&format!("{}/o/oauth2/v2/auth", p.issuer())).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", scope)
        .append_pair("state", "s")
        .append_pair("nonce", "n")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(extra);
    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let response = http()
        .post(format!("{}/token", p.issuer()))
        .header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{CLIENT}:{SECRET}"))),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The ID token's payload (the signature is the relying party's business;
/// the protocol tests check it parses with `openidconnect`).
fn payload(tokens: &Value) -> Value {
    let id_token = tokens["id_token"].as_str().unwrap();
    let middle = id_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(middle).unwrap()).unwrap()
}

fn scopes(tokens: &Value) -> Vec<String> {
    let mut scopes: Vec<String> = tokens["scope"]
        .as_str()
        .unwrap()
        .split(' ')
        .map(str::to_owned)
        .collect();
    scopes.sort();
    scopes
}

#[tokio::test]
async fn google_discovery_has_no_end_session_endpoint_and_a_generic_one_has() {
    let google = discovery(&provider(Dialect::Google).await).await;
    assert!(google.get("end_session_endpoint").is_none(), "{google}");
    assert!(google["revocation_endpoint"].is_string(), "{google}");
    assert!(google["userinfo_endpoint"].is_string(), "{google}");

    let generic = discovery(&provider(Dialect::Generic).await).await;
    assert!(generic["end_session_endpoint"].is_string(), "{generic}");
}

#[tokio::test]
async fn google_reports_email_and_profile_in_their_long_names() {
    let p = provider(Dialect::Google).await;
    let tokens = sign_in(&p, "openid email profile", &[]).await;
    assert_eq!(
        scopes(&tokens),
        [USERINFO_EMAIL, USERINFO_PROFILE, "openid"],
        "{tokens}"
    );
    // Asked in the long names, reported once each in the long names.
    let tokens = sign_in(&p, &format!("openid {USERINFO_EMAIL} profile"), &[]).await;
    assert_eq!(
        scopes(&tokens),
        [USERINFO_EMAIL, USERINFO_PROFILE, "openid"]
    );

    let generic = provider(Dialect::Generic).await;
    let tokens = sign_in(&generic, "openid email profile", &[]).await;
    assert_eq!(scopes(&tokens), ["email", "openid", "profile"]);
}

#[tokio::test]
async fn google_merges_earlier_scopes_only_with_include_granted_scopes() {
    let p = provider(Dialect::Google).await;
    sign_in(
        &p,
        "openid email https://www.googleapis.com/auth/drive",
        &[],
    )
    .await;
    let merged = sign_in(&p, "openid", &[("include_granted_scopes", "true")]).await;
    assert!(
        scopes(&merged).contains(&"https://www.googleapis.com/auth/drive".to_owned()),
        "{merged}"
    );
    assert!(scopes(&merged).contains(&USERINFO_EMAIL.to_owned()));
    let alone = sign_in(&p, "openid", &[]).await;
    assert_eq!(scopes(&alone), ["openid"]);
}

#[tokio::test]
async fn google_id_tokens_carry_azp_at_hash_a_boolean_email_verified_and_hd_for_workspace_only() {
    let p = provider(Dialect::Google).await;
    let tokens = sign_in(&p, "openid email profile", &[]).await;
    let claims = payload(&tokens);
    assert_eq!(claims["azp"], CLIENT, "{claims}");
    assert_eq!(claims["aud"], CLIENT, "{claims}");
    assert_eq!(claims["email_verified"], Value::Bool(true), "{claims}");
    assert!(claims.get("hd").is_none(), "a consumer account: {claims}");
    // at_hash: the left half of SHA-256 of the access token, base64url
    // (OpenID Connect Core 3.1.3.6).
    let access_token = tokens["access_token"].as_str().unwrap();
    let digest = Sha256::digest(access_token.as_bytes());
    assert_eq!(claims["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));

    p.set_user(MockUser::workspace("carol@workspace.example"));
    let claims = payload(&sign_in(&p, "openid email", &[]).await);
    assert_eq!(claims["hd"], "workspace.example", "{claims}");

    p.set_user(MockUser {
        email_verified: false,
        ..MockUser::new("dave@example.com")
    });
    let claims = payload(&sign_in(&p, "openid email", &[]).await);
    assert_eq!(claims["email_verified"], Value::Bool(false), "{claims}");
}

#[tokio::test]
async fn google_revocation_answers_200_then_400_invalid_token() {
    let p = provider(Dialect::Google).await;
    let tokens = sign_in(&p, "openid email", &[("access_type", "offline")]).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let revoke = || async {
        http()
            .post(format!("{}/revoke", p.issuer()))
            .form(&[("token", refresh_token)])
            .send()
            .await
            .unwrap()
    };
    assert_eq!(revoke().await.status(), 200);
    let again = revoke().await;
    assert_eq!(again.status(), 400);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token", "{body}");
    assert_eq!(p.revocation_answers(), [200, 400]);
}

//! The mock's Google dialect, checked at its endpoints against what Google
//! documents (the links are in `src/google.rs`), and the generic dialect
//! where the two differ.

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use mock_provider::google::{USERINFO_EMAIL, USERINFO_PROFILE};
use mock_provider::{Dialect, MockProvider, MockUser};
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{code_grant, http, jwt_payload, provider_with_web_client, CLIENT};

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

/// The ID token's payload (the signature is the relying party's business;
/// the protocol tests check it parses with `openidconnect`).
fn payload(tokens: &Value) -> Value {
    jwt_payload(tokens["id_token"].as_str().unwrap())
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
    let google = discovery(&provider_with_web_client(Dialect::Google).await).await;
    assert!(google.get("end_session_endpoint").is_none(), "{google}");
    assert!(google["revocation_endpoint"].is_string(), "{google}");
    assert!(google["userinfo_endpoint"].is_string(), "{google}");

    let generic = discovery(&provider_with_web_client(Dialect::Generic).await).await;
    assert!(generic["end_session_endpoint"].is_string(), "{generic}");
}

#[tokio::test]
async fn google_reports_email_and_profile_in_their_long_names() {
    let p = provider_with_web_client(Dialect::Google).await;
    let tokens = code_grant(&p, "openid email profile", &[]).await;
    assert_eq!(
        scopes(&tokens),
        [USERINFO_EMAIL, USERINFO_PROFILE, "openid"],
        "{tokens}"
    );
    // Asked in the long names, reported once each in the long names.
    let tokens = code_grant(&p, &format!("openid {USERINFO_EMAIL} profile"), &[]).await;
    assert_eq!(
        scopes(&tokens),
        [USERINFO_EMAIL, USERINFO_PROFILE, "openid"]
    );

    let generic = provider_with_web_client(Dialect::Generic).await;
    let tokens = code_grant(&generic, "openid email profile", &[]).await;
    assert_eq!(scopes(&tokens), ["email", "openid", "profile"]);
}

#[tokio::test]
async fn google_merges_earlier_scopes_only_with_include_granted_scopes() {
    let p = provider_with_web_client(Dialect::Google).await;
    code_grant(
        &p,
        "openid email https://www.googleapis.com/auth/drive",
        &[],
    )
    .await;
    let merged = code_grant(&p, "openid", &[("include_granted_scopes", "true")]).await;
    assert!(
        scopes(&merged).contains(&"https://www.googleapis.com/auth/drive".to_owned()),
        "{merged}"
    );
    assert!(scopes(&merged).contains(&USERINFO_EMAIL.to_owned()));
    let alone = code_grant(&p, "openid", &[]).await;
    assert_eq!(scopes(&alone), ["openid"]);
}

#[tokio::test]
async fn google_id_tokens_carry_azp_at_hash_a_boolean_email_verified_and_hd_for_workspace_only() {
    let p = provider_with_web_client(Dialect::Google).await;
    let tokens = code_grant(&p, "openid email profile", &[]).await;
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
    let claims = payload(&code_grant(&p, "openid email", &[]).await);
    assert_eq!(claims["hd"], "workspace.example", "{claims}");

    p.set_user(MockUser {
        email_verified: false,
        ..MockUser::new("dave@example.com")
    });
    let claims = payload(&code_grant(&p, "openid email", &[]).await);
    assert_eq!(claims["email_verified"], Value::Bool(false), "{claims}");
}

#[tokio::test]
async fn google_revocation_answers_200_then_400_invalid_token() {
    let p = provider_with_web_client(Dialect::Google).await;
    let tokens = code_grant(&p, "openid email", &[("access_type", "offline")]).await;
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

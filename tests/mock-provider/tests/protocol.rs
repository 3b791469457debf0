//! The mock provider speaks the protocol the way Google does.

use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use mock_provider::{MockProvider, MockUser};
use sha2::{Digest, Sha256};

const CLIENT: &str = "client-1";
const SECRET: &str = "secret-1";
const REDIRECT: &str = "http://rp.example.test/callback";

async fn provider() -> MockProvider {
    MockProvider::builder()
        .client(CLIENT, SECRET, &[REDIRECT])
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

/// Runs the authorization endpoint and returns the code.
async fn authorize(p: &MockProvider, extra: &[(&str, &str)], verifier: &str) -> String {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = url::Url::parse(&format!("{}/o/oauth2/v2/auth", p.issuer())).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email")
        .append_pair("state", "s")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(extra);
    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}

async fn exchange(
    p: &MockProvider,
    form: &[(&str, &str)],
    basic: bool,
) -> (u16, serde_json::Value) {
    let mut request = http().post(format!("{}/token", p.issuer()));
    let mut form: Vec<(&str, &str)> = form.to_vec();
    if basic {
        request = request.header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{CLIENT}:{SECRET}"))),
        );
    } else {
        form.extend([("client_id", CLIENT), ("client_secret", SECRET)]);
    }
    let response = request.form(&form).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

fn code_form<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ]
}

#[tokio::test]
async fn discovery_and_jwks_parse_with_openidconnect() {
    let p = provider().await;
    let issuer = openidconnect::IssuerUrl::new(p.issuer()).unwrap();
    let metadata = openidconnect::core::CoreProviderMetadata::discover_async(issuer, &http())
        .await
        .unwrap();
    assert_eq!(metadata.jwks().keys().len(), 1);
}

#[tokio::test]
async fn a_code_is_exchanged_once_with_either_client_auth_method() {
    let p = provider().await;
    for basic in [true, false] {
        let code = authorize(&p, &[], "verifier-verifier-verifier-verifier-verifier").await;
        let (status, body) = exchange(
            &p,
            &code_form(&code, "verifier-verifier-verifier-verifier-verifier"),
            basic,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["id_token"].is_string() && body["access_token"].is_string());
        let (status, body) = exchange(
            &p,
            &code_form(&code, "verifier-verifier-verifier-verifier-verifier"),
            basic,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "a reused code"
        );
    }
}

#[tokio::test]
async fn a_wrong_verifier_a_wrong_secret_and_an_expired_code_are_refused() {
    let p = provider().await;
    let good = "good-verifier-good-verifier-good-verifier-good";
    let code = authorize(&p, &[], good).await;
    let (status, _) = exchange(
        &p,
        &code_form(&code, "another-verifier-another-verifier-another"),
        true,
    )
    .await;
    assert_eq!(status, 400);

    let code = authorize(&p, &[], good).await;
    let mut form = code_form(&code, good);
    form.extend([("client_id", CLIENT), ("client_secret", "wrong-secret")]);
    let response = http()
        .post(format!("{}/token", p.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let code = authorize(&p, &[], good).await;
    p.advance_clock(Duration::from_secs(61));
    let (status, _) = exchange(&p, &code_form(&code, good), true).await;
    assert_eq!(status, 400, "an expired code");
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_an_error_page_and_no_redirect() {
    let p = provider().await;
    let url = format!(
        "{}/o/oauth2/v2/auth?client_id={CLIENT}&redirect_uri=http%3A%2F%2Fevil.example%2F&response_type=code&scope=openid",
        p.issuer()
    );
    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test]
async fn a_refresh_token_comes_only_with_consent_and_dies_with_revocation() {
    let p = provider().await;
    p.set_user(MockUser::new("ada@example.com"));
    let v = "verifier-verifier-verifier-verifier-verifier";
    let offline = [("access_type", "offline")];

    let code = authorize(&p, &offline, v).await;
    let (_, first) = exchange(&p, &code_form(&code, v), true).await;
    let refresh_token = first["refresh_token"]
        .as_str()
        .expect("first consent gives a refresh token")
        .to_owned();

    let code = authorize(&p, &offline, v).await;
    let (_, second) = exchange(&p, &code_form(&code, v), true).await;
    assert!(
        second["refresh_token"].is_null(),
        "no consent screen, no refresh token"
    );

    let code = authorize(&p, &[("access_type", "offline"), ("prompt", "consent")], v).await;
    let (_, third) = exchange(&p, &code_form(&code, v), true).await;
    assert!(
        third["refresh_token"].is_string(),
        "prompt=consent gives a new one"
    );
    assert_eq!(p.consent_prompts(), 2);

    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
    ];
    let (status, body) = exchange(&p, &form, true).await;
    assert_eq!(status, 200, "{body}");
    let userinfo = http()
        .get(format!("{}/v1/userinfo", p.issuer()))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 200);

    p.revoke_all_grants_of("ada@example.com");
    let (status, body) = exchange(&p, &form, true).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn with_rotation_the_old_refresh_token_stops_working() {
    let p = provider().await;
    p.refresh_token_rotation(true);
    let v = "verifier-verifier-verifier-verifier-verifier";
    let code = authorize(&p, &[("access_type", "offline")], v).await;
    let (_, body) = exchange(&p, &code_form(&code, v), true).await;
    let old = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = exchange(
        &p,
        &[("grant_type", "refresh_token"), ("refresh_token", &old)],
        true,
    )
    .await;
    assert_eq!(status, 200);
    assert_ne!(body["refresh_token"].as_str().unwrap(), old);
    let (status, _) = exchange(
        &p,
        &[("grant_type", "refresh_token"), ("refresh_token", &old)],
        true,
    )
    .await;
    assert_eq!(status, 400);
}

//! The mock provider speaks the protocol the way Google does.

use std::time::Duration;

mod support;

use mock_provider::{Dialect, MockUser};
use support::{authorize, code_form, exchange, http, provider_with_web_client, CLIENT};

#[tokio::test]
async fn discovery_and_jwks_parse_with_openidconnect() {
    let p = provider_with_web_client(Dialect::Google).await;
    let issuer = openidconnect::IssuerUrl::new(p.issuer()).unwrap();
    let metadata = openidconnect::core::CoreProviderMetadata::discover_async(issuer, &http())
        .await
        .unwrap();
    assert_eq!(metadata.jwks().keys().len(), 1);
}

#[tokio::test]
async fn a_code_is_exchanged_once_with_either_client_auth_method() {
    let p = provider_with_web_client(Dialect::Google).await;
    for basic in [true, false] {
        let code = authorize(
            &p,
            "openid email",
            &[],
            "verifier-verifier-verifier-verifier-verifier",
        )
        .await;
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
    let p = provider_with_web_client(Dialect::Google).await;
    let good = "good-verifier-good-verifier-good-verifier-good";
    let code = authorize(&p, "openid email", &[], good).await;
    let (status, _) = exchange(
        &p,
        &code_form(&code, "another-verifier-another-verifier-another"),
        true,
    )
    .await;
    assert_eq!(status, 400);

    let code = authorize(&p, "openid email", &[], good).await;
    let mut form = code_form(&code, good);
    form.extend([("client_id", CLIENT), ("client_secret", "wrong-secret")]);
    let response = http()
        .post(format!("{}/token", p.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let code = authorize(&p, "openid email", &[], good).await;
    p.advance_clock(Duration::from_secs(61));
    let (status, _) = exchange(&p, &code_form(&code, good), true).await;
    assert_eq!(status, 400, "an expired code");
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_an_error_page_and_no_redirect() {
    let p = provider_with_web_client(Dialect::Google).await;
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
    let p = provider_with_web_client(Dialect::Google).await;
    p.set_user(MockUser::new("ada@example.com"));
    let v = "verifier-verifier-verifier-verifier-verifier";
    let offline = [("access_type", "offline")];

    let code = authorize(&p, "openid email", &offline, v).await;
    let (_, first) = exchange(&p, &code_form(&code, v), true).await;
    let refresh_token = first["refresh_token"]
        .as_str()
        .expect("first consent gives a refresh token")
        .to_owned();

    let code = authorize(&p, "openid email", &offline, v).await;
    let (_, second) = exchange(&p, &code_form(&code, v), true).await;
    assert!(
        second["refresh_token"].is_null(),
        "no consent screen, no refresh token"
    );

    let code = authorize(
        &p,
        "openid email",
        &[("access_type", "offline"), ("prompt", "consent")],
        v,
    )
    .await;
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
    let p = provider_with_web_client(Dialect::Google).await;
    p.refresh_token_rotation(true);
    let v = "verifier-verifier-verifier-verifier-verifier";
    let code = authorize(&p, "openid email", &[("access_type", "offline")], v).await;
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

//! What the mock provider's protocol tests share: a web client
//! registered with it, and the requests a relying party sends (the
//! authorization request, the code exchange at the token endpoint).

// Each test file uses its own share of these.
#![allow(dead_code)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use mock_provider::{Dialect, MockProvider};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The web client registered with the provider, its secret and its one
/// redirect URI.
pub const CLIENT: &str = "client-1";
pub const SECRET: &str = "secret-1";
pub const REDIRECT: &str = "http://rp.example.test/callback";
/// A PKCE verifier for tests that need no other.
pub const VERIFIER: &str = "verifier-verifier-verifier-verifier-verifier";

/// The provider speaking `dialect`, with [`CLIENT`] registered.
pub async fn provider_with_web_client(dialect: Dialect) -> MockProvider {
    MockProvider::builder()
        .client(CLIENT, SECRET, &[REDIRECT])
        .dialect(dialect)
        .start()
        .await
        .unwrap()
}

/// A client that shows each redirect instead of following it.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Runs the authorization endpoint for [`CLIENT`] asking for `scope`
/// (plus `extra` parameters), the PKCE challenge made from `verifier`,
/// and returns the code.
pub async fn authorize(
    p: &MockProvider,
    scope: &str,
    extra: &[(&str, &str)],
    verifier: &str,
) -> String {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = url::Url::parse(&format!("{}/o/oauth2/v2/auth", p.issuer())).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", scope)
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

/// Posts `form` to the token endpoint as [`CLIENT`], authenticated with
/// HTTP Basic (`basic`) or with the secret in the form.
pub async fn exchange(p: &MockProvider, form: &[(&str, &str)], basic: bool) -> (u16, Value) {
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

/// The token request that redeems `code` with `verifier`.
pub fn code_form<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ]
}

/// A whole code grant asking for `scope` (plus `extra` parameters) with a
/// nonce: the token endpoint's JSON answer.
pub async fn code_grant(p: &MockProvider, scope: &str, extra: &[(&str, &str)]) -> Value {
    let mut with_nonce = vec![("nonce", "n")];
    with_nonce.extend_from_slice(extra);
    let code = authorize(p, scope, &with_nonce, VERIFIER).await;
    let (status, tokens) = exchange(p, &code_form(&code, VERIFIER), true).await;
    assert_eq!(status, 200);
    tokens
}

/// A JWT's payload, unverified (the signature is the relying party's
/// business; `protocol.rs` checks the keys parse with `openidconnect`).
pub fn jwt_payload(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

use integration_tests::app::{TestOptions, PARENT_DOMAIN};
use integration_tests::{logs, tokens, TestApp};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use public_service::settings::ClientAuthMethod;

#[tokio::test]
async fn a_full_sign_in_lands_on_the_private_page_with_the_right_identity() {
    let app = TestApp::spawn().await;
    let browser = app.browser();

    let hops = app.sign_in(&browser, "alice@example.com").await;

    let route: Vec<(String, u16)> = hops
        .iter()
        .map(|p| {
            (
                format!("{}{}", p.url.host_str().unwrap(), p.url.path()),
                p.status.as_u16(),
            )
        })
        .collect();
    assert_eq!(route.len(), 5, "{route:?}");
    assert_eq!(route[0], ("app.example.test/".into(), 302));
    assert_eq!(route[1], ("auth.example.test/renew".into(), 302));
    assert_eq!(route[2], ("127.0.0.1/o/oauth2/v2/auth".into(), 302));
    assert_eq!(route[3], ("auth.example.test/callback".into(), 302));
    assert_eq!(route[4], ("app.example.test/".into(), 200));
    let page = hops.last().unwrap();
    assert!(page.body.contains("alice@example.com"), "{}", page.body);

    let me = browser.get_json(&app.app("/api/me")).await;
    assert_eq!(me.status, 200);
    let me: serde_json::Value = serde_json::from_str(&me.body).unwrap();
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(
        me["sub"],
        mock_provider::MockUser::new("alice@example.com").sub
    );
}

#[tokio::test]
async fn client_secret_post_works_as_well_as_basic() {
    let app = TestApp::spawn_with(TestOptions {
        auth_method: ClientAuthMethod::ClientSecretPost,
        ..TestOptions::default()
    })
    .await;
    let hops = app.sign_in(&app.browser(), "alice@example.com").await;
    assert_eq!(hops.last().unwrap().status, 200);
}

#[tokio::test]
async fn the_handoff_cookie_is_http_only_secure_lax_for_the_parent_domain_and_dies_with_its_token()
{
    let app = TestApp::spawn().await;
    let hops = app.sign_in(&app.browser(), "alice@example.com").await;
    let callback = &hops[3];

    let cookie = callback
        .set_cookie(&app.handoff_cookie())
        .expect("a handoff cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.same_site(), Some(actix_web::cookie::SameSite::Lax));
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(cookie.domain(), Some(PARENT_DOMAIN));
    let claims = tokens::decode_payload(cookie.value());
    let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 600, "default handoff lifetime is 10 minutes");
    let max_age = cookie.max_age().expect("a Max-Age").whole_seconds();
    assert!(
        max_age > 0 && max_age as u64 <= lifetime,
        "Max-Age {max_age} outlives the token"
    );

    let login = &hops[1];
    let transaction = login
        .set_cookies
        .iter()
        .find(|c| c.name().starts_with("__Host-login-"))
        .expect("a login transaction cookie");
    assert_eq!(transaction.http_only(), Some(true));
    assert_eq!(transaction.secure(), Some(true));
    assert_eq!(
        transaction.same_site(),
        Some(actix_web::cookie::SameSite::Lax)
    );
    assert_eq!(transaction.path(), Some("/"));
    assert_eq!(transaction.domain(), None, "__Host- cookies are host-only");
    assert!(transaction.max_age().unwrap().whole_seconds() <= 600);

    let removed = callback
        .set_cookie(transaction.name())
        .expect("the callback clears the transaction cookie");
    assert_eq!(removed.max_age().map(|a| a.whole_seconds()), Some(0));
}

#[tokio::test]
async fn the_handoff_token_verifies_independently_against_the_served_jwks() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let hops = app.sign_in(&browser, "alice@example.com").await;
    let token = hops[3]
        .set_cookie(&app.handoff_cookie())
        .unwrap()
        .value()
        .to_owned();

    let jwks: JwkSet = serde_json::from_str(
        &browser
            .get_json(&app.auth("/.well-known/jwks.json"))
            .await
            .body,
    )
    .unwrap();
    let header = decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    let kid = header.kid.expect("a kid in the header");
    let jwk = jwks.find(&kid).expect("the kid is published");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[app.issuer()]);
    validation.set_audience(&[app.app_audience()]);
    validation.set_required_spec_claims(&["iss", "aud", "sub", "exp", "nbf", "iat"]);
    let claims =
        decode::<serde_json::Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap()
            .claims;

    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(
        claims["sub"],
        mock_provider::MockUser::new("alice@example.com").sub
    );
    for claim in ["name", "sid", "jti", "nbf"] {
        assert!(!claims[claim].is_null(), "missing {claim}");
    }
    assert!(jwks.keys.iter().all(|k| k.common.key_id.is_some()));
}

#[tokio::test]
async fn two_sign_ins_started_in_two_tabs_both_complete_and_every_cookie_stays_small() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let first = app.callback_url_for(&browser, "alice@example.com").await;
    let second = app.callback_url_for(&browser, "alice@example.com").await;
    assert_ne!(first, second);

    // The tab finished first may be the one whose authorization came
    // without a refresh token (consent was given in the other tab): it goes
    // back to the provider once for consent, then lands like the other.
    for callback in [second, first] {
        let hops = browser.navigate(&callback).await;
        let last = hops.last().unwrap();
        assert_eq!(last.status, 200, "{}", last.body);
        assert_eq!(last.url.host_str(), Some("app.example.test"));
        assert!(browser.cookie(&app.handoff_cookie()).is_some());
    }
    for page in browser.history() {
        for raw in &page.raw_set_cookies {
            assert!(
                raw.len() < 1024,
                "a {} byte Set-Cookie from {}",
                raw.len(),
                page.url
            );
        }
    }
}

#[tokio::test]
async fn a_page_request_without_a_cookie_is_sent_to_sign_in_with_return_to() {
    let app = TestApp::spawn().await;
    let page = app.browser().get(&app.app("/?tab=reports")).await;
    assert_eq!(page.status, 302);
    let location = page.location().unwrap();
    assert_eq!(location.host_str(), Some("auth.example.test"));
    assert_eq!(location.path(), "/renew");
    let return_to = location
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(return_to, app.app("/?tab=reports"));
}

#[tokio::test]
async fn an_api_request_without_a_cookie_gets_401_json_naming_the_login_url() {
    let app = TestApp::spawn().await;
    let page = app.browser().get_json(&app.app("/api/me")).await;
    assert_eq!(page.status, 401);
    assert!(page.header("www-authenticate").is_some());
    let body: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(body["error"], "unauthenticated");
    assert!(body["login_url"]
        .as_str()
        .unwrap()
        .starts_with(&app.auth("/login?return_to=")));
}

#[tokio::test]
async fn no_token_code_or_secret_reaches_a_log_or_a_page() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let hops = app.sign_in(&browser, "alice@example.com").await;
    let callback_url = &hops[3].url;
    let param = |name: &str| {
        callback_url
            .query_pairs()
            .find(|(k, _)| k == name)
            .unwrap()
            .1
            .into_owned()
    };
    let (code, state) = (param("code"), param("state"));
    let token = hops[3]
        .set_cookie(&app.handoff_cookie())
        .unwrap()
        .value()
        .to_owned();
    let transaction = hops[1]
        .set_cookies
        .iter()
        .find(|c| c.name().starts_with("__Host-login-"))
        .unwrap()
        .value()
        .to_owned();

    let secrets = [
        code.as_str(),
        state.as_str(),
        token.as_str(),
        transaction.as_str(),
        app.client_secret.as_str(),
    ];
    logs::assert_not_logged(&secrets);
    for page in browser.history() {
        for secret in [&token, &code, &app.client_secret] {
            assert!(
                !page.body.contains(secret.as_str()),
                "a secret in the body of {}",
                page.url
            );
        }
    }
    logs::assert_no_service_panics();
}

//! The other ways into the app: Bearer tokens (a Chrome extension's Google
//! ID token, a service account's, the handoff token itself), the person /
//! service distinction, CORS for the extension, and forward auth.

use std::time::Duration;

use integration_tests::app::{EXTENSION_CLIENT_ID, EXTENSION_ORIGIN, TASKS_ACCOUNT};
use integration_tests::{logs, TestApp};
use mock_provider::{Misbehaviour, MockUser};
use reqwest::Method;

const ALICE: &str = "alice@example.com";

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    origin: Option<&str>,
) -> Answer {
    let mut request = reqwest::Client::new()
        .request(method, format!("http://{}{path}", app.app_addr))
        .header("accept", "application/json");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
    }
}

async fn me(app: &TestApp, token: &str) -> u16 {
    call(app, Method::GET, "/api/me", Some(token), None)
        .await
        .status
}

async fn task(app: &TestApp, token: &str) -> u16 {
    call(app, Method::POST, "/api/tasks", Some(token), None)
        .await
        .status
}

fn person_token(app: &TestApp, user: &MockUser) -> String {
    app.provider.mint_id_token(user, EXTENSION_CLIENT_ID)
}

fn service_token(app: &TestApp, email: &str) -> String {
    app.provider
        .mint_service_account_token(email, app.app_url.as_str().trim_end_matches('/'))
}

#[tokio::test]
async fn each_token_kind_is_accepted_on_its_routes_and_refused_on_the_others() {
    let app = TestApp::spawn().await;
    let person = person_token(&app, &MockUser::new(ALICE));
    let service = service_token(&app, TASKS_ACCOUNT);
    let handoff = app.sign(&app.claims_for(ALICE));

    assert_eq!(me(&app, &person).await, 200, "the extension's ID token");
    assert_eq!(
        me(&app, &handoff).await,
        200,
        "the handoff token as a Bearer token"
    );
    assert_eq!(
        task(&app, &service).await,
        202,
        "a service account on its route"
    );

    assert_eq!(
        task(&app, &person).await,
        403,
        "a person on a service-only route"
    );
    assert_eq!(task(&app, &handoff).await, 403);
    assert_eq!(
        me(&app, &service).await,
        403,
        "a service on a person's route"
    );
    assert_eq!(
        call(&app, Method::GET, "/api/me", None, None).await.status,
        401
    );
    logs::assert_not_logged(&[&person, &service, &handoff]);
}

#[tokio::test]
async fn broken_or_unwelcome_id_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let alice = MockUser::new(ALICE);
    let audience = app.app_url.as_str().trim_end_matches('/').to_owned();

    let wrong_audience = app
        .provider
        .mint_id_token(&alice, "another-client.apps.example");
    assert_eq!(me(&app, &wrong_audience).await, 401, "wrong audience");
    let person_for_the_service_audience = app.provider.mint_id_token(&alice, &audience);
    assert_eq!(
        me(&app, &person_for_the_service_audience).await,
        401,
        "a person's token for the app URL"
    );
    let service_for_the_extension = app
        .provider
        .mint_service_account_token(TASKS_ACCOUNT, EXTENSION_CLIENT_ID);
    assert_eq!(
        task(&app, &service_for_the_extension).await,
        401,
        "a service token for the extension"
    );

    let wrong_issuer = app.provider.mint_id_token_from(
        "https://accounts.evil.example",
        &alice,
        EXTENSION_CLIENT_ID,
    );
    assert_eq!(me(&app, &wrong_issuer).await, 401, "wrong issuer");

    let unverified = MockUser {
        email_verified: false,
        ..MockUser::new(ALICE)
    };
    assert_eq!(
        me(&app, &person_token(&app, &unverified)).await,
        401,
        "unverified e-mail"
    );
    let stranger = person_token(&app, &MockUser::new("mallory@example.net"));
    assert_eq!(me(&app, &stranger).await, 401, "not on the allowlist");
    let unlisted = service_token(&app, "intruder@project.iam.gserviceaccount.com");
    assert_eq!(
        task(&app, &unlisted).await,
        401,
        "a service account not on the list"
    );

    let token = person_token(&app, &alice);
    app.advance_time(Duration::from_secs(2 * 3600));
    assert_eq!(me(&app, &token).await, 401, "expired");
    assert_eq!(
        call(&app, Method::GET, "/api/me", Some("not-a-jwt"), None)
            .await
            .status,
        401
    );
}

/// Google ID tokens (a person's, a service account's) signed by a 1024-bit
/// RSA key whose `kid` the provider publishes are refused: the app drops
/// the key when it reads the JWKS.
#[tokio::test]
async fn id_tokens_signed_by_a_published_1024_bit_key_are_refused() {
    let app = TestApp::spawn().await;
    app.provider.sign_with_a_1024_bit_key();
    let person = person_token(&app, &MockUser::new(ALICE));
    assert_eq!(me(&app, &person).await, 401, "a person's token");
    let service = service_token(&app, TASKS_ACCOUNT);
    assert_eq!(task(&app, &service).await, 401, "a service account's token");
    assert!(
        logs::captured().contains(mock_provider::keys::WEAK_KID),
        "no warning names the dropped key"
    );
}

#[tokio::test]
async fn unknown_keys_and_rotation_cost_at_most_one_fetch() {
    let app = TestApp::spawn().await;
    let alice = MockUser::new(ALICE);
    assert_eq!(me(&app, &person_token(&app, &alice)).await, 200);
    let fetches = app.provider.jwks_fetches();

    // A token from an unpublished key, many times: refused, and the key
    // server is not asked once per request.
    app.provider.misbehave(Misbehaviour::UnknownKid);
    let forged = person_token(&app, &alice);
    app.provider.behave();
    for _ in 0..20 {
        assert_eq!(me(&app, &forged).await, 401);
    }
    assert!(
        app.provider.jwks_fetches() <= fetches + 1,
        "one fetch at most for unknown kids"
    );

    // The provider rotates: the new key is found with one more fetch.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = app.provider.jwks_fetches();
    app.provider.rotate_keys();
    let rotated = person_token(&app, &alice);
    for _ in 0..10 {
        assert_eq!(me(&app, &rotated).await, 200);
    }
    assert_eq!(app.provider.jwks_fetches(), before + 1);
}

#[tokio::test]
async fn cors_answers_the_extension_only() {
    let app = TestApp::spawn().await;
    let preflight = |origin: &'static str| {
        let url = format!("http://{}/api/me", app.app_addr);
        async move {
            reqwest::Client::new()
                .request(Method::OPTIONS, url)
                .header("origin", origin)
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "authorization")
                .send()
                .await
                .unwrap()
        }
    };
    let allowed = preflight(EXTENSION_ORIGIN).await;
    assert_eq!(allowed.status(), 204);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        EXTENSION_ORIGIN
    );
    assert!(allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("authorization"));
    assert!(allowed
        .headers()
        .get("access-control-allow-credentials")
        .is_none());

    let foreign = preflight("https://evil.example").await;
    assert_eq!(foreign.status(), 403);
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let other_extension = preflight("chrome-extension://zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz").await;
    assert!(other_extension
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    let token = person_token(&app, &MockUser::new(ALICE));
    let actual = call(
        &app,
        Method::GET,
        "/api/me",
        Some(&token),
        Some(EXTENSION_ORIGIN),
    )
    .await;
    assert_eq!(actual.status, 200);
    assert_eq!(
        actual.headers["access-control-allow-origin"],
        EXTENSION_ORIGIN
    );
    let actual = call(
        &app,
        Method::GET,
        "/api/me",
        Some(&token),
        Some("https://evil.example"),
    )
    .await;
    assert!(actual.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn forward_auth_answers_200_with_identity_or_401() {
    let app = TestApp::spawn().await;
    let person = person_token(&app, &MockUser::new(ALICE));
    let answer = call(&app, Method::GET, "/auth/verify", Some(&person), None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["x-auth-kind"], "person");
    assert_eq!(answer.headers["x-auth-email"], ALICE);
    assert_eq!(
        answer.headers["x-auth-subject"],
        MockUser::new(ALICE).sub.as_str()
    );

    let service = service_token(&app, TASKS_ACCOUNT);
    let answer = call(&app, Method::GET, "/auth/verify", Some(&service), None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["x-auth-kind"], "service");
    // Envoy's ext_authz asks `<prefix><original path>`, with the original method.
    let envoy = call(
        &app,
        Method::POST,
        "/auth/verify/reports/42?x=1",
        Some(&person),
        None,
    )
    .await;
    assert_eq!(envoy.status, 200);
    assert_eq!(envoy.headers["x-auth-email"], ALICE);

    // The handoff cookie, as a browser behind the proxy sends it.
    let browser = app.browser();
    let hops = app.sign_in(&browser, ALICE).await;
    assert_eq!(hops.last().unwrap().status, 200);
    let page = browser.get(&app.app("/auth/verify")).await;
    assert_eq!(page.status, 200, "no redirect: the proxy decides");
    assert_eq!(page.header("x-auth-email"), Some(ALICE));
    assert!(page.header("x-auth-session").is_some_and(|s| !s.is_empty()));

    for token in [
        None,
        Some("garbage"),
        Some(person.as_str()).filter(|_| false),
    ] {
        let answer = call(&app, Method::GET, "/auth/verify", token, None).await;
        assert_eq!(answer.status, 401);
        assert!(answer.headers.get("x-auth-email").is_none());
    }
    let anonymous = app.browser().get(&app.app("/auth/verify")).await;
    assert_eq!(
        anonymous.status, 401,
        "a browser without a cookie gets 401, not a redirect"
    );
}

#[tokio::test]
async fn api_me_names_the_tokens_expiry_as_the_tokens_not_the_sessions() {
    let app = TestApp::spawn().await;
    let claims = app.claims_for(ALICE);
    let handoff = app.sign(&claims);
    let me: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{}/api/me", app.app_addr))
        .bearer_auth(&handoff)
        .send()
        .await
        .expect("the app answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(me["email"], ALICE);
    assert_eq!(me["token_expires_at"], claims.exp, "{me}");
    assert!(me.get("session_expires_at").is_none(), "{me}");
}

//! OpenID Connect Back-Channel Logout 1.0 as a relying party
//! (<https://openid.net/specs/openid-connect-backchannel-1_0.html>): the
//! mock provider (a generic OpenID provider, which advertises
//! `backchannel_logout_supported` and puts `sid` in its ID tokens) posts
//! logout tokens to `POST /backchannel-logout`, and they end the sessions
//! they name; the public service's session is revoked and the app refuses
//! the session's handoff token within its revocation poll. Refusals are in
//! [`refusals`], the store's part on both backends in [`storage`]; the
//! certified provider's own logout is in `certified_provider`.

mod refusals;
mod storage;

use integration_tests::app::CLIENT_ID;
use integration_tests::db::Backend;
use integration_tests::{logs, on_every_backend, Browser, Landing, TestApp, TestOptions};
use mock_provider::{Dialect, LogoutSigning, MockUser};
use serde_json::Value;

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@corp.example";

fn generic(backend: Backend) -> TestOptions {
    TestOptions {
        backend,
        provider_dialect: Dialect::Generic,
        ..TestOptions::default()
    }
}

/// A browser signed in as `email`: its session id and the provider's `sid`
/// the session was stored with.
struct SignedIn {
    browser: Browser,
    session_id: String,
    provider_sid: String,
}

async fn signed_in(app: &TestApp, email: &str) -> SignedIn {
    let signed_in = app.signing_in(email).landing(Landing::Ok).run().await;
    let session_id = signed_in.session_id().expect("a session cookie");
    let stored = app
        .store()
        .await
        .session(&session_id)
        .await
        .unwrap()
        .unwrap();
    let provider_sid = stored.provider_sid.expect("the ID token's sid is stored");
    let sub = MockUser::new(email).sub;
    assert!(
        app.provider
            .provider_sessions()
            .contains(&(sub, provider_sid.clone())),
        "the stored sid is one the provider issued"
    );
    SignedIn {
        browser: signed_in.browser,
        session_id,
        provider_sid,
    }
}

/// What `POST /backchannel-logout` answered.
struct Answer {
    status: u16,
    cache_control: Option<String>,
    json: Value,
}

async fn post_form(app: &TestApp, content_type: &str, body: String) -> Answer {
    let response = reqwest::Client::new()
        .post(format!("http://{}/backchannel-logout", app.auth_addr))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let cache_control = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    Answer {
        status,
        cache_control,
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// Posts `token` as the provider does (section 2.5).
async fn post_logout(app: &TestApp, token: &str) -> Answer {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", token)
        .finish();
    post_form(app, "application/x-www-form-urlencoded", body).await
}

/// A valid logout token from the mock for our client.
fn logout_token(app: &TestApp, sub: Option<&str>, sid: Option<&str>) -> String {
    let claims = app.provider.logout_token_claims(CLIENT_ID, sub, sid);
    app.provider
        .sign_logout_token(&claims, LogoutSigning::Published)
}

async fn revoked(app: &TestApp, session_id: &str) -> bool {
    let session = app.store().await.session(session_id).await.unwrap();
    session.unwrap().revoked_at.is_some()
}

fn assert_ended(answer: &Answer) {
    // Section 2.8: 200 and `Cache-Control: no-store`.
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
}

async fn a_logout_token_ends_the_provider_sessions_it_names(backend: Backend) {
    let Some(app) = TestApp::try_spawn_with(generic(backend)).await else {
        return;
    };
    let first = signed_in(&app, ALICE).await;
    let second = signed_in(&app, ALICE).await;
    let bob = signed_in(&app, BOB).await;
    assert_ne!(first.provider_sid, second.provider_sid);
    assert_eq!(
        first.browser.get_json(&app.app("/api/me")).await.status,
        200
    );
    let alice = MockUser::new(ALICE).sub;

    // `sid` and `sub` of different users: nothing matches both, nothing ends.
    let mismatched = logout_token(
        &app,
        Some(&MockUser::new(BOB).sub),
        Some(&first.provider_sid),
    );
    assert_ended(&post_logout(&app, &mismatched).await);
    assert!(!revoked(&app, &first.session_id).await);

    // `sid` and `sub`: that provider session's session only.
    let token = logout_token(&app, Some(&alice), Some(&first.provider_sid));
    assert_ended(&post_logout(&app, &token).await);
    assert!(revoked(&app, &first.session_id).await);
    assert!(!revoked(&app, &second.session_id).await);
    assert!(!revoked(&app, &bob.session_id).await);
    // The revocation feed carries it: the app refuses the handoff token.
    let feed = app
        .store()
        .await
        .sessions_revoked_since(0, None, 100)
        .await
        .unwrap();
    assert!(feed.iter().any(|(id, _)| *id == first.session_id));
    assert!(
        app.refuses_within_polls(&first.browser, &app.app("/api/me"), 3)
            .await,
        "the app still takes the token"
    );
    assert_eq!(
        second.browser.get_json(&app.app("/api/me")).await.status,
        200
    );

    // `sid` alone ends its session too.
    let token = logout_token(&app, None, Some(&second.provider_sid));
    assert_ended(&post_logout(&app, &token).await);
    assert!(revoked(&app, &second.session_id).await);
    assert!(!revoked(&app, &bob.session_id).await);
    logs::assert_not_logged(&[&token]);
    logs::assert_no_service_panics();
}

async fn a_logout_token_naming_only_the_subject_ends_all_its_sessions(backend: Backend) {
    let Some(app) = TestApp::try_spawn_with(generic(backend)).await else {
        return;
    };
    let first = signed_in(&app, ALICE).await;
    let second = signed_in(&app, ALICE).await;
    let bob = signed_in(&app, BOB).await;
    let token = logout_token(&app, Some(&MockUser::new(ALICE).sub), None);
    assert_ended(&post_logout(&app, &token).await);
    assert!(revoked(&app, &first.session_id).await);
    assert!(revoked(&app, &second.session_id).await);
    assert!(!revoked(&app, &bob.session_id).await);
    assert!(
        app.refuses_within_polls(&second.browser, &app.app("/api/me"), 3)
            .await
    );
    assert_eq!(bob.browser.get_json(&app.app("/api/me")).await.status, 200);
}

async fn a_replayed_logout_token_is_refused_and_changes_nothing(backend: Backend) {
    let Some(app) = TestApp::try_spawn_with(generic(backend)).await else {
        return;
    };
    let first = signed_in(&app, ALICE).await;
    let token = logout_token(&app, Some(&MockUser::new(ALICE).sub), None);
    assert_ended(&post_logout(&app, &token).await);
    assert!(revoked(&app, &first.session_id).await);
    // Alice signs in again; the same token (same `jti`) must not end it.
    let again = signed_in(&app, ALICE).await;
    let replay = post_logout(&app, &token).await;
    assert_eq!(replay.status, 400, "{}", replay.json);
    assert_eq!(replay.json["error"], "invalid_request");
    assert!(replay.json["error_description"]
        .as_str()
        .unwrap()
        .contains("jti"));
    assert!(!revoked(&app, &again.session_id).await);
}

on_every_backend!(
    a_logout_token_ends_the_provider_sessions_it_names,
    a_logout_token_naming_only_the_subject_ends_all_its_sessions,
    a_replayed_logout_token_is_refused_and_changes_nothing,
);

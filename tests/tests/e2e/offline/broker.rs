//! The token broker: who may call it, what it hands out, and how it
//! refreshes (once for many callers, never losing a rotated token).

use std::time::Duration;

use integration_tests::app::{BrokerAnswer, BROKER_CALLER};
use integration_tests::db::Backend;
use integration_tests::on_every_backend;
use integration_tests::TestApp;
use mock_provider::MockUser;
use serde_json::json;

use super::{assert_nothing_leaked, signed_in};

const ALICE: &str = "alice@example.com";
/// Past the access token's lifetime (an hour), so the next call refreshes.
const PAST_EXPIRY: Duration = Duration::from_secs(3600);

async fn the_brokered_token_works_at_the_provider_and_is_cached(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    let calls = app.provider.token_endpoint_calls();

    let answer = app.broker_token_for(ALICE, &[]).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json["token_type"], "Bearer");
    let expires_in = answer.json["expires_in"].as_u64().unwrap();
    assert!((3000..=3600).contains(&expires_in), "{expires_in}");
    assert_eq!(
        app.provider.token_endpoint_calls(),
        calls,
        "the access token from the sign-in itself was reused"
    );

    let userinfo = reqwest::Client::new()
        .get(format!("{}/v1/userinfo", app.provider.issuer()))
        .bearer_auth(answer.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 200);
    let me: serde_json::Value = userinfo.json().await.unwrap();
    assert_eq!(me["email"], ALICE);

    let again = app.broker_token_for(ALICE, &[]).await;
    assert_eq!(again.access_token(), answer.access_token());
    assert_eq!(app.provider.token_endpoint_calls(), calls);

    // Fewer scopes than the grant holds: one narrowed token, then reused.
    let narrow = app.broker_token_for(ALICE, &["email"]).await;
    assert_eq!(narrow.status, 200, "{narrow:?}");
    assert_eq!(narrow.json["scope"], "email");
    assert_ne!(narrow.access_token(), answer.access_token());
    assert_eq!(app.provider.token_endpoint_calls(), calls + 1);
    let narrow_again = app.broker_token_for(ALICE, &["email"]).await;
    assert_eq!(narrow_again.access_token(), narrow.access_token());
    assert_eq!(app.provider.token_endpoint_calls(), calls + 1);
    assert_nothing_leaked(
        &app,
        &[&browser],
        &[answer.access_token(), narrow.access_token()],
    );
}

async fn fifty_concurrent_calls_for_an_expired_token_cause_one_refresh(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    app.advance_time(PAST_EXPIRY);
    let calls = app.provider.token_endpoint_calls();

    let answers: Vec<BrokerAnswer> =
        futures_util::future::join_all((0..50).map(|_| app.broker_token_for(ALICE, &[]))).await;
    assert!(
        answers.iter().all(|a| a.status == 200),
        "{:?}",
        answers.iter().find(|a| a.status != 200)
    );
    assert_eq!(
        app.provider.token_endpoint_calls(),
        calls + 1,
        "one refresh for fifty callers"
    );
    let first = answers[0].access_token();
    assert!(answers.iter().all(|a| a.access_token() == first));
    assert_nothing_leaked(&app, &[&browser], &[first]);
}

async fn with_rotation_concurrent_refreshes_on_two_instances_never_lose_the_newest_token(
    backend: Backend,
) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    app.provider.refresh_token_rotation(true);
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    let second = app.spawn_second_public_instance().await;
    let body = json!({ "subject": MockUser::new(ALICE).sub });

    for round in 0..3 {
        app.advance_time(PAST_EXPIRY);
        // Callers' ID tokens live an hour too: a fresh one per round.
        let caller = app.caller_token(BROKER_CALLER);
        let calls = app.provider.token_endpoint_calls();
        let answers = futures_util::future::join_all((0..20).map(|i| {
            let instance = if i % 2 == 0 { app.auth_addr } else { second };
            app.broker_at(instance, Some(&caller), body.clone())
        }))
        .await;
        assert!(
            answers.iter().all(|a| a.status == 200),
            "round {round}: {:?}",
            answers.iter().find(|a| a.status != 200)
        );
        assert_eq!(
            app.provider.token_endpoint_calls(),
            calls + 1,
            "round {round}: the two instances refreshed one at a time, once"
        );
        let live = app.provider.live_refresh_tokens_of(ALICE);
        assert_eq!(live.len(), 1, "rotation leaves one valid refresh token");
        assert_eq!(
            app.stored_refresh_token(ALICE).await.as_ref(),
            Some(&live[0]),
            "round {round}: the stored refresh token is the newest"
        );
    }
    assert_nothing_leaked(&app, &[&browser], &[]);
}

async fn after_revocation_at_the_provider_the_broker_answers_consent_required(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    app.provider.revoke_all_grants_of(ALICE);
    app.advance_time(PAST_EXPIRY);

    let answer = app.broker_token_for(ALICE, &[]).await;
    assert_eq!(answer.status, 403, "{answer:?}");
    assert_eq!(answer.error(), "consent_required");
    let login_url = answer.json["login_url"].as_str().unwrap();
    assert!(
        login_url.starts_with(&app.auth("/login?return_to=")),
        "{login_url}"
    );
    let grant = app
        .store()
        .await
        .grant(&MockUser::new(ALICE).sub)
        .await
        .unwrap()
        .unwrap();
    assert!(grant.revoked_at.is_some() && grant.refresh_token.is_none());

    // Asking again does not bother the provider.
    let calls = app.provider.token_endpoint_calls();
    assert_eq!(
        app.broker_token_for(ALICE, &[]).await.error(),
        "consent_required"
    );
    assert_eq!(app.provider.token_endpoint_calls(), calls);

    // Signing in again restores the grant.
    let again = app.browser();
    signed_in(&app, &again, ALICE).await;
    assert_eq!(app.broker_token_for(ALICE, &[]).await.status, 200);
    assert_nothing_leaked(&app, &[&browser, &again], &[]);
}

async fn a_user_who_never_signed_in_needs_consent(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let answer = app.broker_token_for("nobody@example.com", &[]).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.error(), "consent_required");
}

async fn callers_without_a_valid_allowed_token_are_refused(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    let body = json!({ "subject": MockUser::new(ALICE).sub });

    let none = app.broker(None, body.clone()).await;
    assert_eq!((none.status, none.error()), (401, "invalid_token"));

    let wrong_audience = app
        .provider
        .mint_service_account_token(BROKER_CALLER, &app.app_audience());
    let answer = app.broker(Some(&wrong_audience), body.clone()).await;
    assert_eq!((answer.status, answer.error()), (401, "invalid_token"));

    let stranger = app.caller_token("intruder@project.iam.gserviceaccount.com");
    let answer = app.broker(Some(&stranger), body.clone()).await;
    assert_eq!((answer.status, answer.error()), (403, "caller_not_allowed"));

    // A person's ID token is not a service account's, even for this audience:
    // only listed accounts get in.
    let person = app.caller_token(ALICE);
    let answer = app.broker(Some(&person), body.clone()).await;
    assert_eq!(answer.status, 403);

    let garbage = app.broker(Some("not.a.token"), body.clone()).await;
    assert_eq!(garbage.status, 401);

    let allowed = app.caller_token(BROKER_CALLER);
    let bad_body = app.broker(Some(&allowed), json!({ "user": "x" })).await;
    assert_eq!(
        (bad_body.status, bad_body.error()),
        (400, "invalid_request")
    );
    let bad_scope = app
        .broker(
            Some(&allowed),
            json!({ "subject": MockUser::new(ALICE).sub, "scopes": ["https://mail.google.com/"] }),
        )
        .await;
    assert_eq!(
        (bad_scope.status, bad_scope.error()),
        (400, "invalid_scope")
    );
    for answer in [&none, &garbage, &bad_body] {
        assert!(answer.json.get("access_token").is_none());
    }
    assert_nothing_leaked(
        &app,
        &[&browser],
        &[&wrong_audience, &stranger, &allowed, &person],
    );
}

/// A caller's ID token signed by a 1024-bit RSA key whose `kid` the
/// provider publishes is refused: the public service drops the key when it
/// reads the callers' JWKS.
#[tokio::test]
async fn a_caller_token_signed_by_a_published_1024_bit_key_is_refused() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    app.provider.sign_with_a_1024_bit_key();
    let weak = app.caller_token(BROKER_CALLER);
    let body = json!({ "subject": MockUser::new(ALICE).sub });
    let answer = app.broker(Some(&weak), body).await;
    assert_eq!((answer.status, answer.error()), (401, "invalid_token"));
    assert!(answer.json.get("access_token").is_none());
    assert!(
        integration_tests::logs::captured().contains(mock_provider::keys::WEAK_KID),
        "no warning names the dropped key"
    );
}

on_every_backend!(
    the_brokered_token_works_at_the_provider_and_is_cached,
    fifty_concurrent_calls_for_an_expired_token_cause_one_refresh,
    with_rotation_concurrent_refreshes_on_two_instances_never_lose_the_newest_token,
    after_revocation_at_the_provider_the_broker_answers_consent_required,
    a_user_who_never_signed_in_needs_consent,
    callers_without_a_valid_allowed_token_are_refused,
);

//! One consent screen for sign-in and offline access; no second prompt for
//! a returning user; incremental scopes.

use integration_tests::app::DRIVE_SCOPE;
use integration_tests::db::Backend;
use integration_tests::on_both_backends;
use integration_tests::{TestApp, TestOptions};
use mock_provider::MockUser;

use super::{assert_nothing_leaked, signed_in};

const ALICE: &str = "alice@example.com";

async fn one_consent_gives_sign_in_and_a_stored_refresh_token_and_a_return_is_not_prompted(
    backend: Backend,
) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let first = app.browser();
    signed_in(&app, &first, ALICE).await;
    assert_eq!(app.provider.consent_prompts(), 1);
    let request = &app.provider.authorization_requests()[0];
    assert_eq!(
        request.get("access_type").map(String::as_str),
        Some("offline")
    );
    assert_eq!(
        request.get("include_granted_scopes").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        request.get("prompt"),
        None,
        "a new user is not forced through consent"
    );

    let issued = app.provider.live_refresh_tokens_of(ALICE);
    assert_eq!(issued.len(), 1);
    assert_eq!(
        app.stored_refresh_token(ALICE).await.as_ref(),
        Some(&issued[0])
    );

    // A return visit from another browser: no prompt, no new refresh token,
    // the stored one kept.
    let second = app.browser();
    signed_in(&app, &second, ALICE).await;
    assert_eq!(
        app.provider.consent_prompts(),
        1,
        "the returning user was prompted"
    );
    assert_eq!(app.provider.live_refresh_tokens_of(ALICE), issued);
    assert_eq!(
        app.stored_refresh_token(ALICE).await.as_ref(),
        Some(&issued[0])
    );
    let requests = app.provider.authorization_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].get("prompt"), None);
    assert_nothing_leaked(&app, &[&first, &second], &[]);
}

async fn a_returning_user_without_a_stored_refresh_token_is_asked_for_consent_once(
    backend: Backend,
) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let signed_in_browser = app.browser();
    signed_in(&app, &signed_in_browser, ALICE).await;
    // The grant is lost on our side (revoked here, say) but the provider
    // remembers the consent, so a plain sign-in brings no refresh token.
    let subject = MockUser::new(ALICE).sub;
    app.store()
        .await
        .revoke_grant(&subject, None, 0)
        .await
        .unwrap();
    assert_eq!(app.stored_refresh_token(ALICE).await, None);

    // A fresh browser (user unknown at /login): the callback sees no
    // refresh token and goes back to the provider once, with consent.
    let fresh = app.browser();
    let hops = signed_in(&app, &fresh, ALICE).await;
    let authorizations = hops
        .iter()
        .filter(|p| p.url.path() == "/o/oauth2/v2/auth")
        .count();
    assert_eq!(
        authorizations,
        2,
        "{:?}",
        hops.iter().map(|p| p.url.path()).collect::<Vec<_>>()
    );
    let requests = app.provider.authorization_requests();
    assert_eq!(requests[1].get("prompt"), None);
    assert_eq!(
        requests[2].get("prompt").map(String::as_str),
        Some("consent")
    );
    assert_eq!(
        requests[2].get("login_hint").map(String::as_str),
        Some(ALICE)
    );
    assert_eq!(app.provider.consent_prompts(), 2);
    let live = app.provider.live_refresh_tokens_of(ALICE);
    let stored = app
        .stored_refresh_token(ALICE)
        .await
        .expect("a refresh token again");
    assert!(live.contains(&stored));

    // A browser whose session names the user asks for consent straight away.
    app.store()
        .await
        .revoke_grant(&subject, None, 0)
        .await
        .unwrap();
    let hops = signed_in_browser
        .navigate(&app.auth(&format!("/login?return_to={}", app.app_url)))
        .await;
    assert_eq!(hops.last().unwrap().status, 200);
    let requests = app.provider.authorization_requests();
    assert_eq!(
        requests.last().unwrap().get("prompt").map(String::as_str),
        Some("consent")
    );
    assert!(app.stored_refresh_token(ALICE).await.is_some());
    assert_nothing_leaked(&app, &[&signed_in_browser, &fresh], &[]);
}

async fn an_extra_scope_is_added_incrementally_and_the_user_stays_signed_in(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    let session_before = browser.cookie("__Host-session").unwrap().value;

    let before = app.broker_token_for(ALICE, &[]).await;
    assert_eq!(before.status, 200, "{:?}", before);
    assert!(!before.json["scope"].as_str().unwrap().contains(DRIVE_SCOPE));

    // The backend needs Drive: the broker says consent is required and
    // where to send the user.
    let needs = app.broker_token_for(ALICE, &[DRIVE_SCOPE]).await;
    assert_eq!(needs.status, 403);
    assert_eq!(needs.error(), "consent_required");
    let login_url = needs.json["login_url"].as_str().unwrap().to_owned();
    assert!(login_url.starts_with(&app.auth("/login?")), "{login_url}");

    let hops = browser.navigate(&login_url).await;
    assert_eq!(
        hops.last().unwrap().status,
        200,
        "{}",
        hops.last().unwrap().body
    );
    let request = app.provider.authorization_requests().pop().unwrap();
    assert!(request["scope"].split(' ').any(|s| s == DRIVE_SCOPE));
    assert_eq!(
        request.get("include_granted_scopes").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        app.provider.consent_prompts(),
        2,
        "new scopes need the consent screen"
    );
    assert_eq!(
        browser.cookie("__Host-session").unwrap().value,
        session_before,
        "the user stayed in the same session"
    );

    let after = app.broker_token_for(ALICE, &[DRIVE_SCOPE]).await;
    assert_eq!(after.status, 200, "{:?}", after);
    assert_eq!(
        after.json["scope"], DRIVE_SCOPE,
        "narrowed to what was asked"
    );
    let whole = app.broker_token_for(ALICE, &[]).await;
    let scopes = whole.json["scope"].as_str().unwrap();
    assert!(
        scopes.contains(DRIVE_SCOPE) && scopes.contains("email"),
        "{scopes}"
    );

    // A scope outside the allowlist cannot be asked for.
    let page = browser
        .get(&app.auth("/login?scope=https://mail.google.com/"))
        .await;
    assert_eq!(page.status, 400);
    assert_nothing_leaked(
        &app,
        &[&browser],
        &[after.access_token(), before.access_token()],
    );
}

async fn another_provider_is_asked_with_the_offline_access_scope_and_extra_parameters(
    backend: Backend,
) {
    let Some(app) = TestApp::try_spawn_with(TestOptions {
        backend,
        offline_access: "offline_access",
        extra_auth_params: "audience=https%3A%2F%2Fapi.example&max_age=3600",
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    let browser = app.browser();
    let _ = app.sign_in(&browser, ALICE).await;
    let request = &app.provider.authorization_requests()[0];
    assert!(
        request["scope"].split(' ').any(|s| s == "offline_access"),
        "{request:?}"
    );
    assert_eq!(request.get("access_type"), None);
    assert_eq!(request.get("include_granted_scopes"), None);
    assert_eq!(
        request.get("audience").map(String::as_str),
        Some("https://api.example")
    );
    assert_eq!(request.get("max_age").map(String::as_str), Some("3600"));
}

async fn with_offline_access_off_nothing_is_asked_and_the_sign_in_still_works(backend: Backend) {
    let Some(app) = TestApp::try_spawn_with(TestOptions {
        backend,
        offline_access: "off",
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    let requests = app.provider.authorization_requests();
    assert_eq!(requests.len(), 1, "no second pass for a refresh token");
    assert_eq!(requests[0].get("access_type"), None);
    assert!(!requests[0]["scope"].contains("offline_access"));
    assert_eq!(app.stored_refresh_token(ALICE).await, None);
}

on_both_backends!(
    another_provider_is_asked_with_the_offline_access_scope_and_extra_parameters,
    with_offline_access_off_nothing_is_asked_and_the_sign_in_still_works,
    one_consent_gives_sign_in_and_a_stored_refresh_token_and_a_return_is_not_prompted,
    a_returning_user_without_a_stored_refresh_token_is_asked_for_consent_once,
    an_extra_scope_is_added_incrementally_and_the_user_stays_signed_in,
);

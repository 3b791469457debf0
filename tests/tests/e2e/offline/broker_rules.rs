//! The token broker's rules, each as the attack it stops: a caller asking
//! for scopes or users beyond its rules, tokens for a user the access
//! policy no longer admits, tokens after sign-out (when a live session is
//! required), renewal that keeps a denied user's grant, and tokens that
//! carry more than the caller may have (a provider that does not narrow).

use std::time::Duration;

use integration_tests::app::{BrokerAnswer, AUTH_HOST, BROKER_CALLER, DRIVE_SCOPE, NARROW_CALLER};
use integration_tests::db::Backend;
use integration_tests::on_both_backends;
use integration_tests::{Browser, Landing, TestApp, TestOptions};
use mock_provider::google::{USERINFO_EMAIL, USERINFO_PROFILE};
use mock_provider::MockUser;
use serde_json::json;

use super::{assert_nothing_leaked, signed_in};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@corp.example";

async fn ask(app: &TestApp, caller: &str, email: &str, scopes: &[&str]) -> BrokerAnswer {
    let token = app.caller_token(caller);
    app.broker(
        Some(&token),
        json!({ "subject": MockUser::new(email).sub, "scopes": scopes }),
    )
    .await
}

/// Signs `email` in and grants Drive too (incremental authorization).
async fn signed_in_with_drive(app: &TestApp, email: &str) -> Browser {
    let browser = app.browser();
    signed_in(app, &browser, email).await;
    app.signing_in(email)
        .in_browser(&browser)
        .at_login()
        .query("scope", DRIVE_SCOPE)
        .landing(Landing::Ok)
        .run()
        .await;
    browser
}

async fn a_caller_gets_only_the_scopes_listed_for_it(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = signed_in_with_drive(&app, BOB).await;
    assert_eq!(
        ask(&app, BROKER_CALLER, BOB, &[DRIVE_SCOPE]).await.status,
        200,
        "the caller listed for Drive gets it"
    );

    // The narrow caller may have `email` only: Drive is refused by name,
    // whatever the user granted.
    let refused = ask(&app, NARROW_CALLER, BOB, &[DRIVE_SCOPE]).await;
    assert_eq!(
        (refused.status, refused.error()),
        (403, "scope_not_allowed"),
        "{refused:?}"
    );
    assert!(refused.json["message"]
        .as_str()
        .unwrap()
        .contains(DRIVE_SCOPE));
    assert!(refused.json.get("access_token").is_none());
    // Another spelling of a scope is the same scope.
    let long_profile = ask(&app, NARROW_CALLER, BOB, &[USERINFO_PROFILE]).await;
    assert_eq!(
        long_profile.error(),
        "scope_not_allowed",
        "{long_profile:?}"
    );
    let long_email = ask(&app, NARROW_CALLER, BOB, &[USERINFO_EMAIL]).await;
    assert_eq!(long_email.status, 200, "{long_email:?}");
    assert_eq!(long_email.json["scope"], "email");

    // Asking for nothing gets what the caller may have, not the whole grant:
    // the token the provider issued carries `email` alone.
    let answer = ask(&app, NARROW_CALLER, BOB, &[]).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json["scope"], "email");
    let carried = app
        .provider
        .scopes_of_access_token(answer.access_token())
        .expect("a token the provider issued");
    assert!(
        carried.iter().all(|s| s == "email"),
        "the provider narrowed the token: {carried:?}"
    );
    assert_nothing_leaked(&app, &[&browser], &[answer.access_token()]);
}

async fn a_caller_with_a_user_filter_gets_no_token_for_anyone_else(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    // Alice is on the access policy, but not at corp.example.
    let refused = ask(&app, NARROW_CALLER, ALICE, &["email"]).await;
    assert_eq!(
        (refused.status, refused.error()),
        (403, "subject_not_allowed"),
        "{refused:?}"
    );
    assert!(refused.json.get("access_token").is_none());
    assert_eq!(
        ask(&app, BROKER_CALLER, ALICE, &["email"]).await.status,
        200
    );
    let other = app.browser();
    signed_in(&app, &other, BOB).await;
    assert_eq!(ask(&app, NARROW_CALLER, BOB, &["email"]).await.status, 200);
    assert_nothing_leaked(&app, &[&browser, &other], &[]);
}

async fn a_user_removed_from_the_access_policy_gets_no_more_tokens(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    assert_eq!(app.broker_token_for(ALICE, &[]).await.status, 200);

    // The operator takes Alice off ALLOWED_EMAILS and redeploys.
    app.redeploy_public_service_with(&[("ALLOWED_EMAILS", "carol@example.com")])
        .await;
    let calls = app.provider.token_endpoint_calls();
    let refused = app.broker_token_for(ALICE, &[]).await;
    assert_eq!(
        (refused.status, refused.error()),
        (403, "user_not_allowed"),
        "{refused:?}"
    );
    assert!(refused.json.get("access_token").is_none());
    assert!(refused.json.get("login_url").is_none());
    assert_eq!(
        app.provider.token_endpoint_calls(),
        calls,
        "nothing was asked of the provider for a denied user"
    );
    assert_nothing_leaked(&app, &[&browser], &[]);
}

async fn the_policy_is_checked_against_the_hosted_domain_the_user_signed_in_with(backend: Backend) {
    let Some(app) = TestApp::try_spawn_with(TestOptions {
        backend,
        allowed_emails: Vec::new(),
        allowed_domains: Vec::new(),
        allowed_hosted_domains: vec!["workspace.example".into()],
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    let dana = "dana@workspace.example";
    let mut user = MockUser::new(dana);
    user.hd = Some("workspace.example".into());
    let browser = app
        .signing_in(dana)
        .as_user(user)
        .landing(Landing::Ok)
        .run()
        .await
        .browser;
    // Only `hd` lets Dana in: the broker must know it to admit her.
    assert_eq!(app.broker_token_for(dana, &[]).await.status, 200);

    app.redeploy_public_service_with(&[("ALLOWED_HOSTED_DOMAINS", "other.example")])
        .await;
    let refused = app.broker_token_for(dana, &[]).await;
    assert_eq!((refused.status, refused.error()), (403, "user_not_allowed"));
    assert_nothing_leaked(&app, &[&browser], &[]);
}

async fn with_a_live_session_required_no_token_comes_after_sign_out_or_expiry(backend: Backend) {
    let Some(app) = TestApp::try_spawn_with(TestOptions {
        backend,
        session_idle_timeout: Duration::from_secs(86_400),
        public_env: vec![("BROKER_REQUIRES_SESSION", "true".into())],
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    let never = app.broker_token_for(BOB, &[]).await;
    assert_eq!(never.error(), "session_required", "{never:?}");

    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    assert_eq!(app.broker_token_for(ALICE, &[]).await.status, 200);
    let out = browser
        .post_form(
            &app.auth("/logout"),
            &[("return_to", app.app_url.as_str())],
            &[("origin", &app.app_audience())],
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    let refused = app.broker_token_for(ALICE, &[]).await;
    assert_eq!(
        (refused.status, refused.error()),
        (403, "session_required"),
        "{refused:?}"
    );
    assert!(refused.json.get("access_token").is_none());
    assert!(refused.json["login_url"]
        .as_str()
        .unwrap()
        .starts_with(&app.auth("/login?")));

    // A new session works, until it ends by itself (idle past its timeout).
    let again = app.browser();
    signed_in(&app, &again, ALICE).await;
    assert_eq!(app.broker_token_for(ALICE, &[]).await.status, 200);
    app.advance_time(Duration::from_secs(86_400));
    assert_eq!(
        app.broker_token_for(ALICE, &[]).await.error(),
        "session_required"
    );
    assert_nothing_leaked(&app, &[&browser, &again], &[]);
}

async fn renewal_that_finds_the_user_denied_revokes_the_grant_too(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    assert_eq!(app.provider.live_refresh_tokens_of(ALICE).len(), 1);

    app.redeploy_public_service_with(&[("ALLOWED_EMAILS", "carol@example.com")])
        .await;
    // The handoff token expired: the app sends the browser to renew.
    let session = browser.cookie("__Host-session").unwrap().value;
    browser.clear_cookies();
    browser.put_cookie("__Host-session", &session, AUTH_HOST, true);
    let hops = browser.navigate(&app.app("/")).await;
    let last = hops.last().unwrap();
    assert_eq!(last.url.path(), "/renew");
    assert_eq!(last.status, 403, "{}", last.body);

    let grant = app
        .store()
        .await
        .grant(&MockUser::new(ALICE).sub)
        .await
        .unwrap()
        .unwrap();
    assert!(
        grant.revoked_at.is_some() && grant.refresh_token.is_none(),
        "the denied user's grant is revoked, not only the session"
    );
    assert!(
        app.provider.live_refresh_tokens_of(ALICE).is_empty(),
        "and revoked at the provider"
    );
    assert_nothing_leaked(&app, &[&browser], &[]);
}

/// The scopes a `403 token_too_broad` names, sorted.
fn extra_scopes(refused: &BrokerAnswer) -> Vec<String> {
    let mut extra: Vec<String> = refused.json["extra_scopes"]
        .as_array()
        .unwrap_or_else(|| panic!("no extra_scopes: {refused:?}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    extra.sort_unstable();
    extra
}

/// The scopes an answer's `scope` reports, sorted.
fn reported(answer: &BrokerAnswer) -> Vec<&str> {
    let mut reported: Vec<&str> = answer.json["scope"].as_str().unwrap().split(' ').collect();
    reported.sort_unstable();
    reported
}

async fn a_provider_that_does_not_narrow_gives_a_narrow_caller_no_token(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    app.provider.set_refresh_ignores_scope(true);
    let browser = signed_in_with_drive(&app, BOB).await;

    // The caller allowed `email` only asks for `email`: the provider answers
    // with a token carrying Drive and the rest of the grant. It is refused,
    // naming what the caller may not have.
    let calls = app.provider.token_endpoint_calls();
    let refused = ask(&app, NARROW_CALLER, BOB, &["email"]).await;
    assert_eq!(
        (refused.status, refused.error()),
        (403, "token_too_broad"),
        "{refused:?}"
    );
    assert!(refused.json.get("access_token").is_none(), "{refused:?}");
    assert_eq!(extra_scopes(&refused), [DRIVE_SCOPE, "openid", "profile"]);
    assert_eq!(
        app.provider.token_endpoint_calls(),
        calls + 1,
        "the provider was asked, narrowed to `email`"
    );

    // A caller allowed every scope of the grant gets that token, and is
    // told what it carries.
    let broad = ask(&app, BROKER_CALLER, BOB, &["email"]).await;
    assert_eq!(broad.status, 200, "{broad:?}");
    assert_eq!(
        reported(&broad),
        ["email", DRIVE_SCOPE, "openid", "profile"]
    );
    assert_eq!(
        app.provider.token_endpoint_calls(),
        calls + 1,
        "the broker kept the broad token for `email`"
    );

    // The broker holds a token for `email` now: it is not handed to the
    // narrow caller either, whether it names `email` or nothing.
    for scopes in [&["email"][..], &[]] {
        let again = ask(&app, NARROW_CALLER, BOB, scopes).await;
        assert_eq!(
            (again.status, again.error()),
            (403, "token_too_broad"),
            "{scopes:?}: {again:?}"
        );
        assert!(again.json.get("access_token").is_none());
        assert_eq!(extra_scopes(&again), [DRIVE_SCOPE, "openid", "profile"]);
    }
    assert_nothing_leaked(&app, &[&browser], &[broad.access_token()]);
}

async fn a_caller_marked_as_accepting_the_whole_grant_gets_the_broad_token(backend: Backend) {
    let Some(app) = TestApp::try_spawn_with(TestOptions {
        backend,
        public_env: vec![("BROKER_WHOLE_GRANT_CALLERS", NARROW_CALLER.into())],
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    app.provider.set_refresh_ignores_scope(true);
    let browser = signed_in_with_drive(&app, BOB).await;
    let answer = ask(&app, NARROW_CALLER, BOB, &["email"]).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        reported(&answer),
        ["email", DRIVE_SCOPE, "openid", "profile"],
        "the answer says what the token carries, in the operator's names"
    );
    // What it may ask for is still its own scopes only.
    assert_eq!(
        ask(&app, NARROW_CALLER, BOB, &[DRIVE_SCOPE]).await.error(),
        "scope_not_allowed"
    );
    assert_nothing_leaked(&app, &[&browser], &[answer.access_token()]);
}

async fn with_narrowing_off_only_callers_allowed_the_whole_grant_get_a_token(backend: Backend) {
    let Some(app) = TestApp::try_spawn_with(TestOptions {
        backend,
        public_env: vec![("BROKER_NARROWS_SCOPES", "false".into())],
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, BOB).await;
    let calls = app.provider.token_endpoint_calls();
    let refused = ask(&app, NARROW_CALLER, BOB, &["email"]).await;
    assert_eq!(
        (refused.status, refused.error()),
        (403, "token_too_broad"),
        "{refused:?}"
    );
    assert!(refused.json.get("access_token").is_none());
    assert_eq!(extra_scopes(&refused), ["openid", "profile"]);

    let answer = ask(&app, BROKER_CALLER, BOB, &["email"]).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        app.provider.token_endpoint_calls(),
        calls,
        "the sign-in's token, not a narrowed one"
    );
    assert_eq!(reported(&answer), ["email", "openid", "profile"]);

    // Marked as accepting the whole grant, the narrow caller gets it; the
    // rules still hold for what it may ask.
    app.redeploy_public_service_with(&[("BROKER_WHOLE_GRANT_CALLERS", NARROW_CALLER)])
        .await;
    let marked = ask(&app, NARROW_CALLER, BOB, &["email"]).await;
    assert_eq!(marked.status, 200, "{marked:?}");
    assert_eq!(reported(&marked), ["email", "openid", "profile"]);
    assert_eq!(
        ask(&app, NARROW_CALLER, BOB, &["profile"]).await.error(),
        "scope_not_allowed"
    );
    assert_nothing_leaked(
        &app,
        &[&browser],
        &[answer.access_token(), marked.access_token()],
    );
}

on_both_backends!(
    a_caller_gets_only_the_scopes_listed_for_it,
    a_caller_with_a_user_filter_gets_no_token_for_anyone_else,
    a_user_removed_from_the_access_policy_gets_no_more_tokens,
    the_policy_is_checked_against_the_hosted_domain_the_user_signed_in_with,
    with_a_live_session_required_no_token_comes_after_sign_out_or_expiry,
    renewal_that_finds_the_user_denied_revokes_the_grant_too,
    a_provider_that_does_not_narrow_gives_a_narrow_caller_no_token,
    a_caller_marked_as_accepting_the_whole_grant_gets_the_broad_token,
    with_narrowing_off_only_callers_allowed_the_whole_grant_get_a_token,
);

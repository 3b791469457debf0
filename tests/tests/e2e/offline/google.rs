//! What Google does that a plain provider does not, through the mock's
//! Google dialect (the harness's default): scopes reported in their long
//! names, refresh tokens that die after seven days for an app in "testing"
//! status, revocation that ends the whole grant, no end-session endpoint.

use std::time::Duration;

use integration_tests::app::{CALENDAR_SCOPE, DRIVE_SCOPE};
use integration_tests::db::Backend;
use integration_tests::on_both_backends;
use integration_tests::{TestApp, TestOptions};
use mock_provider::google::{USERINFO_EMAIL, USERINFO_PROFILE};
use mock_provider::MockUser;

use super::{assert_nothing_leaked, signed_in};

const ALICE: &str = "alice@example.com";

async fn a_grant_google_reports_in_long_names_answers_the_brokers_short_ones(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    let grant = app
        .store()
        .await
        .grant(&MockUser::new(ALICE).sub)
        .await
        .unwrap()
        .unwrap();
    let mut stored = grant.scopes.clone();
    stored.sort();
    assert_eq!(
        stored,
        ["email", "openid", "profile"],
        "stored in one spelling, whatever Google reported"
    );

    // The README's request, and the same scopes in Google's spelling.
    for scopes in [
        vec!["email"],
        vec!["openid", "email", "profile"],
        vec![USERINFO_EMAIL, USERINFO_PROFILE],
    ] {
        let answer = app.broker_token_for(ALICE, &scopes).await;
        assert_eq!(answer.status, 200, "{scopes:?}: {answer:?}");
    }
    // Past expiry the refresh reports long names again: still the same grant.
    app.advance_time(Duration::from_secs(3600));
    let answer = app.broker_token_for(ALICE, &["email"]).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let scope = answer.json["scope"].as_str().unwrap();
    assert!(
        scope.split(' ').any(|s| s == "email") && !scope.contains("googleapis"),
        "the broker answers in the operator's names: {scope}"
    );
    assert_nothing_leaked(&app, &[&browser], &[answer.access_token()]);
}

/// An operator who writes Google's long name of a scope gets answers in it.
async fn the_broker_answers_in_the_names_the_operator_wrote(backend: Backend) {
    let Some(app) = TestApp::try_spawn_with(TestOptions {
        backend,
        oidc_scopes: USERINFO_EMAIL,
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    let names = |answer: &integration_tests::app::BrokerAnswer| {
        let mut names: Vec<String> = answer.json["scope"]
            .as_str()
            .unwrap()
            .split(' ')
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    };
    // From the sign-in's token, then from a refresh (Google reports both in
    // its long names; the grant stores the short ones).
    for advance in [0, 3600] {
        app.advance_time(Duration::from_secs(advance));
        for scopes in [vec!["email"], vec![USERINFO_EMAIL]] {
            let answer = app.broker_token_for(ALICE, &scopes).await;
            assert_eq!(answer.status, 200, "{scopes:?}: {answer:?}");
            // Narrowed to the scope asked for, named as the operator wrote it.
            assert_eq!(
                names(&answer),
                ["https://www.googleapis.com/auth/userinfo.email"],
                "{advance}s, {scopes:?}"
            );
        }
    }
}

async fn the_login_url_of_consent_required_is_accepted_by_login(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    app.provider.revoke_all_grants_of(ALICE);
    app.advance_time(Duration::from_secs(3600));

    for (scopes, expected_scope) in [
        (vec!["email"], None),
        (vec![USERINFO_EMAIL, DRIVE_SCOPE], Some(DRIVE_SCOPE)),
    ] {
        let answer = app.broker_token_for(ALICE, &scopes).await;
        assert_eq!(answer.error(), "consent_required", "{answer:?}");
        let login_url = url::Url::parse(answer.json["login_url"].as_str().unwrap()).unwrap();
        let scope = login_url
            .query_pairs()
            .find(|(k, _)| k == "scope")
            .map(|(_, v)| v.into_owned());
        assert_eq!(scope.as_deref(), expected_scope, "{login_url}");
        let login = browser.get(login_url.as_str()).await;
        assert_eq!(login.status, 302, "{scopes:?}: {}", login.body);
        let to_provider = login.location().unwrap();
        assert_eq!(to_provider.path(), "/o/oauth2/v2/auth");
    }

    // Following the link signs the user in again with consent and a new grant.
    let answer = app.broker_token_for(ALICE, &["email"]).await;
    let hops = browser
        .navigate(answer.json["login_url"].as_str().unwrap())
        .await;
    assert_eq!(hops.last().unwrap().status, 200);
    assert_eq!(app.broker_token_for(ALICE, &["email"]).await.status, 200);
}

/// `include_granted_scopes=true`: a sign-in that asks only for a new scope
/// gets a grant (and a refresh token) that still carries the earlier ones.
async fn a_later_incremental_scope_keeps_the_earlier_ones(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    for (scope, sign_in) in [(DRIVE_SCOPE, 2), (CALENDAR_SCOPE, 3)] {
        let needs = app.broker_token_for(ALICE, &[scope]).await;
        assert_eq!(needs.error(), "consent_required", "{needs:?}");
        let hops = browser
            .navigate(needs.json["login_url"].as_str().unwrap())
            .await;
        assert_eq!(hops.last().unwrap().status, 200);
        assert_eq!(app.provider.consent_prompts(), sign_in);
    }
    // The last authorization asked for Calendar and not for Drive...
    let request = app.provider.authorization_requests().pop().unwrap();
    let asked: Vec<&str> = request["scope"].split(' ').collect();
    assert!(asked.contains(&CALENDAR_SCOPE), "{asked:?}");
    assert!(!asked.contains(&DRIVE_SCOPE), "{asked:?}");
    assert_eq!(
        request.get("include_granted_scopes").map(String::as_str),
        Some("true")
    );
    // ...and its consent brought a new refresh token, which replaced the one
    // the Drive consent brought: the grant carries Drive because Google
    // merged it in, not because the old token's scopes were kept.
    let grant = app
        .store()
        .await
        .grant(&MockUser::new(ALICE).sub)
        .await
        .unwrap()
        .unwrap();
    assert!(
        grant.scopes.iter().any(|s| s == DRIVE_SCOPE),
        "{:?}",
        grant.scopes
    );
    assert!(
        grant.scopes.iter().any(|s| s == CALENDAR_SCOPE),
        "{:?}",
        grant.scopes
    );
    let answer = app
        .broker_token_for(ALICE, &[DRIVE_SCOPE, CALENDAR_SCOPE, "email"])
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    // Past expiry, a refresh with the newest refresh token still carries all.
    let calls = app.provider.token_endpoint_calls();
    app.advance_time(Duration::from_secs(3600));
    let answer = app
        .broker_token_for(ALICE, &[DRIVE_SCOPE, CALENDAR_SCOPE, "email"])
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(app.provider.token_endpoint_calls(), calls + 1);
    let scope = answer.json["scope"].as_str().unwrap();
    assert!(
        scope.contains(DRIVE_SCOPE) && scope.contains(CALENDAR_SCOPE),
        "{scope}"
    );
    assert_nothing_leaked(&app, &[&browser], &[answer.access_token()]);
}

async fn an_apps_testing_status_ends_its_refresh_tokens_after_seven_days(backend: Backend) {
    let Some(app) = TestApp::try_spawn_with(TestOptions {
        backend,
        renewal_checks_grant: true,
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    app.provider.set_testing_app(true);
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;

    app.advance_time(Duration::from_secs(6 * 86_400));
    let answer = app.broker_token_for(ALICE, &[]).await;
    assert_eq!(answer.status, 200, "six days: {answer:?}");

    app.advance_time(Duration::from_secs(86_400));
    let answer = app.broker_token_for(ALICE, &[]).await;
    assert_eq!(answer.error(), "consent_required", "seven days: {answer:?}");
    let grant = app
        .store()
        .await
        .grant(&MockUser::new(ALICE).sub)
        .await
        .unwrap()
        .unwrap();
    assert!(
        grant.revoked_at.is_some(),
        "invalid_grant revoked the grant"
    );

    // The next renewal goes back to Google with the consent screen, which
    // gives a new refresh token.
    let prompts = app.provider.consent_prompts();
    let hops = browser.navigate(&app.app("/")).await;
    assert_eq!(hops.last().unwrap().status, 200);
    assert!(app.provider.consent_prompts() > prompts);
    assert_eq!(app.broker_token_for(ALICE, &[]).await.status, 200);
}

async fn sign_out_revokes_at_google_and_skips_the_end_session_it_lacks(backend: Backend) {
    let Some(app) = TestApp::try_spawn_with(TestOptions {
        backend,
        sign_out_revokes_grant: true,
        sign_out_at_provider: true,
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    let refresh_token = app.provider.live_refresh_tokens_of(ALICE).pop().unwrap();

    let out = browser
        .post_form(
            &app.auth("/logout"),
            &[],
            &[("origin", &app.app_audience())],
        )
        .await;
    assert_eq!(out.status, 200);
    let next = out.refresh_target().unwrap();
    assert_ne!(next.path(), "/logout", "Google has no end-session endpoint");
    let hops = browser.navigate(next.as_str()).await;
    assert_eq!(hops.last().unwrap().url.path(), "/signed-out");
    assert!(app.provider.revoked_tokens().contains(&refresh_token));
    assert!(app.provider.live_refresh_tokens_of(ALICE).is_empty());

    // Revoked at Google, the grant is gone: the next sign-in shows the
    // consent screen and brings a new refresh token.
    let prompts = app.provider.consent_prompts();
    signed_in(&app, &app.browser(), ALICE).await;
    assert_eq!(app.provider.consent_prompts(), prompts + 1);
    assert_eq!(app.provider.live_refresh_tokens_of(ALICE).len(), 1);
    assert_nothing_leaked(&app, &[&browser], &[&refresh_token]);
}

/// The user removed the app's access in their Google account before
/// signing out: Google answers the revocation `400 invalid_token`, which is
/// the outcome wanted, and sign-out completes as usual.
async fn sign_out_after_access_was_removed_at_google_still_signs_out(backend: Backend) {
    let Some(app) = TestApp::try_spawn_with(TestOptions {
        backend,
        sign_out_revokes_grant: true,
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    let refresh_token = app.provider.live_refresh_tokens_of(ALICE).pop().unwrap();
    app.provider.revoke_all_grants_of(ALICE);

    let out = browser
        .post_form(
            &app.auth("/logout"),
            &[],
            &[("origin", &app.app_audience())],
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(
        app.provider.revocation_answers(),
        [400],
        "the revocation was asked, and Google refused the dead token"
    );
    assert!(!app.provider.revoked_tokens().contains(&refresh_token));
    // Taken as done, not as a failed revocation. (No test in this binary
    // makes a revocation fail, so the shared log has no such line.)
    assert!(
        !integration_tests::logs::captured().contains("revocation at the provider failed"),
        "a dead token's 400 invalid_token was taken for a failure"
    );
    let hops = browser
        .navigate(out.refresh_target().unwrap().as_str())
        .await;
    let last = hops.last().unwrap();
    assert_eq!(last.url.path(), "/signed-out", "{}", last.url);
    assert_eq!(last.status, 200);
    assert!(browser.cookie("__Host-session").is_none());
    assert!(browser.cookie(&app.handoff_cookie()).is_none());
    let grant = app
        .store()
        .await
        .grant(&MockUser::new(ALICE).sub)
        .await
        .unwrap();
    assert!(
        grant.is_none_or(|g| g.revoked_at.is_some() && g.refresh_token.is_none()),
        "the grant is forgotten here too"
    );
    assert_eq!(
        app.broker_token_for(ALICE, &[]).await.error(),
        "consent_required"
    );
    assert_nothing_leaked(&app, &[&browser], &[&refresh_token]);
}

on_both_backends!(
    a_grant_google_reports_in_long_names_answers_the_brokers_short_ones,
    the_broker_answers_in_the_names_the_operator_wrote,
    the_login_url_of_consent_required_is_accepted_by_login,
    a_later_incremental_scope_keeps_the_earlier_ones,
    an_apps_testing_status_ends_its_refresh_tokens_after_seven_days,
    sign_out_revokes_at_google_and_skips_the_end_session_it_lacks,
    sign_out_after_access_was_removed_at_google_still_signs_out,
);

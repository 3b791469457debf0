//! Server-side sessions: silent renewal while they live, a new sign-in
//! after they end, and a sign-out that ends them for real.

use std::time::Duration;

use integration_tests::app::{
    TestOptions, APP_ACCOUNT, BROKER_CALLER, PARENT_DOMAIN, REVOCATION_POLL_INTERVAL,
};
use integration_tests::browser::{host_paths, Page};
use integration_tests::db::Backend;
use integration_tests::on_every_backend;
use integration_tests::{Browser, TestApp};
use mock_provider::MockUser;

use super::{assert_nothing_leaked, signed_in};

const ALICE: &str = "alice@example.com";
const SESSION: &str = "__Host-session";

/// What the browser does when the handoff cookie's `Max-Age` runs out.
fn expire_handoff_cookie(browser: &Browser) {
    let jar: Vec<_> = browser.cookies();
    browser.clear_cookies();
    for cookie in jar
        .into_iter()
        .filter(|c| !c.name.starts_with(handoff_guard::PARENT_DOMAIN_PREFIX))
    {
        browser.put_cookie(
            &cookie.name,
            &cookie.value,
            &cookie.domain,
            cookie.host_only,
        );
    }
}

fn went_to_provider(hops: &[Page]) -> bool {
    hops.iter().any(|p| p.url.path() == "/o/oauth2/v2/auth")
}

async fn renewal_after_the_handoff_expires_is_silent(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    let old_handoff = browser.cookie(&app.handoff_cookie()).unwrap().value;
    let old_sid = app.verified_sid(&old_handoff).await;

    // A day later (within the idle timeout) the handoff cookie is gone.
    app.advance_time(Duration::from_secs(86_400));
    expire_handoff_cookie(&browser);
    let calls = app.provider.token_endpoint_calls();
    let hops = browser.navigate(&app.app("/?tab=reports")).await;
    assert_eq!(
        host_paths(&hops),
        [
            "app.example.test/",
            "auth.example.test/renew",
            "app.example.test/"
        ]
    );
    let last = hops.last().unwrap();
    assert_eq!(last.status, 200);
    assert_eq!(last.url.query(), Some("tab=reports"));
    assert_eq!(
        app.provider.token_endpoint_calls(),
        calls,
        "no provider round trip"
    );
    assert_eq!(app.provider.authorization_requests().len(), 1);
    let renewed = browser.cookie(&app.handoff_cookie()).unwrap().value;
    assert_ne!(renewed, old_handoff);
    assert_eq!(app.verified_sid(&renewed).await, old_sid, "same session");

    // An API call without a token gets 401 JSON naming the login URL.
    expire_handoff_cookie(&browser);
    let api = browser.get_json(&app.app("/api/me")).await;
    assert_eq!(api.status, 401);
    let body: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert!(body["login_url"]
        .as_str()
        .unwrap()
        .starts_with(&app.auth("/login?")));
    assert_nothing_leaked(&app, &[&browser], &[&old_handoff, &renewed]);
}

async fn after_the_absolute_lifetime_a_new_sign_in_starts(backend: Backend) {
    let Some(app) = TestApp::try_spawn_with(TestOptions {
        backend,
        session_idle_timeout: Duration::from_secs(3600),
        session_max_lifetime: Duration::from_secs(4 * 3600),
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    let first_session = browser.cookie(SESSION).unwrap().value;

    // Active use keeps it alive past the idle timeout...
    for _ in 0..3 {
        app.advance_time(Duration::from_secs(50 * 60));
        expire_handoff_cookie(&browser);
        let hops = browser.navigate(&app.app("/")).await;
        assert!(!went_to_provider(&hops), "{:?}", host_paths(&hops));
        assert_eq!(hops.last().unwrap().status, 200);
    }
    // ...but not past the absolute lifetime (4 h; 2.5 h used so far).
    app.advance_time(Duration::from_secs(90 * 60 + 1));
    expire_handoff_cookie(&browser);
    let hops = browser.navigate(&app.app("/")).await;
    assert!(went_to_provider(&hops), "{:?}", host_paths(&hops));
    assert_eq!(hops.last().unwrap().status, 200);
    assert_ne!(
        browser.cookie(SESSION).unwrap().value,
        first_session,
        "a new session"
    );
    assert_nothing_leaked(&app, &[&browser], &[&first_session]);
}

async fn an_idle_session_ends(backend: Backend) {
    let Some(app) = TestApp::try_spawn_with(TestOptions {
        backend,
        session_idle_timeout: Duration::from_secs(3600),
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    app.advance_time(Duration::from_secs(3601));
    expire_handoff_cookie(&browser);
    let hops = browser.navigate(&app.app("/")).await;
    assert!(went_to_provider(&hops), "{:?}", host_paths(&hops));
}

async fn sign_out_ends_the_session_and_clears_the_cookies(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = app.browser();
    let page = signed_in(&app, &browser, ALICE).await.pop().unwrap();
    assert!(
        page.body
            .contains(&format!("action=\"{}\"", app.auth("/logout"))),
        "no sign-out button"
    );
    let session = browser.cookie(SESSION).unwrap().value;
    let handoff = browser.cookie(&app.handoff_cookie()).unwrap().value;
    let sid = app.verified_sid(&handoff).await;
    let copy = app.browser();
    copy.put_cookie(&app.handoff_cookie(), &handoff, PARENT_DOMAIN, false);
    assert_eq!(copy.get_json(&app.app("/api/me")).await.status, 200);

    let out = browser
        .post_form(
            &app.auth("/logout"),
            &[("return_to", app.app_url.as_str())],
            &[("origin", &app.app_audience())],
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    for name in [SESSION, app.handoff_cookie().as_str()] {
        let removal = out
            .set_cookie(name)
            .unwrap_or_else(|| panic!("{name} not cleared"));
        assert_eq!(removal.value(), "");
        assert_eq!(
            removal.max_age(),
            Some(actix_web::cookie::time::Duration::ZERO)
        );
    }
    assert_eq!(
        out.set_cookie(&app.handoff_cookie()).unwrap().domain(),
        Some(PARENT_DOMAIN)
    );
    assert!(browser.cookie(SESSION).is_none() && browser.cookie(&app.handoff_cookie()).is_none());
    let signed_out = browser.navigate(out.next_url().unwrap().as_str()).await;
    assert!(signed_out
        .last()
        .unwrap()
        .body
        .contains("You are signed out"));
    let record = app.store().await.session(&sid).await.unwrap().unwrap();
    assert!(record.revoked_at.is_some());

    // A copy of the handoff token, still unexpired, stops working once the
    // app has polled the revocation (every second here).
    let mut refused = false;
    for _ in 0..(3 * REVOCATION_POLL_INTERVAL.as_millis() / 100) {
        if copy.get_json(&app.app("/api/me")).await.status == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        refused,
        "a signed-out session's handoff token is still accepted"
    );
    let page = copy.get(&app.app("/")).await;
    assert_eq!(page.location().unwrap().path(), "/renew");

    // The old session cookie no longer renews: a sign-in starts instead.
    let thief = app.browser();
    thief.put_cookie(SESSION, &session, "auth.example.test", true);
    let renew = thief
        .get(&app.auth(&format!("/renew?return_to={}", app.app_url)))
        .await;
    assert_eq!(renew.status, 302);
    assert_eq!(renew.location().unwrap().path(), "/o/oauth2/v2/auth");
    assert!(renew.set_cookie(&app.handoff_cookie()).is_none());

    // The old handoff token, once expired at the browser, leads to renewal,
    // which refuses it and starts a sign-in.
    thief.put_cookie(&app.handoff_cookie(), &handoff, PARENT_DOMAIN, false);
    let mut expired = app.claims_for(ALICE);
    expired.sid = sid.as_str().into();
    expired.exp = expired.iat - 120;
    thief.put_cookie(
        &app.handoff_cookie(),
        &app.sign(&expired),
        PARENT_DOMAIN,
        false,
    );
    let hops = thief.navigate(&app.app("/")).await;
    assert!(went_to_provider(&hops), "{:?}", host_paths(&hops));
    assert_nothing_leaked(&app, &[&browser, &thief, &copy], &[&session, &handoff]);
}

async fn sign_out_refuses_cross_site_posts(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;
    let sid = app
        .verified_sid(&browser.cookie(&app.handoff_cookie()).unwrap().value)
        .await;

    for headers in [
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
        vec![("referer", "https://evil.example/page")],
        vec![],
    ] {
        let page = browser.post_form(&app.auth("/logout"), &[], &headers).await;
        assert_eq!(page.status, 403, "{headers:?}");
        assert!(page.set_cookie(SESSION).is_none());
    }
    let record = app.store().await.session(&sid).await.unwrap().unwrap();
    assert!(
        record.revoked_at.is_none(),
        "a forged sign-out ended the session"
    );

    // A plain link shows a confirmation form instead of signing out.
    let confirm = browser.get(&app.auth("/logout")).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("method=\"post\""));
    let same_site = browser
        .post_form(
            &app.auth("/logout"),
            &[],
            &[("origin", app.issuer().as_str())],
        )
        .await;
    assert_eq!(same_site.status, 200);
    assert!(same_site.refresh_target().is_some());
}

async fn sign_out_can_revoke_the_grant_and_end_the_provider_session(backend: Backend) {
    let Some(app) = TestApp::try_spawn_with(TestOptions {
        backend,
        sign_out_revokes_grant: true,
        sign_out_at_provider: true,
        // A provider with an end-session endpoint (Google has none).
        provider_dialect: mock_provider::Dialect::Generic,
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
    let to_provider = out.refresh_target().unwrap();
    assert_eq!(to_provider.path(), "/logout");
    let hops = browser.navigate(to_provider.as_str()).await;
    assert_eq!(hops.last().unwrap().url.path(), "/signed-out");
    assert!(app.provider.revoked_tokens().contains(&refresh_token));
    assert!(app.provider.live_refresh_tokens_of(ALICE).is_empty());
    let answer = app.broker_token_for(ALICE, &[]).await;
    assert_eq!(answer.error(), "consent_required");
    let grant = app
        .store()
        .await
        .grant(&MockUser::new(ALICE).sub)
        .await
        .unwrap()
        .unwrap();
    assert!(grant.revoked_at.is_some());
    assert_nothing_leaked(&app, &[&browser], &[&refresh_token]);
}

async fn with_grant_checks_a_renewal_after_revocation_at_the_provider_asks_for_consent(
    backend: Backend,
) {
    let Some(app) = TestApp::try_spawn_with(TestOptions {
        backend,
        renewal_checks_grant: true,
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    let browser = app.browser();
    signed_in(&app, &browser, ALICE).await;

    // While the grant refreshes, renewal stays silent (one refresh each).
    expire_handoff_cookie(&browser);
    let calls = app.provider.token_endpoint_calls();
    let hops = browser.navigate(&app.app("/")).await;
    assert!(!went_to_provider(&hops), "{:?}", host_paths(&hops));
    assert_eq!(app.provider.token_endpoint_calls(), calls + 1);

    // The user removes the app's access at the provider.
    app.provider.revoke_all_grants_of(ALICE);
    expire_handoff_cookie(&browser);
    let hops = browser.navigate(&app.app("/")).await;
    assert!(went_to_provider(&hops), "{:?}", host_paths(&hops));
    let request = app.provider.authorization_requests().pop().unwrap();
    assert_eq!(request.get("prompt").map(String::as_str), Some("consent"));
    assert_eq!(hops.last().unwrap().status, 200);
    assert!(
        app.stored_refresh_token(ALICE).await.is_some(),
        "consent gave a new grant"
    );
    assert_nothing_leaked(&app, &[&browser], &[]);
}

async fn only_the_apps_service_accounts_may_list_revoked_sessions(backend: Backend) {
    let Some(app) = TestApp::try_spawn_on(backend).await else {
        return;
    };
    let url = format!("http://{}/sessions/revoked?since=0", app.auth_addr);
    let client = reqwest::Client::new();
    let status = |token: Option<String>| {
        let mut request = client.get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(None).await, 401);
    assert_eq!(status(Some(app.caller_token(BROKER_CALLER))).await, 403);
    let wrong_audience = app
        .provider
        .mint_service_account_token(APP_ACCOUNT, &app.app_audience());
    assert_eq!(status(Some(wrong_audience)).await, 401);
    assert_eq!(status(Some(app.caller_token(APP_ACCOUNT))).await, 200);
    let no_since = client
        .get(format!("http://{}/sessions/revoked", app.auth_addr))
        .bearer_auth(app.caller_token(APP_ACCOUNT))
        .send()
        .await
        .unwrap();
    assert_eq!(no_since.status(), 400);
}

on_every_backend!(
    only_the_apps_service_accounts_may_list_revoked_sessions,
    with_grant_checks_a_renewal_after_revocation_at_the_provider_asks_for_consent,
    renewal_after_the_handoff_expires_is_silent,
    after_the_absolute_lifetime_a_new_sign_in_starts,
    an_idle_session_ends,
    sign_out_ends_the_session_and_clears_the_cookies,
    sign_out_refuses_cross_site_posts,
    sign_out_can_revoke_the_grant_and_end_the_provider_session,
);

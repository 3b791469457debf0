//! The separate-sites delivery (default `*.run.app` URLs share no cookie):
//! one-time codes, several apps, renewal and sign-out across both services,
//! on both storage backends.

mod login_csrf;
mod nuisance_sign_out;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use handoff_guard::HOST_ONLY_NAME;
use integration_tests::app::{
    TestDelivery, TestOptions, APP_ACCOUNT, BROKER_CALLER, OTHER_APP_ACCOUNT,
    REVOCATION_POLL_INTERVAL,
};
use integration_tests::browser::host_paths;
use integration_tests::db::Backend;
use integration_tests::{logs, on_every_backend, Browser, Landing, SignIn, TestApp};
use serde_json::json;

const ALICE: &str = "alice@example.com";
/// The verifier [`fresh_code`]'s codes are bound to, as a browser keeps
/// its own in a cookie on the app; [`redeem`] sends it as the app would.
const VERIFIER: &str = "test-verifier_test-verifier_test-verifier_t";

async fn separate_sites(backend: Backend) -> Option<TestApp> {
    TestApp::try_spawn_with(TestOptions {
        backend,
        delivery: TestDelivery::Code,
        second_app: true,
        ..TestOptions::default()
    })
    .await
}

/// Alice signing in through the app in `browser`: it must land, the
/// token handed over with a code the app redeems.
fn alice_signing_in<'a>(app: &'a TestApp, browser: &Browser) -> SignIn<'a> {
    app.signing_in(ALICE)
        .in_browser(browser)
        .delivered_by(TestDelivery::Code)
        .landing(Landing::Ok)
}

async fn redeem(
    app: &TestApp,
    caller: Option<&str>,
    code: &str,
    audience: &str,
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{}/handoff/redeem", app.auth_addr))
        .json(&json!({ "code": code, "audience": audience, "verifier": VERIFIER }));
    if let Some(token) = caller {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// A fresh, unredeemed code for the app, as the public service issues it
/// on renewal (the browser stops before the app redeems it), bound to
/// [`VERIFIER`].
async fn fresh_code(app: &TestApp, browser: &Browser) -> String {
    let binding = URL_SAFE_NO_PAD.encode(handoff_guard::login_service::binding_hash(VERIFIER));
    let renew = browser
        .get(&app.auth(&format!(
            "/renew?return_to={}&binding={binding}",
            app.app_url
        )))
        .await;
    assert_eq!(renew.status, 302, "{}", renew.body);
    let location = renew.location().unwrap();
    assert_eq!(location.path(), "/auth/handoff");
    location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

async fn a_sign_in_lands_with_a_code_and_the_app_sets_its_own_cookie(backend: Backend) {
    let Some(app) = separate_sites(backend).await else {
        return;
    };
    let browser = app.browser();
    let signed_in = alice_signing_in(&app, &browser).run().await;
    let code = signed_in.handoff_code().unwrap();
    let hops = signed_in.hops;
    assert_eq!(
        host_paths(&hops),
        [
            "app.example.test/",
            "auth.example.test/renew",
            "127.0.0.1/o/oauth2/v2/auth",
            "auth.example.test/callback",
            "app.example.test/auth/handoff",
            "app.example.test/",
        ]
    );
    assert!(code.len() >= 43, "at least 256 bits: {code}");
    // No JWT in any URL, and the public service set no handoff cookie.
    for page in &hops {
        assert!(!page.url.as_str().contains("eyJ"), "a JWT in {}", page.url);
        if let Some(location) = page.header("location") {
            assert!(!location.contains("eyJ"), "a JWT in a redirect: {location}");
        }
        if page.url.host_str() == Some("auth.example.test") {
            assert!(page.raw_set_cookies.iter().all(|c| !c.contains("handoff")));
        }
    }
    let cookie = browser
        .cookie(HOST_ONLY_NAME)
        .expect("the app's own cookie");
    assert!(cookie.host_only && cookie.domain == "app.example.test");
    let set = hops[4].set_cookie(HOST_ONLY_NAME).unwrap();
    assert_eq!(set.http_only(), Some(true));
    assert_eq!(set.secure(), Some(true));
    assert_eq!(set.domain(), None);
    assert!(set.max_age().unwrap().whole_seconds() <= 600);
    let me = browser.get_json(&app.app("/api/me")).await;
    assert_eq!(me.status, 200);
    assert!(me.body.contains(ALICE));
    logs::assert_not_logged(&[&code, &cookie.value]);
    logs::assert_no_service_panics();
}

async fn a_code_is_single_use_short_lived_and_bound_to_its_app(backend: Backend) {
    let Some(app) = separate_sites(backend).await else {
        return;
    };
    let browser = app.browser();
    let used = alice_signing_in(&app, &browser)
        .run()
        .await
        .handoff_code()
        .unwrap();
    let app_token = app.caller_token(APP_ACCOUNT);
    let other_token = app.caller_token(OTHER_APP_ACCOUNT);

    // Replay: through the browser, and over the back channel.
    let replay = app.browser();
    let page = replay
        .get(&app.app(&format!("/auth/handoff?code={used}")))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.set_cookie(HOST_ONLY_NAME).is_none());
    assert_eq!(
        redeem(&app, Some(&app_token), &used, &app.app_audience())
            .await
            .0,
        400
    );

    // Another app cannot redeem it, neither as itself nor by claiming to be A.
    let code = fresh_code(&app, &browser).await;
    let (status, body) = redeem(&app, Some(&other_token), &code, &app.other_app_audience()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = redeem(&app, Some(&other_token), &code, &app.app_audience()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("caller_not_allowed"))
    );
    // ...and through its own handoff route.
    let page = app
        .browser()
        .get(&app.other_app(&format!("/auth/handoff?code={code}")))
        .await;
    assert_eq!(page.status, 400);
    // Those failures did not burn it for its own app.
    let (status, body) = redeem(&app, Some(&app_token), &code, &app.app_audience()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["handoff_token"].as_str().unwrap().starts_with("eyJ"));
    assert_eq!(body["return_to"], "/");

    // Expired: a minute and a bit later.
    let code = fresh_code(&app, &browser).await;
    app.advance_time(Duration::from_secs(61));
    assert_eq!(
        redeem(&app, Some(&app_token), &code, &app.app_audience())
            .await
            .0,
        400
    );
    logs::assert_not_logged(&[&used, &code]);
}

async fn redemption_needs_the_apps_own_credentials(backend: Backend) {
    let Some(app) = separate_sites(backend).await else {
        return;
    };
    let browser = app.browser();
    alice_signing_in(&app, &browser).run().await;
    let code = fresh_code(&app, &browser).await;
    let audience = app.app_audience();

    let (status, _) = redeem(&app, None, &code, &audience).await;
    assert_eq!(status, 401, "no credentials");
    let wrong_audience = app
        .provider
        .mint_service_account_token(APP_ACCOUNT, &audience);
    assert_eq!(
        redeem(&app, Some(&wrong_audience), &code, &audience)
            .await
            .0,
        401
    );
    let stranger = app.caller_token("intruder@project.iam.gserviceaccount.com");
    assert_eq!(redeem(&app, Some(&stranger), &code, &audience).await.0, 403);
    let broker_caller = app.caller_token(BROKER_CALLER);
    assert_eq!(
        redeem(&app, Some(&broker_caller), &code, &audience).await.0,
        403
    );
    // None of that used the code up.
    let (status, _) = redeem(&app, Some(&app.caller_token(APP_ACCOUNT)), &code, &audience).await;
    assert_eq!(status, 200);
}

async fn twenty_concurrent_redemptions_of_one_code_give_exactly_one_token(backend: Backend) {
    let Some(app) = separate_sites(backend).await else {
        return;
    };
    let browser = app.browser();
    alice_signing_in(&app, &browser).run().await;
    let code = fresh_code(&app, &browser).await;
    let token = app.caller_token(APP_ACCOUNT);
    let audience = app.app_audience();
    let answers = futures_util::future::join_all(
        (0..20).map(|_| redeem(&app, Some(&token), &code, &audience)),
    )
    .await;
    let ok = answers.iter().filter(|(status, _)| *status == 200).count();
    let refused = answers.iter().filter(|(status, _)| *status == 400).count();
    assert_eq!((ok, refused), (1, 19), "{answers:?}");
}

async fn a_handoff_token_for_one_app_is_refused_by_another(backend: Backend) {
    let Some(app) = separate_sites(backend).await else {
        return;
    };
    let browser = app.browser();
    alice_signing_in(&app, &browser).run().await;
    let token = browser.cookie(HOST_ONLY_NAME).unwrap().value;
    let other = app.browser();
    other.put_cookie(HOST_ONLY_NAME, &token, "reports.example.test", true);
    assert_eq!(other.get_json(&app.other_app("/api/me")).await.status, 401);

    // The second app gets a token of its own through the same session.
    let hops = browser.navigate(&app.other_app("/")).await;
    assert_eq!(hops.last().unwrap().status, 200, "{:?}", host_paths(&hops));
    assert!(
        !hops.iter().any(|p| p.url.path() == "/o/oauth2/v2/auth"),
        "no second trip to the provider: {:?}",
        host_paths(&hops)
    );
}

async fn renewal_and_sign_out_work_across_both_services(backend: Backend) {
    let Some(app) = separate_sites(backend).await else {
        return;
    };
    let browser = app.browser();
    alice_signing_in(&app, &browser).run().await;
    let old = browser.cookie(HOST_ONLY_NAME).unwrap().value;

    // The app's cookie expires: renewal is silent, through a new code.
    let session = browser.cookie("__Host-session").unwrap();
    browser.clear_cookies();
    browser.put_cookie(&session.name, &session.value, &session.domain, true);
    let calls = app.provider.token_endpoint_calls();
    let hops = browser.navigate(&app.app("/?tab=2")).await;
    assert_eq!(
        host_paths(&hops),
        [
            "app.example.test/",
            "auth.example.test/renew",
            "app.example.test/auth/handoff",
            "app.example.test/",
        ]
    );
    assert_eq!(hops.last().unwrap().url.query(), Some("tab=2"));
    assert_eq!(app.provider.token_endpoint_calls(), calls);
    let renewed = browser.cookie(HOST_ONLY_NAME).unwrap().value;
    assert_ne!(renewed, old);

    // Sign-out from the app's page. The public service's session cookie
    // does not travel with a form posted from another site, so the app
    // ends the session server to server with the token it holds, clears its
    // cookie, and a copy of that cookie dies within the poll delay.
    let page = browser.get(&app.app("/")).await;
    assert!(
        page.body.contains("action=\"/auth/logout\""),
        "the button posts to the app"
    );
    let copy = app.browser();
    copy.put_cookie(HOST_ONLY_NAME, &renewed, "app.example.test", true);
    let forged = browser
        .post_form(
            &app.app("/auth/logout"),
            &[],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(browser.cookie(HOST_ONLY_NAME).is_some());
    let out = browser
        .post_form(
            &app.app("/auth/logout"),
            &[],
            &[("origin", &app.app_audience())],
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out
        .set_cookie(HOST_ONLY_NAME)
        .is_some_and(|c| c.value().is_empty()));
    let hops = browser
        .navigate(out.refresh_target().unwrap().as_str())
        .await;
    assert_eq!(host_paths(&hops), ["auth.example.test/signed-out"]);
    assert!(hops[0].body.contains("You are signed out"));
    assert!(browser.cookie(HOST_ONLY_NAME).is_none());
    assert!(
        browser.cookie("__Host-session").is_none(),
        "the revoked session cookie is cleared"
    );
    let hops = browser.navigate(&app.app("/")).await;
    assert!(
        hops.iter().any(|p| p.url.path() == "/o/oauth2/v2/auth"),
        "{:?}",
        host_paths(&hops)
    );

    let mut refused = false;
    for _ in 0..(3 * REVOCATION_POLL_INTERVAL.as_millis() / 100) {
        if copy.get_json(&app.app("/api/me")).await.status == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the copied token outlived the sign-out");
    logs::assert_not_logged(&[&old, &renewed, &session.value]);
    logs::assert_no_service_panics();
}

async fn an_app_can_only_end_sessions_it_was_handed(backend: Backend) {
    let Some(app) = separate_sites(backend).await else {
        return;
    };
    let browser = app.browser();
    alice_signing_in(&app, &browser).run().await;
    let token = browser.cookie(HOST_ONLY_NAME).unwrap().value;
    let end = |caller: String, token: String| {
        let url = format!("http://{}/sessions/end", app.auth_addr);
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(caller)
                .json(&json!({ "handoff_token": token }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // The other app holds no token addressed to it.
    assert_eq!(
        end(app.caller_token(OTHER_APP_ACCOUNT), token.clone()).await,
        400
    );
    assert_eq!(
        end(app.caller_token(BROKER_CALLER), token.clone()).await,
        403
    );
    assert_eq!(
        end(app.caller_token(APP_ACCOUNT), "forged.token.value".into()).await,
        400
    );
    assert_eq!(
        browser.get_json(&app.app("/api/me")).await.status,
        200,
        "still signed in"
    );
    assert_eq!(end(app.caller_token(APP_ACCOUNT), token).await, 200);
}

use login_csrf::{
    a_binding_of_a_sign_in_left_unfinished_dies_with_its_verifier,
    a_binding_read_from_a_log_after_its_sign_in_signs_no_one_in,
    a_code_works_once_in_the_browser_that_asked_for_it,
    an_attackers_code_does_not_sign_a_victim_in,
    every_sign_in_has_a_binding_of_its_own_forgotten_once_redeemed,
    no_code_is_issued_without_a_binding, two_tabs_signing_in_at_once_both_complete,
};

on_every_backend!(
    an_attackers_code_does_not_sign_a_victim_in,
    a_code_works_once_in_the_browser_that_asked_for_it,
    no_code_is_issued_without_a_binding,
    every_sign_in_has_a_binding_of_its_own_forgotten_once_redeemed,
    a_binding_read_from_a_log_after_its_sign_in_signs_no_one_in,
    a_binding_of_a_sign_in_left_unfinished_dies_with_its_verifier,
    two_tabs_signing_in_at_once_both_complete,
    an_app_can_only_end_sessions_it_was_handed,
    a_sign_in_lands_with_a_code_and_the_app_sets_its_own_cookie,
    a_code_is_single_use_short_lived_and_bound_to_its_app,
    redemption_needs_the_apps_own_credentials,
    twenty_concurrent_redemptions_of_one_code_give_exactly_one_token,
    a_handoff_token_for_one_app_is_refused_by_another,
    renewal_and_sign_out_work_across_both_services,
);

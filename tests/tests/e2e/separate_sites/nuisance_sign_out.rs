//! Nuisance sign-out: a `GET` from any site must not
//! sign anyone out. The public service's `/signed-out` and the app's
//! `/auth/signed-out` are where a real sign-out lands, so they used to
//! clear the session (or handoff) cookie on every visit, while the session
//! itself stayed valid: any page could link there, or load them in an
//! image, and knock the user out of the app.
//!
//! Now `/signed-out` forgets only a session cookie whose session has
//! ended, and `/auth/signed-out` forgets the app's cookie only when the
//! public service confirms (over the back channel) that the token's
//! session has ended. Sign-out itself is the `POST` it always was.

use handoff_guard::HOST_ONLY_NAME;
use integration_tests::db::Backend;
use integration_tests::{logs, Browser, Landing, TestApp};

use integration_tests::browser::host_paths;

use super::{separate_sites, ALICE};

const SESSION: &str = "__Host-session";

/// What an attacker's page sends when it links (or embeds) a URL.
const CROSS_SITE: &[(&str, &str)] = &[
    ("accept", "text/html,application/xhtml+xml"),
    ("referer", "https://evil.example/"),
    ("sec-fetch-site", "cross-site"),
];

async fn signed_in(app: &TestApp) -> Browser {
    app.signing_in(ALICE)
        .landing(Landing::Ok)
        .run()
        .await
        .browser
}

fn clears(page: &integration_tests::browser::Page, name: &str) -> bool {
    page.set_cookie(name).is_some_and(|c| c.value().is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_get_of_signed_out_keeps_the_session() {
    let Some(app) = separate_sites(Backend::Sqlite).await else {
        return;
    };
    let browser = signed_in(&app).await;
    let session = browser.cookie(SESSION).unwrap().value;

    let page = browser.request(&app.auth("/signed-out"), CROSS_SITE).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        !clears(&page, SESSION),
        "a link from another site cleared a live session's cookie"
    );
    assert_eq!(browser.cookie(SESSION).map(|c| c.value), Some(session));
    let id = browser.cookie(SESSION).unwrap().value;
    let id = id.split('.').next().unwrap();
    let record = app.store().await.session(id).await.unwrap().unwrap();
    assert!(record.revoked_at.is_none());

    // The session still renews the app silently, without the provider.
    let kept: Vec<_> = browser
        .cookies()
        .into_iter()
        .filter(|c| c.name != HOST_ONLY_NAME)
        .collect();
    browser.clear_cookies();
    for c in kept {
        browser.put_cookie(&c.name, &c.value, &c.domain, c.host_only);
    }
    let calls = app.provider.token_endpoint_calls();
    let hops = browser.navigate(&app.app("/")).await;
    assert_eq!(
        host_paths(&hops),
        [
            "app.example.test/",
            "auth.example.test/renew",
            "app.example.test/auth/handoff",
            "app.example.test/",
        ]
    );
    assert_eq!(hops.last().unwrap().status, 200);
    assert_eq!(app.provider.token_endpoint_calls(), calls);
    logs::assert_no_service_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_get_of_the_apps_signed_out_keeps_the_apps_cookie() {
    let Some(app) = separate_sites(Backend::Sqlite).await else {
        return;
    };
    let browser = signed_in(&app).await;
    let token = browser.cookie(HOST_ONLY_NAME).unwrap().value;

    let page = browser
        .request(&app.app("/auth/signed-out"), CROSS_SITE)
        .await;
    assert!(
        !clears(&page, HOST_ONLY_NAME),
        "a link from another site cleared the app's cookie of a live session"
    );
    assert_eq!(
        browser.cookie(HOST_ONLY_NAME).map(|c| c.value),
        Some(token.clone())
    );
    assert_eq!(browser.get_json(&app.app("/api/me")).await.status, 200);
    let hops = browser.navigate(page.location().unwrap().as_str()).await;
    assert_eq!(host_paths(&hops), ["auth.example.test/signed-out"]);
    assert!(
        browser.cookie(SESSION).is_some(),
        "the session cookie stays"
    );
    assert_eq!(browser.get_json(&app.app("/api/me")).await.status, 200);
    logs::assert_not_logged(&[&token]);
    logs::assert_no_service_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_sign_out_at_the_public_service_still_clears_both_cookies() {
    let Some(app) = separate_sites(Backend::Sqlite).await else {
        return;
    };
    let browser = signed_in(&app).await;
    let auth_origin = app.auth_url.origin().ascii_serialization();
    let out = browser
        .post_form(
            &app.auth("/logout"),
            &[("return_to", app.app_url.as_str())],
            &[("origin", auth_origin.as_str())],
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(clears(&out, SESSION));
    let hops = browser.navigate(out.next_url().unwrap().as_str()).await;
    assert_eq!(
        host_paths(&hops),
        [
            "app.example.test/auth/signed-out",
            "auth.example.test/signed-out"
        ]
    );
    assert!(
        clears(&hops[0], HOST_ONLY_NAME),
        "the app forgot its cookie"
    );
    assert!(hops[1].body.contains("You are signed out"));
    assert!(browser.cookie(HOST_ONLY_NAME).is_none());
    assert!(browser.cookie(SESSION).is_none());
    logs::assert_no_service_panics();
}

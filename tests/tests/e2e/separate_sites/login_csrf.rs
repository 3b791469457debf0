//! Login CSRF through a handoff code (issue 15, item 1): a code works only
//! in the browser that asked for it.
//!
//! The attacker signs in with their own account, takes a code from their
//! own redirect without visiting it, and sends a victim's browser to the
//! app's `/auth/handoff?code=…`. Without the binding, the victim would be
//! signed in to the app as the attacker and their own cookie overwritten.

use handoff_guard::cookie::HOST_ONLY_NAME;
use integration_tests::browser::Page;
use integration_tests::db::Backend;
use integration_tests::{logs, Browser, TestApp};

use super::{separate_sites, ALICE};

const VICTIM: &str = "victim@corp.example";

/// A code the public service hands `browser` (signed in at the public
/// service, not at the app) on its way to the app, not yet redeemed: the
/// app's redirect to the public service, then the public service's
/// redirect to `/auth/handoff`, which is not followed.
async fn unredeemed_code(app: &TestApp, browser: &Browser) -> String {
    let gate = browser.get(&app.app("/")).await;
    assert_eq!(gate.status, 302, "{}", gate.body);
    let renew = browser.get(gate.location().unwrap().as_str()).await;
    assert_eq!(renew.status, 302, "{}", renew.body);
    let location = renew.location().unwrap();
    assert_eq!(location.path(), "/auth/handoff", "{location}");
    location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

/// Signed in at the public service and at the app, then the app's cookie
/// dropped (expired), the rest of the browser kept.
async fn signed_in_without_app_cookie(app: &TestApp, email: &str) -> Browser {
    let browser = app.browser();
    let hops = app.sign_in(&browser, email).await;
    assert_eq!(hops.last().unwrap().status, 200);
    let kept: Vec<_> = browser
        .cookies()
        .into_iter()
        .filter(|c| c.name != HOST_ONLY_NAME)
        .collect();
    browser.clear_cookies();
    for c in kept {
        browser.put_cookie(&c.name, &c.value, &c.domain, c.host_only);
    }
    browser
}

fn handoff_url(app: &TestApp, code: &str) -> String {
    app.app(&format!("/auth/handoff?code={code}"))
}

fn refused_without_a_cookie(page: &Page) {
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.raw_set_cookies.iter().all(|c| !c.contains("handoff=")),
        "a handoff cookie was set: {:?}",
        page.raw_set_cookies
    );
    assert!(
        page.body.contains("id=\"sign-in\""),
        "the page offers a way on: {}",
        page.body
    );
    assert!(page.location().is_none(), "no silent new sign-in");
}

pub async fn an_attackers_code_does_not_sign_a_victim_in(backend: Backend) {
    let Some(app) = separate_sites(backend).await else {
        return;
    };
    let victim = app.browser();
    let hops = app.sign_in(&victim, VICTIM).await;
    assert_eq!(hops.last().unwrap().status, 200);
    let victims_token = victim.cookie(HOST_ONLY_NAME).unwrap().value;

    let attacker = signed_in_without_app_cookie(&app, ALICE).await;
    let code = unredeemed_code(&app, &attacker).await;

    // The victim's browser (with a binding of its own) follows the link.
    let page = victim.get(&handoff_url(&app, &code)).await;
    refused_without_a_cookie(&page);
    assert_eq!(
        victim.cookie(HOST_ONLY_NAME).unwrap().value,
        victims_token,
        "the victim's own cookie is untouched"
    );
    let me = victim.get_json(&app.app("/api/me")).await;
    assert_eq!(me.status, 200);
    assert!(me.body.contains(VICTIM), "{}", me.body);

    // A browser with no binding at all.
    let code = unredeemed_code(&app, &attacker).await;
    let stranger = app.browser();
    refused_without_a_cookie(&stranger.get(&handoff_url(&app, &code)).await);
    logs::assert_not_logged(&[&code, &victims_token]);
}

pub async fn a_code_works_once_in_the_browser_that_asked_for_it(backend: Backend) {
    let Some(app) = separate_sites(backend).await else {
        return;
    };
    let browser = signed_in_without_app_cookie(&app, ALICE).await;
    let code = unredeemed_code(&app, &browser).await;
    let page = browser.get(&handoff_url(&app, &code)).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let token = page.set_cookie(HOST_ONLY_NAME).unwrap().value().to_owned();
    assert!(token.starts_with("eyJ"));

    // Replayed, even in the same browser.
    let replay = browser.get(&handoff_url(&app, &code)).await;
    refused_without_a_cookie(&replay);
    assert_eq!(browser.cookie(HOST_ONLY_NAME).unwrap().value, token);
}

pub async fn no_code_is_issued_without_a_binding(backend: Backend) {
    let Some(app) = separate_sites(backend).await else {
        return;
    };
    let attacker = signed_in_without_app_cookie(&app, ALICE).await;
    let return_to = urlencoding(&app.app("/?tab=2"));
    for route in ["/renew", "/login"] {
        let page = attacker
            .get(&app.auth(&format!("{route}?return_to={return_to}")))
            .await;
        assert_eq!(page.status, 302, "{route}: {}", page.body);
        let location = page.location().unwrap();
        assert!(
            location.query_pairs().all(|(k, _)| k != "code"),
            "{route} issued an unbound code: {location}"
        );
        // The browser is sent to the app first, to be given a binding there.
        assert_eq!(
            location.origin().ascii_serialization(),
            app.app_audience(),
            "{route}: {location}"
        );
        assert_eq!(location.path(), "/auth/start", "{route}: {location}");
        // ...and from there back, bound, and on to the app's page.
        let hops = attacker.navigate(location.as_str()).await;
        let last = hops.last().unwrap();
        assert_eq!(last.status, 200, "{route}: {}", last.body);
        assert_eq!(last.url.path(), "/");
        assert_eq!(last.url.query(), Some("tab=2"));
    }
    // A binding that is not one (not a SHA-256 in base64url) is refused.
    let page = attacker
        .get(&app.auth(&format!("/renew?return_to={return_to}&binding=short")))
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

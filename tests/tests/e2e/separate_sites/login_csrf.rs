//! Login CSRF through a handoff code: a code works only
//! in the browser that asked for it.
//!
//! The attacker signs in with their own account, takes a code from their
//! own redirect without visiting it, and sends a victim's browser to the
//! app's `/auth/handoff?code=…`. Without the binding, the victim would be
//! signed in to the app as the attacker and their own cookie overwritten.
//!
//! The same through a binding read from a log: the binding travels in the
//! URL of `/login` or `/renew`, which Cloud Run's request log keeps whole.
//! An attacker who reads it there asks for a code of their own session
//! bound to it. When a browser kept one verifier for every sign-in (re-armed
//! on every redirect), that code signed the victim in as the attacker for
//! as long as the browser stayed active; now each sign-in has its own
//! verifier, forgotten at its redemption and dead after one sign-in's time.

use std::time::Duration;

use handoff_guard::login_service::{BINDING_PARAM, VERIFIER_COOKIE, VERIFIER_LIFETIME};
use handoff_guard::HOST_ONLY_NAME;
use integration_tests::browser::Page;
use integration_tests::db::Backend;
use integration_tests::{logs, Browser, Landing, TestApp};
use mock_provider::MockUser;

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
    let browser = app
        .signing_in(email)
        .landing(Landing::Ok)
        .run()
        .await
        .browser;
    drop_app_cookie(&browser);
    browser
}

/// The app's handoff cookie expires; the browser keeps everything else.
fn drop_app_cookie(browser: &Browser) {
    let kept: Vec<_> = browser
        .cookies()
        .into_iter()
        .filter(|c| c.name != HOST_ONLY_NAME)
        .collect();
    browser.clear_cookies();
    for c in kept {
        browser.put_cookie(&c.name, &c.value, &c.domain, c.host_only);
    }
}

/// The binding a browser took to the public service on its way to sign
/// in: what a request log keeps of the URL of `/renew` (or `/login`).
fn binding_in(hops: &[Page]) -> String {
    hops.iter()
        .filter(|p| matches!(p.url.path(), "/renew" | "/login"))
        .find_map(|p| p.url.query_pairs().find(|(k, _)| k == BINDING_PARAM))
        .map(|(_, v)| v.into_owned())
        .expect("the browser went to sign in with a binding")
}

/// A code of `attacker`'s own session (signed in at the public service)
/// bound to `binding`, as the public service mints it on `/renew`.
async fn code_bound_to(app: &TestApp, attacker: &Browser, binding: &str) -> String {
    let renew = attacker
        .get(&app.auth(&format!(
            "/renew?return_to={}&{BINDING_PARAM}={binding}",
            urlencoding(&app.app("/"))
        )))
        .await;
    assert_eq!(renew.status, 302, "{}", renew.body);
    let location = renew.location().unwrap();
    assert_eq!(location.path(), "/auth/handoff", "{location}");
    location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap()
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

pub async fn every_sign_in_has_a_binding_of_its_own_forgotten_once_redeemed(backend: Backend) {
    let Some(app) = separate_sites(backend).await else {
        return;
    };
    let browser = app.browser();
    let hops = app.sign_in(&browser, ALICE).await;
    assert_eq!(hops.last().unwrap().status, 200);
    let first = binding_in(&hops);
    assert!(
        browser.cookie(VERIFIER_COOKIE).is_none(),
        "the verifier outlived its redemption"
    );

    // The app's cookie expires: the renewal is another sign-in, bound anew.
    drop_app_cookie(&browser);
    let hops = browser.navigate(&app.app("/")).await;
    let last = hops.last().unwrap();
    assert_eq!(last.status, 200, "{}", last.body);
    assert!(last.body.contains(ALICE));
    let second = binding_in(&hops);
    assert_ne!(first, second, "two sign-ins with one binding");
    assert!(browser.cookie(VERIFIER_COOKIE).is_none());
    logs::assert_not_logged(&[&first, &second]);
}

pub async fn a_binding_read_from_a_log_after_its_sign_in_signs_no_one_in(backend: Backend) {
    let Some(app) = separate_sites(backend).await else {
        return;
    };
    let victim = app.browser();
    let hops = app.sign_in(&victim, VICTIM).await;
    assert_eq!(hops.last().unwrap().status, 200);
    let logged = binding_in(&hops);
    let victims_token = victim.cookie(HOST_ONLY_NAME).unwrap().value;

    // Signed in as themselves, the attacker has a code of their own bound
    // to the victim's binding, and lures the victim's browser to it.
    let attacker = signed_in_without_app_cookie(&app, ALICE).await;
    let code = code_bound_to(&app, &attacker, &logged).await;
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

    // Still so when the victim's app cookie has expired and a renewal is
    // under way with a binding of its own.
    drop_app_cookie(&victim);
    let gate = victim.get(&app.app("/")).await;
    assert_eq!(gate.status, 302, "{}", gate.body);
    let code = code_bound_to(&app, &attacker, &logged).await;
    refused_without_a_cookie(&victim.get(&handoff_url(&app, &code)).await);
    assert!(victim.cookie(HOST_ONLY_NAME).is_none());
    logs::assert_not_logged(&[&code, &victims_token]);
}

pub async fn a_binding_of_a_sign_in_left_unfinished_dies_with_its_verifier(backend: Backend) {
    let Some(app) = separate_sites(backend).await else {
        return;
    };
    // The victim is sent to sign in and gives up at the provider's page;
    // the URL with its binding is in the log.
    let victim = app.browser();
    let gate = victim.get(&app.app("/")).await;
    assert_eq!(gate.status, 302, "{}", gate.body);
    let renew = victim.get(gate.location().unwrap().as_str()).await;
    assert_eq!(renew.location().unwrap().path(), "/o/oauth2/v2/auth");
    let logged = binding_in(std::slice::from_ref(&renew));

    // Later than any sign-in can take, the attacker uses it (within the 15
    // minutes a browser's one verifier used to be kept).
    let later = Duration::from_secs(12 * 60);
    assert!(later > VERIFIER_LIFETIME);
    app.advance_time(later);
    let attacker = signed_in_without_app_cookie(&app, ALICE).await;
    let code = code_bound_to(&app, &attacker, &logged).await;
    refused_without_a_cookie(&victim.get(&handoff_url(&app, &code)).await);
    assert!(
        victim.cookie(HOST_ONLY_NAME).is_none(),
        "signed in as the attacker"
    );

    // The victim's own sign-in is not hindered.
    let hops = app.sign_in(&victim, VICTIM).await;
    let last = hops.last().unwrap();
    assert_eq!(last.status, 200, "{}", last.body);
    assert!(last.body.contains(VICTIM));
}

pub async fn two_tabs_signing_in_at_once_both_complete(backend: Backend) {
    let Some(app) = separate_sites(backend).await else {
        return;
    };
    let browser = app.browser();
    app.provider.set_user(MockUser::new(ALICE));
    // Each tab gets as far as the provider's answer, not yet followed.
    let mut callbacks = Vec::new();
    for tab in ["/?tab=1", "/?tab=2"] {
        let gate = browser.get(&app.app(tab)).await;
        assert_eq!(gate.status, 302, "{}", gate.body);
        let renew = browser.get(gate.location().unwrap().as_str()).await;
        assert_eq!(renew.status, 302, "{}", renew.body);
        let authorize = browser.get(renew.location().unwrap().as_str()).await;
        assert!(authorize.is_redirect(), "{}", authorize.body);
        callbacks.push((authorize.location().unwrap().to_string(), &tab[2..]));
    }
    // The second tab finishes first, then the first.
    for (callback, tab) in callbacks.into_iter().rev() {
        let hops = browser.navigate(&callback).await;
        let last = hops.last().unwrap();
        assert_eq!(last.status, 200, "{tab}: {}", last.body);
        assert_eq!(last.url.host_str(), Some("app.example.test"));
        assert_eq!(last.url.query(), Some(tab));
        assert!(last.body.contains(ALICE));
    }
    assert!(browser.cookie(VERIFIER_COOKIE).is_none());
}

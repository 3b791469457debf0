//! A cookie is ours only under its exact name. A browser holds a cookie to
//! the `__Host-` rules only when its name starts with exactly those bytes,
//! so a sibling host on a shared parent domain can set `__%48ost-session`
//! or `\u{2000}__Host-handoff` with `Domain=` the parent. A reader that
//! percent-decoded or trimmed names took those for our host-only cookies:
//! the attacker's session renewed into the victim's browser (session
//! fixation), the attacker's login transaction finished there, and the
//! attacker's handoff token was the app's own.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use integration_tests::app::{TestDelivery, TestOptions};
use integration_tests::browser::{Browser, Page};
use integration_tests::TestApp;

const MALLORY: &str = "alice@example.com";
const VERIFIER: &str = "dGhpcy1pcy1hLXRlc3QtdmVyaWZpZXItb2YtNDMtY2g";

/// Names a sibling host can set that a loose reader took for `name`.
fn look_alikes(name: &str) -> Vec<String> {
    let rest = name.strip_prefix("__Host-").expect("a __Host- name");
    vec![
        format!("__%48ost-{rest}"),
        format!("__%48%6Fst-{rest}"),
        format!("%5F%5FHost-{rest}"),
        format!("\u{2000}__Host-{rest}"),
        format!("__Host-{rest}\u{00a0}"),
        format!("__host-{rest}"),
        format!("__Host-{rest} "),
    ]
}

async fn spawn(delivery: TestDelivery) -> TestApp {
    TestApp::spawn_with(TestOptions {
        delivery,
        ..TestOptions::default()
    })
    .await
}

/// `path?return_to=<app>` with the binding code delivery asks for.
fn with_return_to(app: &TestApp, path: &str, delivery: TestDelivery) -> String {
    let mut url = app.auth(&format!("{path}?return_to={}", app.app_url));
    if matches!(delivery, TestDelivery::Code) {
        let binding = URL_SAFE_NO_PAD.encode(handoff_guard::login_service::binding_hash(VERIFIER));
        url.push_str(&format!("&binding={binding}"));
    }
    url
}

/// Whether `page` hands a browser a token of the app: a one-time code on
/// the way to the app, or the handoff cookie itself.
fn hands_off(app: &TestApp, page: &Page) -> bool {
    let to_handoff = page
        .location()
        .is_some_and(|l| l.path() == "/auth/handoff" && l.query().unwrap_or("").contains("code="));
    let cookie = page
        .set_cookies
        .iter()
        .any(|c| c.name() == app.handoff_cookie() && !c.value().is_empty());
    to_handoff || cookie
}

async fn session_under(app: &TestApp, delivery: TestDelivery, name: &str, session: &str) -> Page {
    app.browser()
        .request(
            &with_return_to(app, "/renew", delivery),
            &[
                ("accept", "text/html"),
                ("cookie", &format!("{name}={session}")),
            ],
        )
        .await
}

async fn a_session_cookie_is_renewed_only_under_its_exact_name(delivery: TestDelivery) {
    let app = spawn(delivery).await;
    let attacker = app.browser();
    let hops = app.sign_in(&attacker, MALLORY).await;
    assert_eq!(hops.last().unwrap().status, 200);
    let session = attacker.cookie("__Host-session").expect("signed in").value;

    let own = session_under(&app, delivery, "__Host-session", &session).await;
    assert!(hands_off(&app, &own), "the control did not renew: {own:?}");

    for name in look_alikes("__Host-session") {
        let planted = session_under(&app, delivery, &name, &session).await;
        assert_eq!(planted.status, 302, "{name:?}: {}", planted.body);
        assert!(
            !hands_off(&app, &planted),
            "{name:?} renewed the attacker's session: {planted:?}"
        );
        // A fresh sign-in at the provider instead.
        assert_eq!(
            planted.location().unwrap().path(),
            "/o/oauth2/v2/auth",
            "{name:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cookie_is_renewed_only_under_its_exact_name_with_cookie_delivery() {
    a_session_cookie_is_renewed_only_under_its_exact_name(TestDelivery::SharedCookie).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cookie_is_renewed_only_under_its_exact_name_with_code_delivery() {
    a_session_cookie_is_renewed_only_under_its_exact_name(TestDelivery::Code).await;
}

/// The attacker starts a sign-in of their own and stops at the provider's
/// redirect back: the callback URL and the sealed transaction cookie.
async fn attackers_transaction(app: &TestApp, delivery: TestDelivery) -> (String, String, String) {
    let attacker = app.browser();
    let callback = app
        .signing_in(MALLORY)
        .in_browser(&attacker)
        .starting_at(with_return_to(app, "/login", delivery))
        .callback_url()
        .await;
    let transaction = attacker
        .cookies()
        .into_iter()
        .find(|c| c.name.starts_with("__Host-login-"))
        .expect("a login transaction cookie");
    (callback, transaction.name, transaction.value)
}

async fn a_login_transaction_finishes_only_under_its_exact_name(delivery: TestDelivery) {
    let app = spawn(delivery).await;
    // Signed in once, so a later callback needs no second pass for consent.
    let hops = app.sign_in(&app.browser(), MALLORY).await;
    assert_eq!(hops.last().unwrap().status, 200);
    for look_alike in 0..look_alikes("__Host-login-x").len() {
        let (callback, name, sealed) = attackers_transaction(&app, delivery).await;
        let name = look_alikes(&name).swap_remove(look_alike);
        let victim: Browser = app.browser();
        let page = victim
            .request(
                &callback,
                &[
                    ("accept", "text/html"),
                    ("cookie", &format!("{name}={sealed}")),
                ],
            )
            .await;
        assert!(
            page.set_cookies
                .iter()
                .all(|c| c.name() != "__Host-session"),
            "{name:?} finished the attacker's sign-in: {page:?}"
        );
        assert!(!hands_off(&app, &page), "{name:?}: {page:?}");
        assert_eq!(page.status, 400, "{name:?}: {}", page.body);
    }
    // The control: under its own name the same kind of cookie finishes.
    let (callback, name, sealed) = attackers_transaction(&app, delivery).await;
    let page = app
        .browser()
        .request(
            &callback,
            &[
                ("accept", "text/html"),
                ("cookie", &format!("{name}={sealed}")),
            ],
        )
        .await;
    assert!(
        page.set_cookies
            .iter()
            .any(|c| c.name() == "__Host-session"),
        "the control did not sign in: {page:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_transaction_finishes_only_under_its_exact_name_with_cookie_delivery() {
    a_login_transaction_finishes_only_under_its_exact_name(TestDelivery::SharedCookie).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_transaction_finishes_only_under_its_exact_name_with_code_delivery() {
    a_login_transaction_finishes_only_under_its_exact_name(TestDelivery::Code).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_takes_its_handoff_cookie_only_under_its_exact_name() {
    let app = spawn(TestDelivery::Code).await;
    let token = app.sign(&app.claims_for(MALLORY));
    let me = |cookie: String| {
        let browser = app.browser();
        let url = app.app("/api/me");
        async move {
            browser
                .request(&url, &[("accept", "application/json"), ("cookie", &cookie)])
                .await
        }
    };
    assert_eq!(me(format!("__Host-handoff={token}")).await.status, 200);
    for name in look_alikes("__Host-handoff") {
        let page = me(format!("{name}={token}")).await;
        assert_eq!(page.status, 401, "{name:?}: {}", page.body);
    }
    // Two copies of the name: one was planted by another host; neither counts.
    let page = me(format!("__Host-handoff={token}; __Host-handoff={token}")).await;
    assert_eq!(page.status, 401, "{}", page.body);
}

//! A page cannot lock a browser out of signing in by starting sign-ins.
//!
//! Every `GET /login` leaves a login-transaction cookie of up to about
//! 1 KB (with a long `return_to`), and any page can send the browser there
//! again and again within the sign-in rate limit. Kept without a bound,
//! some twenty of them pushed the browser's `Cookie` header past the
//! public service's 16 KiB header limit: every later request of that
//! browser to the public service, renewal and a fresh sign-in included,
//! got `431` until the cookies expired.

use integration_tests::app::TestOptions;
use integration_tests::{logs, Browser, TestApp};
use url::Url;

const ALICE: &str = "alice@example.com";
/// Twice what used to lock a browser out.
const NAVIGATIONS: usize = 40;

/// A page on the app with the longest `return_to` the public service takes.
fn long_return_to(app: &TestApp) -> String {
    let base = app.app("/reports/");
    let path = "p".repeat(public_service::apps::MAX_RETURN_TO_LEN - base.len());
    url::form_urlencoded::byte_serialize(format!("{base}{path}").as_bytes()).collect()
}

fn auth_cookie_bytes(app: &TestApp, browser: &Browser) -> usize {
    let url = Url::parse(&app.auth("/login")).unwrap();
    browser.cookie_header(&url).map_or(0, |h| h.len())
}

fn login_cookies(browser: &Browser) -> usize {
    browser
        .cookies()
        .iter()
        .filter(|c| c.name.starts_with("__Host-login-"))
        .count()
}

/// Signs in through the app, from its front page to the signed-in page.
async fn signs_in(app: &TestApp, browser: &Browser) {
    let hops = app.sign_in(browser, ALICE).await;
    let last = hops.last().unwrap();
    assert_eq!(
        (last.status.as_u16(), last.url.host_str()),
        (200, Some("app.example.test")),
        "{:?}\n{}",
        hops.iter()
            .map(|p| format!("{} {}", p.status, p.url))
            .collect::<Vec<_>>(),
        last.body
    );
    assert!(last.body.contains(ALICE), "{}", last.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_started_by_another_page_do_not_lock_the_browser_out() {
    let app = TestApp::spawn_with(TestOptions {
        sign_in_rate_per_minute: 6000,
        ..TestOptions::default()
    })
    .await;
    let browser = app.browser();
    let login = app.auth(&format!("/login?return_to={}", long_return_to(&app)));
    for i in 0..NAVIGATIONS {
        // What an attacker's page does with top-level navigations: the
        // browser follows the redirect to the provider and goes no further.
        let page = browser.get(&login).await;
        assert_eq!(page.status, 302, "navigation {i}: {}", page.body);
        let size = page
            .raw_set_cookies
            .iter()
            .find(|c| c.starts_with("__Host-login-") && !c.contains("Max-Age=0"))
            .map(String::len);
        assert!(
            size.is_some_and(|s| s > 800),
            "a long transaction: {size:?}"
        );
    }
    let sent = auth_cookie_bytes(&app, &browser);
    assert!(
        sent < 8 * 1024,
        "after {NAVIGATIONS} sign-ins the browser sends {sent} bytes of cookies ({} transactions)",
        login_cookies(&browser)
    );
    assert!(login_cookies(&browser) <= public_service::login_transaction::MAX_PENDING);

    // The browser still signs in, and is left with no more than before.
    signs_in(&app, &browser).await;
    assert!(auth_cookie_bytes(&app, &browser) < 8 * 1024);
    logs::assert_no_service_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_whose_cookies_outgrew_the_header_limit_signs_in_on_its_next_try() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    // As a browser left by the unbounded cookies: twenty transactions of
    // the largest size, more than 16 KiB in all.
    for i in 0..20 {
        browser.put_cookie(
            &format!("__Host-login-{i:016x}"),
            &"A".repeat(880),
            "auth.example.test",
            true,
        );
    }
    assert!(auth_cookie_bytes(&app, &browser) > 16 * 1024);

    let hops = browser.navigate(&app.app("/")).await;
    let refused = hops.last().unwrap();
    assert_eq!(refused.url.path(), "/renew");
    assert_eq!(refused.status, 431, "{}", refused.body);
    assert!(
        refused.body.contains("Too many sign-ins"),
        "a page that says what happened: {}",
        refused.body
    );
    assert_eq!(login_cookies(&browser), 0, "the refusal removed them");

    signs_in(&app, &browser).await;
    logs::assert_no_service_panics();
}

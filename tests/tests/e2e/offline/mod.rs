//! Offline access, the token broker, sessions, renewal and sign-out, run
//! against both storage backends (PostgreSQL when `TEST_DATABASE_URL` is
//! set, skipped with a printed reason otherwise).

mod broker;
mod broker_rules;
mod consent;
mod google;
mod restart;
mod sessions;

use integration_tests::browser::Page;
use integration_tests::{logs, Browser, Landing, TestApp};

/// Signs `email` in through the app's home page and checks it landed.
pub async fn signed_in(app: &TestApp, browser: &Browser, email: &str) -> Vec<Page> {
    app.signing_in(email)
        .in_browser(browser)
        .landing(Landing::ShowsEmail)
        .run()
        .await
        .hops
}

/// No token the provider issued, no cookie value the browsers hold, and no
/// configured secret reached a log line; no service thread panicked.
pub fn assert_nothing_leaked(app: &TestApp, browsers: &[&Browser], more: &[&str]) {
    let mut secrets: Vec<String> = app.provider.issued_tokens();
    secrets.extend(app.configured_secrets.iter().cloned());
    for browser in browsers {
        secrets.extend(browser.cookies().into_iter().map(|c| c.value));
    }
    secrets.extend(more.iter().map(|s| (*s).to_owned()));
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    logs::assert_not_logged(&refs);
    logs::assert_no_service_panics();
}

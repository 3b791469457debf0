//! Only allowlisted, verified accounts get in; a denied user gets a clear
//! page and nothing is set.

use integration_tests::TestApp;
use shared::cookie::PARENT_DOMAIN_NAME;

#[tokio::test]
async fn a_user_outside_the_allowlist_gets_a_clear_denial_and_nothing_is_set() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let hops = app.sign_in(&browser, "eve@elsewhere.example").await;
    let last = hops.last().unwrap();
    assert_eq!(last.url.path(), "/callback");
    assert_eq!(last.status, 403);
    assert!(last.body.contains("not allowed"), "{}", last.body);
    assert!(last.set_cookie(PARENT_DOMAIN_NAME).is_none());
    assert!(
        last.set_cookies
            .iter()
            .all(|c| c.max_age().map(|a| a.whole_seconds()) == Some(0)),
        "the only cookie the denial sets is the transaction's removal"
    );
    assert!(browser.cookies().is_empty(), "{:?}", browser.cookies());
}

#[tokio::test]
async fn a_user_of_an_allowed_domain_gets_in() {
    let app = TestApp::spawn().await;
    let hops = app.sign_in(&app.browser(), "bob@corp.example").await;
    assert_eq!(hops.last().unwrap().status, 200);
}

#[tokio::test]
async fn look_alike_addresses_stay_out() {
    let app = TestApp::spawn().await;
    for email in [
        "alice+admin@example.com",
        "bob@corp.example.evil",
        "bob@evilcorp.example",
    ] {
        let hops = app.sign_in(&app.browser(), email).await;
        assert_eq!(hops.last().unwrap().status, 403, "{email}");
    }
}

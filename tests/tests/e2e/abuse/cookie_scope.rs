//! Each app's handoff cookie is its own: a parent-domain
//! cookie used to carry every app's token under one name, so one app's
//! sign-in overwrote another's, and a sibling host could plant a
//! `__Secure-handoff` cookie that an app on host-only cookies accepted.

use handoff_guard::{login_service::parent_domain_name, HOST_ONLY_NAME};
use integration_tests::app::{TestDelivery, TestOptions, PARENT_DOMAIN};
use integration_tests::{logs, TestApp};

const ALICE: &str = "alice@example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_parent_domain_cookie_is_ignored_by_an_app_on_host_only_cookies() {
    let app = TestApp::spawn_with(TestOptions {
        delivery: TestDelivery::Code,
        ..TestOptions::default()
    })
    .await;
    // A genuine token for this app (the attacker's own, say), planted by a
    // sibling host for the whole parent domain.
    let token = app.sign(&app.claims_for("mallory@corp.example"));
    for name in [
        "__Secure-handoff".to_owned(),
        parent_domain_name(&app.app_audience()),
    ] {
        let planted = app.browser();
        planted.put_cookie(&name, &token, PARENT_DOMAIN, false);
        let me = planted.get_json(&app.app("/api/me")).await;
        assert_eq!(me.status, 401, "{name}: {}", me.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_on_a_parent_domain_reads_only_its_own_cookie() {
    let app = TestApp::spawn_with(TestOptions {
        delivery: TestDelivery::SharedCookie,
        ..TestOptions::default()
    })
    .await;
    let token = app.sign(&app.claims_for(ALICE));
    for (name, domain, host_only) in [
        (HOST_ONLY_NAME.to_owned(), "app.example.test", true),
        ("__Secure-handoff".to_owned(), PARENT_DOMAIN, false),
        (
            parent_domain_name("https://reports.example.test"),
            PARENT_DOMAIN,
            false,
        ),
    ] {
        let browser = app.browser();
        browser.put_cookie(&name, &token, domain, host_only);
        let me = browser.get_json(&app.app("/api/me")).await;
        assert_eq!(me.status, 401, "{name}: {}", me.body);
    }
    let browser = app.browser();
    browser.put_cookie(&app.handoff_cookie(), &token, PARENT_DOMAIN, false);
    assert_eq!(browser.get_json(&app.app("/api/me")).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_on_one_parent_domain_each_keep_their_own_cookie() {
    let app = TestApp::spawn_with(TestOptions {
        delivery: TestDelivery::SharedCookie,
        second_app: true,
        ..TestOptions::default()
    })
    .await;
    let browser = app.browser();
    let hops = app.sign_in(&browser, ALICE).await;
    assert_eq!(hops.last().unwrap().status, 200);
    let hops = browser.navigate(&app.other_app("/")).await;
    assert_eq!(hops.last().unwrap().status, 200);
    // Signing in to the second app did not take the first one's token away.
    let me = browser.get_json(&app.app("/api/me")).await;
    assert_eq!(me.status, 200, "{}", me.body);
    let me = browser.get_json(&app.other_app("/api/me")).await;
    assert_eq!(me.status, 200, "{}", me.body);
    // The operator was told what a shared parent domain means.
    assert!(
        logs::captured().contains("several apps share the handoff cookie's parent domain"),
        "no warning at start"
    );
}

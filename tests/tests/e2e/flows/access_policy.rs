//! Only allowlisted, verified accounts get in; a denied user gets a clear
//! page and nothing is set.

use integration_tests::{Landing, TestApp};
use mock_provider::MockUser;

#[tokio::test]
async fn a_user_outside_the_allowlist_gets_a_clear_denial_and_nothing_is_set() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let hops = app.sign_in(&browser, "eve@elsewhere.example").await;
    let last = hops.last().unwrap();
    assert_eq!(last.url.path(), "/callback");
    assert_eq!(last.status, 403);
    assert!(last.body.contains("not allowed"), "{}", last.body);
    assert!(last.set_cookie(&app.handoff_cookie()).is_none());
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
async fn allowlist_tricks_stay_out_and_ascii_case_does_not_matter() {
    let app = TestApp::spawn().await;
    let refused = [
        ("alice+admin@example.com", "a + tag on a listed address"),
        ("alice@example.com.", "a trailing dot on a listed address"),
        ("bob@corp.example.", "a trailing dot on a listed domain"),
        ("\u{430}lice@example.com", "a Cyrillic a"),
        ("bob@corp.exampl\u{435}", "a Cyrillic e in the domain"),
        ("bob@corp.examp\u{217c}e", "a Roman numeral fifty for an l"),
        ("bob@corp.example.evil", "a listed domain as a prefix"),
        ("bob@evilcorp.example", "a listed domain as a suffix"),
        ("bob@sub.corp.example", "a subdomain of a listed domain"),
    ];
    for (email, trick) in refused {
        let hops = app.sign_in(&app.browser(), email).await;
        let last = hops.last().unwrap();
        assert_eq!(last.status, 403, "{trick}: {email} got in");
        assert!(last.set_cookie(&app.handoff_cookie()).is_none(), "{trick}");
    }
    for email in ["ALICE@EXAMPLE.COM", "Bob@Corp.Example"] {
        let hops = app.sign_in(&app.browser(), email).await;
        assert_eq!(hops.last().unwrap().status, 200, "{email}");
    }
}

#[tokio::test]
async fn an_hd_claim_naming_another_domain_keeps_a_listed_address_domain_out() {
    let app = TestApp::spawn().await;
    let mut bob = MockUser::new("bob@corp.example");
    bob.hd = Some("elsewhere.example".into());
    let hops = app
        .signing_in(&bob.email)
        .as_user(bob.clone())
        .run()
        .await
        .hops;
    assert_eq!(
        hops.last().unwrap().status,
        403,
        "hd disagreed, yet bob got in"
    );

    bob.hd = Some("corp.example".into());
    let hops = app
        .signing_in(&bob.email)
        .as_user(bob.clone())
        .run()
        .await
        .hops;
    assert_eq!(
        hops.last().unwrap().status,
        200,
        "hd agreeing with the address"
    );
}

/// A user whose address (and Workspace domain) changed
/// at the provider signs in again in the same browser; the session kept
/// for the same `sub` must carry the new address and `hd`, or renewals
/// would check the policy against the old ones for the session's life.
#[tokio::test]
async fn signing_in_again_updates_the_sessions_address_and_domain() {
    let app = TestApp::spawn_with(integration_tests::app::TestOptions {
        allowed_emails: Vec::new(),
        allowed_domains: Vec::new(),
        allowed_hosted_domains: vec!["corp.example".into(), "new.example".into()],
        ..Default::default()
    })
    .await;
    let before = MockUser::workspace("alice@corp.example");
    let after = MockUser {
        email: "alice@new.example".into(),
        hd: Some("new.example".into()),
        name: Some("Alice New".into()),
        ..before.clone()
    };
    let browser = app
        .signing_in(&before.email)
        .as_user(before)
        .landing(Landing::Ok)
        .run()
        .await
        .browser;
    let session = browser.cookie("__Host-session").unwrap().value;

    app.signing_in(&after.email)
        .as_user(after)
        .in_browser(&browser)
        .at_login()
        .landing(Landing::Ok)
        .run()
        .await;
    assert_eq!(
        browser.cookie("__Host-session").unwrap().value,
        session,
        "the same user's session is kept"
    );
    let id = session.split('.').next().unwrap();
    let record = app.store().await.session(id).await.unwrap().unwrap();
    assert_eq!(record.email, "alice@new.example");
    assert_eq!(record.hosted_domain.as_deref(), Some("new.example"));
    assert_eq!(record.name.as_deref(), Some("Alice New"));

    // The operator drops the new domain; the next renewal is refused.
    app.restart_public_service_with(
        env!("CARGO_BIN_EXE_public-service-under-test"),
        &[("ALLOWED_HOSTED_DOMAINS", "corp.example")],
    )
    .await;
    let renewal = browser
        .navigate(&app.auth(&format!("/renew?return_to={}", app.app_url)))
        .await;
    let last = renewal.last().unwrap();
    assert_eq!(last.status, 403, "{}: {}", last.url, last.body);
    assert!(last.body.contains("no longer allowed"), "{}", last.body);
}

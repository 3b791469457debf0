//! Providers other than Google: claims only from UserInfo (OpenID Connect
//! Core 5.4), ID tokens signed with ES256, and the authorization
//! response's `iss` (RFC 9207).

use std::time::{Duration, Instant};

use integration_tests::{Browser, Landing, Page, TestApp, TestOptions};
use mock_provider::{Dialect, Misbehaviour, SigningAlg};

const ALICE: &str = "alice@example.com";

fn generic(options: TestOptions) -> TestOptions {
    TestOptions {
        provider_dialect: Dialect::Generic,
        ..options
    }
}

fn assert_signed_in(hops: &[Page]) {
    let last = hops.last().unwrap();
    assert_eq!(last.status, 200, "{}: {}", last.url, last.body);
    assert!(last.body.contains(ALICE), "{}", last.body);
}

/// The page a bad token response gets: 502 at the callback, no cookie.
/// No handoff cookie of any app, in either delivery's name.
fn no_handoff_cookie(browser: &Browser) -> bool {
    browser.cookies().iter().all(|c| {
        c.name != handoff_guard::HOST_ONLY_NAME
            && !c.name.starts_with(handoff_guard::PARENT_DOMAIN_PREFIX)
    })
}

fn assert_unverifiable(hops: &[Page], browser: &Browser) {
    let last = hops.last().unwrap();
    assert_eq!(last.url.path(), "/callback", "{}", last.url);
    assert_eq!(last.status, 502, "{}", last.body);
    assert!(last.body.contains("could not be verified"), "{}", last.body);
    assert!(no_handoff_cookie(browser));
    assert!(browser.cookie("__Host-session").is_none());
}

#[tokio::test]
async fn a_provider_with_claims_only_in_userinfo_signs_people_in() {
    let app = TestApp::spawn_with(generic(TestOptions::default())).await;
    app.provider.set_claims_only_in_userinfo(true);
    let browser = app.browser();
    let hops = app.sign_in(&browser, ALICE).await;
    assert_signed_in(&hops);
    assert_eq!(app.provider.userinfo_calls(), 1);

    // An ID token that has the claims needs no UserInfo call.
    app.provider.set_claims_only_in_userinfo(false);
    assert_signed_in(&app.sign_in(&app.browser(), ALICE).await);
    assert_eq!(app.provider.userinfo_calls(), 1);
    integration_tests::logs::assert_no_service_panics();
}

#[tokio::test]
async fn a_hosted_domain_the_policy_needs_is_taken_from_userinfo() {
    let app = TestApp::spawn_with(generic(TestOptions {
        allowed_emails: vec![],
        allowed_domains: vec![],
        allowed_hosted_domains: vec!["workspace.example".into()],
        ..TestOptions::default()
    }))
    .await;
    // Allowed by `hd` alone, which this provider puts in UserInfo only.
    let user = mock_provider::MockUser::workspace("carol@workspace.example");
    app.provider.set_claims_only_in_userinfo(true);
    app.signing_in("carol@workspace.example")
        .as_user(user)
        .landing(Landing::ShowsEmail)
        .run()
        .await;
    assert_eq!(app.provider.userinfo_calls(), 1);
}

#[tokio::test]
async fn a_userinfo_answer_about_another_subject_is_refused() {
    let app = TestApp::spawn_with(generic(TestOptions::default())).await;
    app.provider.set_claims_only_in_userinfo(true);
    app.provider.misbehave(Misbehaviour::UserinfoWrongSub);
    let browser = app.browser();
    let hops = app.sign_in(&browser, ALICE).await;
    assert_unverifiable(&hops, &browser);
    assert_eq!(app.provider.userinfo_calls(), 1);
}

/// "Never take a claim from UserInfo that the ID token contradicts": the
/// ID token says alice (verification left to UserInfo), UserInfo says a
/// verified mallory. Both addresses are allowed, so taking either claim
/// from the answer would sign someone in; the answer is not used at all,
/// alice's address stays unverified, and the sign-in is refused.
#[tokio::test]
async fn a_userinfo_answer_contradicting_the_id_token_is_not_taken() {
    let app = TestApp::spawn_with(generic(TestOptions {
        allowed_emails: vec![ALICE.into(), mock_provider::CONTRADICTING_EMAIL.into()],
        ..TestOptions::default()
    }))
    .await;
    app.provider
        .misbehave(Misbehaviour::UserinfoContradictsEmail);
    let browser = app.browser();
    let hops = app.sign_in(&browser, ALICE).await;
    let last = hops.last().unwrap();
    assert_eq!(app.provider.userinfo_calls(), 1);
    assert_eq!(last.url.path(), "/callback", "{}", last.url);
    assert_eq!(last.status, 403, "{}", last.body);
    assert!(last.body.contains("not verified"), "{}", last.body);
    assert!(!last.body.contains(mock_provider::CONTRADICTING_EMAIL));
    assert!(no_handoff_cookie(&browser));
    assert!(browser.cookie("__Host-session").is_none());

    // An answer agreeing with the ID token is taken. (Two callbacks: the
    // refused sign-in left no refresh token, so the service goes back once
    // with `prompt=consent`.)
    app.provider.behave();
    app.provider.set_claims_only_in_userinfo(true);
    assert_signed_in(&app.sign_in(&app.browser(), ALICE).await);
    assert!(app.provider.userinfo_calls() > 1);
    integration_tests::logs::assert_no_service_panics();
}

#[tokio::test]
async fn garbage_or_errors_from_userinfo_get_the_clean_error_pages() {
    let app = TestApp::spawn_with(generic(TestOptions {
        provider_timeout: Duration::from_secs(1),
        ..TestOptions::default()
    }))
    .await;
    app.provider.set_claims_only_in_userinfo(true);
    app.provider.misbehave(Misbehaviour::UserinfoGarbage);
    let browser = app.browser();
    assert_unverifiable(&app.sign_in(&browser, ALICE).await, &browser);

    app.provider.behave();
    app.provider.misbehave(Misbehaviour::UserinfoStatus(401));
    let browser = app.browser();
    assert_unverifiable(&app.sign_in(&browser, ALICE).await, &browser);

    app.provider.behave();
    app.provider.misbehave(Misbehaviour::UserinfoStatus(503));
    let browser = app.browser();
    let hops = app.sign_in(&browser, ALICE).await;
    let last = hops.last().unwrap();
    assert_eq!(last.status, 503, "{}", last.body);
    assert!(no_handoff_cookie(&browser));

    // A slow UserInfo is cut short by the provider timeout.
    app.provider.behave();
    app.provider
        .misbehave(Misbehaviour::UserinfoDelay(Duration::from_secs(30)));
    let browser = app.browser();
    let started = Instant::now();
    let hops = app.sign_in(&browser, ALICE).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(hops.last().unwrap().status, 503);
    integration_tests::logs::assert_no_service_panics();
}

#[tokio::test]
async fn an_es256_provider_signs_in_when_es256_is_allowed() {
    let app = TestApp::spawn_with(generic(TestOptions {
        id_token_algorithms: "RS256,ES256",
        configure_provider: Some(|p| p.sign_with(SigningAlg::Es256)),
        ..TestOptions::default()
    }))
    .await;
    assert_signed_in(&app.sign_in(&app.browser(), ALICE).await);
}

#[tokio::test]
async fn an_es256_id_token_is_refused_when_only_rs256_is_allowed() {
    let app = TestApp::spawn_with(generic(TestOptions {
        configure_provider: Some(|p| p.sign_with(SigningAlg::Es256)),
        ..TestOptions::default()
    }))
    .await;
    let browser = app.browser();
    assert_unverifiable(&app.sign_in(&browser, ALICE).await, &browser);
    // The same provider's RS256 tokens still sign in.
    app.provider.sign_with(SigningAlg::Rs256);
    assert_signed_in(&app.sign_in(&app.browser(), ALICE).await);
}

#[tokio::test]
async fn ps256_and_eddsa_providers_sign_in_when_allowed_and_are_refused_when_not() {
    type Configure = fn(&mock_provider::MockProvider);
    let providers: [(&str, Configure); 2] = [
        ("PS256", |p| p.sign_with(SigningAlg::Ps256)),
        ("EdDSA", |p| p.sign_with(SigningAlg::EdDsa)),
    ];
    for (alg, provider) in providers {
        let app = TestApp::spawn_with(generic(TestOptions {
            id_token_algorithms: "RS256,PS256,EdDSA",
            configure_provider: Some(provider),
            ..TestOptions::default()
        }))
        .await;
        let hops = app.sign_in(&app.browser(), ALICE).await;
        assert_eq!(hops.last().unwrap().status, 200, "{alg}");
        assert_signed_in(&hops);

        // Advertised by the provider but not on the allowlist.
        let app = TestApp::spawn_with(generic(TestOptions {
            configure_provider: Some(provider),
            ..TestOptions::default()
        }))
        .await;
        let browser = app.browser();
        assert_unverifiable(&app.sign_in(&browser, ALICE).await, &browser);
    }
    integration_tests::logs::assert_no_service_panics();
}

#[tokio::test]
async fn an_algorithm_allowed_but_not_advertised_by_the_provider_is_refused() {
    // ES256 is on the allowlist, but this provider advertises RS256 only.
    let app = TestApp::spawn_with(generic(TestOptions {
        id_token_algorithms: "ES256",
        ..TestOptions::default()
    }))
    .await;
    let browser = app.browser();
    assert_unverifiable(&app.sign_in(&browser, ALICE).await, &browser);
}

#[tokio::test]
async fn the_authorization_responses_issuer_is_checked_as_rfc_9207_says() {
    let app = TestApp::spawn_with(generic(TestOptions {
        configure_provider: Some(|p| p.set_iss_in_authorization_response(true)),
        ..TestOptions::default()
    }))
    .await;
    assert_signed_in(&app.sign_in(&app.browser(), ALICE).await);

    for case in [
        Misbehaviour::AuthorizationResponseWrongIss,
        Misbehaviour::AuthorizationResponseNoIss,
    ] {
        app.provider.behave();
        app.provider.misbehave(case.clone());
        let browser = app.browser();
        let calls = app.provider.token_endpoint_calls();
        let hops = app.sign_in(&browser, ALICE).await;
        let last = hops.last().unwrap();
        assert_eq!(last.url.path(), "/callback", "{case:?}");
        assert_eq!(last.status, 502, "{case:?}: {}", last.body);
        assert!(no_handoff_cookie(&browser), "{case:?}");
        assert_eq!(
            app.provider.token_endpoint_calls(),
            calls,
            "{case:?}: the code was not exchanged"
        );
    }
}

#[tokio::test]
async fn an_iss_naming_another_issuer_is_refused_even_unannounced() {
    // Google does not advertise RFC 9207: a wrong `iss` is still refused.
    let app = TestApp::spawn().await;
    app.provider
        .misbehave(Misbehaviour::AuthorizationResponseWrongIss);
    let browser = app.browser();
    let hops = app.sign_in(&browser, ALICE).await;
    assert_eq!(hops.last().unwrap().status, 502);
    assert!(no_handoff_cookie(&browser));
}

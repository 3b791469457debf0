//! The public service's callback refuses forged, replayed and broken
//! answers, and never sets a handoff cookie when it does.

use integration_tests::{Browser, Page, TestApp};
use mock_provider::{Decision, Misbehaviour};

fn assert_refused_without_handoff(page: &Page, status: u16, browser: &Browser) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(
        page.header("location").is_none(),
        "an error must not redirect"
    );
    assert!(
        page.body.contains("<html"),
        "a clean error page is rendered"
    );
    assert!(
        page.raw_set_cookies.iter().all(|c| !c.contains("handoff")),
        "a handoff cookie was set"
    );
    assert!(browser
        .cookies()
        .iter()
        .all(|c| !c.name.contains("handoff")));
}

fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut url = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            if k == name {
                (k.into_owned(), value.to_owned())
            } else {
                (k.into_owned(), v.into_owned())
            }
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.into()
}

#[tokio::test]
async fn a_callback_without_state_is_refused() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let page = browser.get(&app.auth("/callback?code=abc")).await;
    assert_refused_without_handoff(&page, 400, &browser);
}

#[tokio::test]
async fn a_callback_with_a_wrong_state_is_refused_before_the_provider_is_called() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let callback = app.callback_url_for(&browser, "alice@example.com").await;
    let page = browser
        .get(&with_param(&callback, "state", "forged-state-value"))
        .await;
    assert_refused_without_handoff(&page, 400, &browser);
    assert_eq!(app.provider.token_endpoint_calls(), 0);
}

#[tokio::test]
async fn a_callback_in_a_browser_that_did_not_start_the_sign_in_is_refused() {
    let app = TestApp::spawn().await;
    let victim = app.browser();
    let callback = app
        .callback_url_for(&app.browser(), "mallory@corp.example")
        .await;
    let page = victim.get(&callback).await;
    assert_refused_without_handoff(&page, 400, &victim);
    assert_eq!(app.provider.token_endpoint_calls(), 0);
}

#[tokio::test]
async fn a_reused_state_is_refused() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let callback = app.callback_url_for(&browser, "alice@example.com").await;
    assert_eq!(browser.get(&callback).await.status, 302);
    browser.clear_cookies();
    let replay = browser.get(&callback).await;
    assert_refused_without_handoff(&replay, 400, &browser);
}

#[tokio::test]
async fn a_reused_code_is_refused_even_with_a_copied_transaction_cookie() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let callback = app.callback_url_for(&browser, "alice@example.com").await;
    let transaction = browser
        .cookies()
        .into_iter()
        .find(|c| c.name.starts_with("__Host-login-"))
        .unwrap();
    assert_eq!(browser.get(&callback).await.status, 302);

    let attacker = app.browser();
    attacker.put_cookie(
        &transaction.name,
        &transaction.value,
        &transaction.domain,
        true,
    );
    let replay = attacker.get(&callback).await;
    assert_refused_without_handoff(&replay, 400, &attacker);
    assert_eq!(app.provider.token_endpoint_calls(), 2);
}

#[tokio::test]
async fn a_sign_in_declined_at_the_provider_gets_a_clear_page() {
    let app = TestApp::spawn().await;
    app.provider.set_decision(Decision::Deny);
    let browser = app.browser();
    let hops = app.sign_in(&browser, "alice@example.com").await;
    let last = hops.last().unwrap();
    assert_refused_without_handoff(last, 403, &browser);
    assert!(last.body.contains("cancelled"), "{}", last.body);
}

#[tokio::test]
async fn an_id_token_broken_in_any_way_is_refused() {
    let cases = [
        Misbehaviour::WrongNonce,
        Misbehaviour::WrongAudience,
        Misbehaviour::WrongIssuer,
        Misbehaviour::BadSignature,
        Misbehaviour::Expired,
        Misbehaviour::IssuedInFuture,
        Misbehaviour::AlgNone,
        Misbehaviour::HsWithPublicKey,
        Misbehaviour::MultipleAudiencesWithoutAzp,
        Misbehaviour::AzpMismatch,
        Misbehaviour::MissingSub,
        Misbehaviour::UnknownKid,
        Misbehaviour::WrongAtHash,
    ];
    let app = TestApp::spawn().await;
    let mut accepted = Vec::new();
    for case in cases {
        app.provider.behave();
        app.provider.misbehave(case.clone());
        let hops = app.sign_in(&app.browser(), "alice@example.com").await;
        let last = hops.last().unwrap();
        let refused = last.url.path() == "/callback"
            && last.status == 502
            && last.set_cookie(&app.handoff_cookie()).is_none();
        if !refused {
            accepted.push(format!("{case:?} -> {} {}", last.url.path(), last.status));
        }
    }
    assert!(accepted.is_empty(), "not refused: {accepted:#?}");
    app.provider.behave();
    let hops = app.sign_in(&app.browser(), "alice@example.com").await;
    assert_eq!(
        hops.last().unwrap().status,
        200,
        "a good token after the bad ones"
    );
    integration_tests::logs::assert_no_service_panics();
}

#[tokio::test]
async fn an_unverified_email_is_denied() {
    let app = TestApp::spawn().await;
    app.provider.misbehave(Misbehaviour::UnverifiedEmail);
    let browser = app.browser();
    let hops = app.sign_in(&browser, "alice@example.com").await;
    assert_refused_without_handoff(hops.last().unwrap(), 403, &browser);
}

/// An ID token signed by a 1024-bit RSA key whose `kid` the provider
/// publishes is refused like a forged one: the key is dropped, with a
/// warning naming it, when the provider's JWKS is read.
#[tokio::test]
async fn an_id_token_signed_by_a_published_1024_bit_key_is_refused() {
    let app = TestApp::spawn().await;
    app.provider.sign_with_a_1024_bit_key();
    let browser = app.browser();
    let hops = app.sign_in(&browser, "alice@example.com").await;
    let last = hops.last().unwrap();
    assert_eq!(last.url.path(), "/callback");
    assert_refused_without_handoff(last, 502, &browser);
    assert!(
        integration_tests::logs::captured().contains(mock_provider::keys::WEAK_KID),
        "no warning names the dropped key"
    );
}

#[tokio::test]
async fn a_key_rotated_at_the_provider_is_picked_up_after_one_jwks_fetch() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.sign_in(&app.browser(), "alice@example.com")
            .await
            .last()
            .unwrap()
            .status,
        200
    );
    app.provider.rotate_keys();
    let hops = app.sign_in(&app.browser(), "alice@example.com").await;
    assert_eq!(
        hops.last().unwrap().status,
        200,
        "{}",
        hops.last().unwrap().body
    );
}

#[tokio::test]
async fn an_id_token_without_kid_is_accepted_with_one_key_and_refused_with_several() {
    let app = TestApp::spawn().await;
    app.provider.misbehave(Misbehaviour::NoKid);
    assert_eq!(
        app.sign_in(&app.browser(), "alice@example.com")
            .await
            .last()
            .unwrap()
            .status,
        200
    );

    app.provider.rotate_keys();
    // Let the public service learn both keys, then send a token that names none.
    app.provider.behave();
    assert_eq!(
        app.sign_in(&app.browser(), "alice@example.com")
            .await
            .last()
            .unwrap()
            .status,
        200
    );
    app.provider.misbehave(Misbehaviour::NoKid);
    let hops = app.sign_in(&app.browser(), "alice@example.com").await;
    assert_eq!(hops.last().unwrap().status, 502);
}

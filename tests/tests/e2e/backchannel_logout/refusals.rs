//! What `POST /backchannel-logout` refuses (sections 2.6 and 2.8: `400`
//! with an error), and that a refusal changes nothing; and that it is off
//! unless the provider advertises back-channel logout (Google does not).

use integration_tests::app::CLIENT_ID;
use integration_tests::{logs, TestApp, TestOptions};
use mock_provider::{Dialect, LogoutSigning, MockUser};
use serde_json::{json, Value};

use super::{generic, post_form, post_logout, revoked, signed_in, ALICE};

/// A token the service must refuse, and why.
struct Bad {
    what: &'static str,
    claims: Value,
    signing: LogoutSigning,
}

fn bad_tokens(app: &TestApp, sid: &str) -> Vec<Bad> {
    let sub = MockUser::new(ALICE).sub;
    let valid = || {
        app.provider
            .logout_token_claims(CLIENT_ID, Some(&sub), Some(sid))
    };
    let changed = |what, change: &dyn Fn(&mut Value)| {
        let mut claims = valid();
        change(&mut claims);
        Bad {
            what,
            claims,
            signing: LogoutSigning::Published,
        }
    };
    let signed = |what, signing| Bad {
        what,
        claims: valid(),
        signing,
    };
    let now = valid()["iat"].as_u64().unwrap();
    vec![
        changed("expired", &|c| {
            c["iat"] = json!(now - 300);
            c["exp"] = json!(now - 1);
        }),
        changed("without exp", &|c| {
            c.as_object_mut().unwrap().remove("exp");
        }),
        changed("issued in the future", &|c| {
            c["iat"] = json!(now + 3600);
            c["exp"] = json!(now + 3700);
        }),
        changed("issued an hour ago", &|c| c["iat"] = json!(now - 3600)),
        changed("from another issuer", &|c| {
            c["iss"] = json!("https://issuer.evil.example")
        }),
        changed("for another client", &|c| {
            c["aud"] = json!("another-client.apps.example")
        }),
        // As for ID tokens (section 2.6 step 2 sends aud there).
        changed("for us and another client without azp", &|c| {
            c["aud"] = json!([CLIENT_ID, "another-client.apps.example"])
        }),
        changed("with the azp of another client", &|c| {
            c["aud"] = json!([CLIENT_ID, "another-client.apps.example"]);
            c["azp"] = json!("another-client.apps.example");
        }),
        changed("with a nonce", &|c| c["nonce"] = json!("n-0S6_WzA2Mj")),
        changed("without events", &|c| {
            c.as_object_mut().unwrap().remove("events");
        }),
        changed("with another event", &|c| {
            c["events"] = json!({ "http://schemas.openid.net/event/other": {} })
        }),
        changed("with events as an array", &|c| {
            c["events"] = json!([mock_provider::logout_tokens::BACKCHANNEL_LOGOUT_EVENT])
        }),
        changed("without sid or sub", &|c| {
            let c = c.as_object_mut().unwrap();
            c.remove("sid");
            c.remove("sub");
        }),
        // Neither may be dropped as unreadable: a long sid beside the sub
        // would end every session of the person, an empty sub would leave
        // the sid alone to act.
        changed("with a sid over 255 characters beside the sub", &|c| {
            c["sid"] = json!("s".repeat(256))
        }),
        changed("with an empty sub beside the sid", &|c| {
            c["sub"] = json!("")
        }),
        changed("without jti", &|c| {
            c.as_object_mut().unwrap().remove("jti");
        }),
        signed("signed by another key", LogoutSigning::UnpublishedKey),
        signed("with an unknown kid", LogoutSigning::UnknownKid),
        signed(
            "HS256 keyed with the public key",
            LogoutSigning::HsWithPublicKey,
        ),
        signed("alg none", LogoutSigning::AlgNone),
        // Section 2.4 recommends explicit typing: a `typ` that is there
        // must say logout+jwt (RFC 7515 4.1.9), so no other JWT of the
        // provider's can pass for a logout token.
        signed("typed JWT", LogoutSigning::PublishedWithTyp("JWT")),
        signed(
            "typed application/jwt",
            LogoutSigning::PublishedWithTyp("application/jwt"),
        ),
        signed(
            "typed as an access token",
            LogoutSigning::PublishedWithTyp("at+jwt"),
        ),
        signed(
            "typed as a security event token",
            LogoutSigning::PublishedWithTyp("secevent+jwt"),
        ),
        signed(
            "typed logout+jwt under another top-level type",
            LogoutSigning::PublishedWithTyp("text/logout+jwt"),
        ),
        signed(
            "typed logout+jwt with a parameter",
            LogoutSigning::PublishedWithTyp("logout+jwt; charset=utf-8"),
        ),
    ]
}

/// The `typ` of a logout token is a media type (RFC 7515 4.1.9): its name
/// is compared without regard to case, and `application/logout+jwt` is
/// the same type as `logout+jwt`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_jwt_is_read_as_a_media_type_name() {
    let app = TestApp::spawn_with(generic(integration_tests::db::Backend::Sqlite)).await;
    for typ in [
        "application/logout+jwt",
        "Application/Logout+JWT",
        "LOGOUT+JWT",
    ] {
        let alice = signed_in(&app, ALICE).await;
        let claims = app
            .provider
            .logout_token_claims(CLIENT_ID, None, Some(&alice.provider_sid));
        let token = app
            .provider
            .sign_logout_token(&claims, LogoutSigning::PublishedWithTyp(typ));
        let answer = post_logout(&app, &token).await;
        assert_eq!(answer.status, 200, "typ {typ}: {}", answer.json);
        assert!(revoked(&app, &alice.session_id).await, "typ {typ}");
    }
}

/// A logout token signed by a 1024-bit RSA key whose `kid` the provider
/// publishes is refused: the key is dropped when the JWKS is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_token_signed_by_a_published_1024_bit_key_is_refused() {
    let app = TestApp::spawn_with(generic(integration_tests::db::Backend::Sqlite)).await;
    let alice = signed_in(&app, ALICE).await;
    app.provider.sign_with_a_1024_bit_key();
    let claims = app
        .provider
        .logout_token_claims(CLIENT_ID, None, Some(&alice.provider_sid));
    let token = app
        .provider
        .sign_logout_token(&claims, LogoutSigning::Published);
    let answer = post_logout(&app, &token).await;
    assert_eq!(answer.status, 400, "{}", answer.json);
    assert!(!revoked(&app, &alice.session_id).await);
    assert!(
        logs::captured().contains(mock_provider::keys::WEAK_KID),
        "no warning names the dropped key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_logout_tokens_are_refused_and_end_nothing() {
    let app = TestApp::spawn_with(generic(integration_tests::db::Backend::Sqlite)).await;
    let alice = signed_in(&app, ALICE).await;
    let fetches = app.provider.jwks_fetches();
    for bad in bad_tokens(&app, &alice.provider_sid) {
        let token = app.provider.sign_logout_token(&bad.claims, bad.signing);
        let answer = post_logout(&app, &token).await;
        assert_eq!(answer.status, 400, "{}: {}", bad.what, answer.json);
        assert_eq!(answer.json["error"], "invalid_request", "{}", bad.what);
        assert!(answer.json["error_description"].is_string(), "{}", bad.what);
        assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
        assert!(
            !revoked(&app, &alice.session_id).await,
            "{} ended the session",
            bad.what
        );
    }
    // An unknown kid re-fetched the keys once at most, not per token.
    assert!(app.provider.jwks_fetches() <= fetches + 1);
    // A token refused for a bad signature does not burn its `jti`: the
    // same claims, signed right, still work.
    let claims = app
        .provider
        .logout_token_claims(CLIENT_ID, None, Some(&alice.provider_sid));
    let forged = app
        .provider
        .sign_logout_token(&claims, LogoutSigning::UnpublishedKey);
    assert_eq!(post_logout(&app, &forged).await.status, 400);
    assert!(!revoked(&app, &alice.session_id).await);
    let genuine = app
        .provider
        .sign_logout_token(&claims, LogoutSigning::PublishedWithoutTyp);
    assert_eq!(post_logout(&app, &genuine).await.status, 200);
    assert!(revoked(&app, &alice.session_id).await);
    logs::assert_not_logged(&[&forged, &genuine]);
    logs::assert_no_service_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_refused() {
    let app = TestApp::spawn_with(generic(integration_tests::db::Backend::Sqlite)).await;
    let alice = signed_in(&app, ALICE).await;
    let token = super::logout_token(&app, None, Some(&alice.provider_sid));
    let form = "application/x-www-form-urlencoded";
    let cases = [
        ("no token", form, String::new()),
        (
            "a JSON body",
            "application/json",
            json!({ "logout_token": token }).to_string(),
        ),
        (
            "a repeated token",
            form,
            format!("logout_token={token}&logout_token={token}"),
        ),
        (
            "an oversize token",
            form,
            format!("logout_token={}", "a".repeat(9000)),
        ),
        ("not a JWT", form, "logout_token=not.a.jwt.at.all".into()),
    ];
    for (what, content_type, body) in cases {
        let answer = post_form(&app, content_type, body).await;
        assert_eq!(answer.status, 400, "{what}: {}", answer.json);
        assert_eq!(answer.json["error"], "invalid_request", "{what}");
    }
    // A body over the service's bound is not read at all.
    let huge = format!("logout_token={}", "a".repeat(64 * 1024));
    let answer = post_form(&app, form, huge).await;
    assert_eq!(answer.status, 413);
    assert!(!revoked(&app, &alice.session_id).await);
    // The token itself still works: none of the above took its `jti`.
    assert_eq!(post_logout(&app, &token).await.status, 200);
    assert!(revoked(&app, &alice.session_id).await);
}

/// Google advertises no back-channel logout: the route is not there, and
/// a well-formed token signed with the provider's key changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_unless_the_provider_advertises_it_or_when_turned_off() {
    let google = TestApp::spawn_with(TestOptions {
        provider_dialect: Dialect::Google,
        ..TestOptions::default()
    })
    .await;
    let browser = google.browser();
    google.sign_in(&browser, ALICE).await;
    let sub = MockUser::new(ALICE).sub;
    let token = super::logout_token(&google, Some(&sub), None);
    let answer = post_logout(&google, &token).await;
    assert_eq!(answer.status, 404, "{}", answer.json);
    assert!(answer.json["error_description"]
        .as_str()
        .unwrap()
        .contains("backchannel_logout_supported"));
    let session = browser.cookie("__Host-session").unwrap().value;
    let id = session.split('.').next().unwrap();
    assert!(!revoked(&google, id).await);

    // Advertised, but the operator turned it off.
    let off = TestApp::spawn_with(TestOptions {
        public_env: vec![("BACKCHANNEL_LOGOUT", "off".into())],
        ..generic(integration_tests::db::Backend::Sqlite)
    })
    .await;
    let alice = signed_in(&off, ALICE).await;
    let token = super::logout_token(&off, Some(&sub), None);
    assert_eq!(post_logout(&off, &token).await.status, 404);
    assert!(!revoked(&off, &alice.session_id).await);
}

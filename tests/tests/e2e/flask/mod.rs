//! `examples/flask-api`, a real Flask app under gunicorn, as the upstream
//! of `handoff-gate` behind the real stack (mock provider, login service),
//! in both delivery modes: a real browser signs in and sees the Flask
//! page; the app reads the identity headers and verifies the forwarded
//! handoff token with PyJWT; a client's own identity headers never reach
//! it; server-sent events stream, a body over `MAX_BODY_BYTES` is refused
//! and a WebSocket passes. The Python and Node snippets of docs/gate.md
//! accept the login service's token and refuse every attack.
//!
//! Needs `python3` and PyPI (the app's virtual environment is made on
//! first use), and for the browser tests Chromium and playwright-core, for
//! the Node snippet `npm`; `.ci/run` installs them and sets
//! `FLASK_TEST_REQUIRED=1` and `BROWSER_TEST_REQUIRED=1`.

mod browser;
mod traffic;
mod verifiers;

use integration_tests::app::{SecondApp, TestDelivery, TestOptions};
use integration_tests::flask::{self, FlaskApp};
use integration_tests::{Browser, Landing, TestApp};
use mock_provider::MockUser;
use url::Url;

const ALICE: &str = "alice@example.com";

/// The stack with the Flask app behind the gate: the test deployment and
/// the Python process (stopped when dropped).
struct FlaskStack {
    app: TestApp,
    flask: FlaskApp,
}

/// Starts the stack with `options` (the second app becomes the gate in
/// front of Flask), or `None` after recording a skip.
async fn flask_stack(options: TestOptions) -> Option<FlaskStack> {
    let bin = flask::venv_or_skip()?;
    let port = integration_tests::ports::for_a_child();
    let app = TestApp::spawn_with(TestOptions {
        second_app: true,
        second_app_kind: SecondApp::Gate,
        gate_upstream: Some(Url::parse(&format!("http://127.0.0.1:{port}")).unwrap()),
        ..options
    })
    .await;
    let flask = FlaskApp::start(
        &bin,
        port,
        &[
            ("AUTH_URL", app.issuer()),
            ("APP_URL", app.other_app_audience()),
            // The app reaches the login service's keys on loopback, as the
            // gate does (on Cloud Run: the public URL, the default).
            (
                "AUTH_JWKS_URL",
                format!("http://{}/.well-known/jwks.json", app.auth_addr),
            ),
        ],
    )
    .await;
    Some(FlaskStack { app, flask })
}

/// A browser signed in as Alice through the gate, on the Flask page.
async fn signed_in(stack: &FlaskStack) -> Browser {
    let signed_in = stack
        .app
        .signing_in(ALICE)
        .starting_at(stack.app.other_app("/"))
        .landing(Landing::Ok)
        .run()
        .await;
    let page = signed_in.last();
    assert!(
        page.body
            .contains(&format!("<strong id=\"email\">{ALICE}</strong>")),
        "{}",
        page.body
    );
    signed_in.browser
}

/// What Flask's `/api/me` answered to `browser` sending `headers`.
async fn me(stack: &FlaskStack, browser: &Browser, headers: &[(&str, &str)]) -> serde_json::Value {
    let mut all = vec![("accept", "application/json")];
    all.extend_from_slice(headers);
    let page = browser.request(&stack.app.other_app("/api/me"), &all).await;
    assert_eq!(page.status, 200, "{}", page.body);
    serde_json::from_str(&page.body).unwrap()
}

async fn identity_reaches_flask_verified_and_unforgeable(delivery: TestDelivery) {
    let Some(stack) = flask_stack(TestOptions {
        delivery,
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    let browser = signed_in(&stack).await;
    let subject = MockUser::new(ALICE).sub;
    let expected = serde_json::json!({
        "email": ALICE,
        "user": subject,
        "assertion_verified": true,
    });
    // Flask read the headers, and its PyJWT check of the forwarded token
    // (whose `sub` must equal the user header) passed.
    assert_eq!(me(&stack, &browser, &[]).await, expected);

    // A client's own identity headers, in any case, repeated, or spelled
    // with an underscore (which a WSGI server could map to the same
    // variable), never reach Flask: it still sees exactly Alice. WSGI
    // joins repeated headers into one value, so a copy that slipped
    // through would show.
    let forged = [
        ("X-Forwarded-Email", "mallory@example.com"),
        ("x-forwarded-email", "mallory@example.com"),
        ("X-FORWARDED-EMAIL", "eve@example.com"),
        ("X-Forwarded-User", "mallory"),
        ("x-forwarded-user", "mallory"),
        ("X-Forwarded_Email", "mallory@example.com"),
        ("X_Forwarded_User", "mallory"),
        ("X-Handoff-Assertion", "forged"),
    ];
    assert_eq!(me(&stack, &browser, &forged).await, expected);

    // Without a session the same headers get the gate's 401, not Flask.
    let stranger = stack
        .app
        .browser()
        .request(
            &stack.app.other_app("/api/me"),
            &[&[("accept", "application/json")][..], &forged[..]].concat(),
        )
        .await;
    assert_eq!(stranger.status, 401, "{}", stranger.body);
    assert!(stranger.body.contains("login_url"), "{}", stranger.body);

    // Defence in depth: a request that reaches Flask around the gate with
    // made-up headers and a tampered token is refused by Flask itself.
    let token = browser
        .cookie(&cookie_name(&stack.app, delivery))
        .expect("the app's handoff cookie")
        .value;
    let around = reqwest::Client::new()
        .get(stack.flask.url.join("/api/me").unwrap())
        .header("x-forwarded-email", "mallory@example.com")
        .header("x-forwarded-user", subject.as_str())
        .header(
            "x-handoff-assertion",
            integration_tests::tokens::tamper_payload(&token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(around.status(), 401);
    // And so is the genuine token with another person's e-mail beside it.
    let mismatched = reqwest::Client::new()
        .get(stack.flask.url.join("/api/me").unwrap())
        .header("x-forwarded-email", "mallory@example.com")
        .header("x-forwarded-user", subject.as_str())
        .header("x-handoff-assertion", token.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(mismatched.status(), 401);
}

/// The name of the handoff cookie the gate reads.
fn cookie_name(app: &TestApp, delivery: TestDelivery) -> String {
    match delivery {
        TestDelivery::Code => handoff_guard::HOST_ONLY_NAME.to_owned(),
        TestDelivery::SharedCookie => {
            handoff_guard::login_service::parent_domain_name(&app.other_app_audience())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flask_gets_a_verified_unforgeable_identity_with_code_delivery() {
    identity_reaches_flask_verified_and_unforgeable(TestDelivery::Code).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flask_gets_a_verified_unforgeable_identity_with_cookie_delivery() {
    identity_reaches_flask_verified_and_unforgeable(TestDelivery::SharedCookie).await;
}

#[tokio::test]
async fn the_flask_app_stops_at_start_naming_a_missing_or_malformed_setting() {
    let Some(bin) = flask::venv_or_skip() else {
        return;
    };
    let good_auth = ("AUTH_URL", "https://auth.example.com");
    let good_app = ("APP_URL", "https://app.example.com");
    for (env, named, example) in [
        (vec![good_app], "AUTH_URL", "e.g. https://auth.example.com"),
        (vec![good_auth], "APP_URL", "e.g. https://app.example.com"),
        (
            vec![good_auth, ("APP_URL", "https://app.example.com/api")],
            "APP_URL",
            "e.g. https://app.example.com",
        ),
        (
            vec![("AUTH_URL", "auth.example.com"), good_app],
            "AUTH_URL",
            "e.g. https://auth.example.com",
        ),
        (
            vec![good_auth, good_app, ("VERIFY_ASSERTION", "yes")],
            "VERIFY_ASSERTION",
            "expected on or off",
        ),
        (
            vec![good_auth, good_app, ("IDENTITY_EMAIL_HEADER", "X Email")],
            "IDENTITY_EMAIL_HEADER",
            "e.g. X-Forwarded-Email",
        ),
    ] {
        let (code, stderr) = FlaskApp::import(&bin, &env).await;
        assert_eq!(code, Some(2), "{env:?}: {stderr}");
        assert!(
            stderr.contains(&format!("bad configuration: {named}: ")) && stderr.contains(example),
            "{env:?}: {stderr}"
        );
        assert!(!stderr.contains("Traceback"), "{stderr}");
    }
    // Verification off needs neither URL.
    let (code, stderr) = FlaskApp::import(&bin, &[("VERIFY_ASSERTION", "off")]).await;
    assert_eq!(code, Some(0), "{stderr}");
}

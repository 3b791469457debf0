//! A real browser (Debian's Chromium, driven by
//! `tests/browser/flask-app.mjs`) signs in through the gate to the Flask
//! app, in both delivery modes, and sees the Flask page with the person's
//! e-mail. The deployment runs under `example.localhost`: Chromium takes
//! `*.localhost` as loopback and as a secure context, so it keeps the
//! `__Host-` and `__Secure-` cookies over plain HTTP, and the parent-domain
//! cookie is shared between the login service and the app as in
//! production. Screenshots: `tests/artifacts/browser/flask/`.

use std::path::Path;
use std::time::Duration;

use integration_tests::app::{TestDelivery, TestOptions, LOCALHOST_HOSTS, LOCALHOST_PARENT_DOMAIN};
use integration_tests::chromium::chromium_or_skip;
use mock_provider::MockUser;

use super::{flask_stack, ALICE};

async fn signed_in_in_chromium(delivery: TestDelivery, name: &str) {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let Some(stack) = flask_stack(TestOptions {
        delivery,
        hosts: LOCALHOST_HOSTS,
        parent_domain: LOCALHOST_PARENT_DOMAIN,
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    stack.app.provider.set_user(MockUser::new(ALICE));
    let screenshot = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("artifacts/browser/flask")
        .join(format!("{name}.png"));
    let _ = std::fs::remove_file(&screenshot);
    let output = tokio::time::timeout(
        Duration::from_secs(180),
        tokio::process::Command::new("node")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/flask-app.mjs"))
            .env("APP_URL", stack.app.other_app("/"))
            .env("EMAIL", ALICE)
            .env("CHROMIUM", &chromium)
            .env("SCREENSHOT", &screenshot)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser run finishes within three minutes")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shot = std::fs::read(&screenshot).expect("a screenshot of the Flask page");
    assert!(shot.starts_with(b"\x89PNG"));
    let me: serde_json::Value = stdout
        .lines()
        .find_map(|line| line.strip_prefix("me: "))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_else(|| panic!("no /api/me answer in {stdout}"));
    assert_eq!(
        me,
        serde_json::json!({
            "email": ALICE,
            "user": MockUser::new(ALICE).sub,
            "assertion_verified": true,
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_through_the_gate_to_flask_with_code_delivery() {
    signed_in_in_chromium(TestDelivery::Code, "code-delivery").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_through_the_gate_to_flask_with_cookie_delivery() {
    signed_in_in_chromium(TestDelivery::SharedCookie, "cookie-delivery").await;
}

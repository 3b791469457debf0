//! The real-browser test: headless Chromium (Debian's package) driven by
//! `tests/browser/sign-in-flow.mjs` with `playwright-core`, against the
//! mock provider's sign-in form, the public service on `localhost` and the
//! app on `127.0.0.1` (two sites: the separate-sites delivery).
//!
//! `.ci/run` installs Chromium and the Node package and sets
//! `BROWSER_TEST_REQUIRED=1`, so there a missing piece fails the test;
//! elsewhere the test is skipped with the reason printed. Screenshots of
//! each step land in `tests/artifacts/browser/`, and of the pages at a
//! desktop and a phone width in `tests/artifacts/browser/pages/` (and of the
//! sessions page in `.../sessions/`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use integration_tests::app::{
    SecondApp, TestDelivery, TestOptions, AUTH_HOST, EXTENSION_CLIENT_ID, EXTENSION_ID,
    EXTENSION_ORIGIN, UNLISTED_EXTENSION_CLIENT_ID,
};
use integration_tests::chromium::{browser_dir, chromium_or_skip, tools};
use integration_tests::TestApp;

const ALICE: &str = "alice@example.com";

/// The shortest handoff lifetime the service accepts: the test waits for
/// the browser to drop the cookie for real.
const HANDOFF_TTL: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_renewal_and_sign_out_in_headless_chromium() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let script = browser_dir().join("sign-in-flow.mjs");
    let app = TestApp::spawn_with(TestOptions {
        delivery: TestDelivery::Code,
        hosts: ("localhost", "127.0.0.1"),
        interactive_provider: true,
        handoff_ttl: HANDOFF_TTL,
        ..TestOptions::default()
    })
    .await;
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/browser");
    // This run's screenshots only: the pages test writes beside it.
    for old in std::fs::read_dir(&artifacts)
        .into_iter()
        .flatten()
        .flatten()
    {
        if old.path().extension().is_some_and(|e| e == "png") {
            let _ = std::fs::remove_file(old.path());
        }
    }

    let mut command = tokio::process::Command::new("node");
    command
        .arg(&script)
        .env("APP_URL", app.app_url.as_str())
        .env("AUTH_URL", app.auth_url.as_str())
        .env("PROVIDER_URL", app.provider.issuer())
        .env("CHROMIUM", &chromium)
        .env("ARTIFACTS", &artifacts)
        .env("HANDOFF_TTL_SECONDS", HANDOFF_TTL.as_secs().to_string())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(180), command.output())
        .await
        .expect("the browser run finishes within three minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser run failed:\n{stdout}\n{stderr}"
    );

    for step in [
        "01-provider-sign-in",
        "02-signed-in",
        "03-renewed-after-expiry",
        "04-signed-out",
        "05-asked-to-sign-in-again",
    ] {
        let shot = artifacts.join(format!("{step}.png"));
        let bytes =
            std::fs::read(&shot).unwrap_or_else(|_| panic!("no screenshot {}", shot.display()));
        assert!(bytes.starts_with(b"\x89PNG"), "{step} is not a PNG");
    }
    assert!(stdout.contains("ok: renewal did not involve the provider"));
    integration_tests::logs::assert_no_service_panics();
}

/// Runs `tests/browser/<script>` in Chromium against a fresh stack (code
/// delivery, the provider's sign-in form, the app on `localhost` and the
/// public service on `127.0.0.1`: two sites), screenshots going to
/// `tests/artifacts/browser/<artifacts>/`; fails on the script's failure.
/// `None` (recorded as skipped) when Chromium or Node is missing and the
/// browser test is not required.
async fn run_script(script: &str, artifacts: &str) -> Option<(TestApp, String, PathBuf)> {
    let chromium = chromium_or_skip()?;
    let app = TestApp::spawn_with(TestOptions {
        delivery: TestDelivery::Code,
        hosts: ("localhost", "127.0.0.1"),
        interactive_provider: true,
        ..TestOptions::default()
    })
    .await;
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("artifacts/browser")
        .join(artifacts);
    let _ = std::fs::remove_dir_all(&artifacts);
    let output = tokio::time::timeout(
        Duration::from_secs(180),
        tokio::process::Command::new("node")
            .arg(browser_dir().join(script))
            .env("APP_URL", app.app_url.as_str())
            .env("AUTH_URL", app.auth_url.as_str())
            .env("PROVIDER_URL", app.provider.issuer())
            .env("CHROMIUM", &chromium)
            .env("ARTIFACTS", &artifacts)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{script} finishes within three minutes"))
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{stderr}"
    );
    Some((app, stdout, artifacts))
}

/// The pages a newcomer meets, at a desktop and a phone width: wording,
/// a readable expiry, Cancel on the sign-out confirmation, the app's HTML
/// 404 (JSON for API clients), a way on from every error page, the favicon.
/// Screenshots in `tests/artifacts/browser/pages/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_a_newcomer_meets_at_desktop_and_phone_widths() {
    let Some((_app, _stdout, artifacts)) = run_script("pages.mjs", "pages").await else {
        return;
    };
    for width in ["desktop", "phone"] {
        for page in [
            "01-start",
            "02-signed-in",
            "03-sign-out-confirmation",
            "04-app-not-found",
            "05-error-page",
        ] {
            let shot = artifacts.join(format!("{width}-{page}.png"));
            let bytes =
                std::fs::read(&shot).unwrap_or_else(|_| panic!("no screenshot {}", shot.display()));
            assert!(bytes.starts_with(b"\x89PNG"), "{width}-{page} is not a PNG");
        }
    }
    integration_tests::logs::assert_no_service_panics();
}

/// The id Chromium gives an unpacked extension with a `key`: the first 128
/// bits of the key's SHA-256, in the letters a to p.
fn extension_id(manifest: &serde_json::Value) -> String {
    use base64::Engine;
    use sha2::Digest;
    let key = base64::engine::general_purpose::STANDARD
        .decode(manifest["key"].as_str().expect("a key in the manifest"))
        .unwrap();
    sha2::Sha256::digest(&key)[..16]
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .map(|nibble| char::from(b'a' + nibble))
        .collect()
}

/// Runs `tests/browser/extension.mjs`: the extension signs in at the mock
/// provider with `chrome.identity.launchWebAuthFlow` (the provider's form
/// in the auth window, filled and approved by the script) and calls
/// `api_url` with its ID token; screenshots in
/// `tests/artifacts/browser/<artifacts>/`.
async fn run_extension(app: &TestApp, api_url: &str, upstream_echoes: bool, artifacts: &str) {
    let chromium = tools().expect("checked by the caller");
    let extension = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/chrome-extension");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(extension.join("manifest.json")).unwrap())
            .unwrap();
    let id = extension_id(&manifest);
    assert_eq!(id, EXTENSION_ID, "the provider registers this extension");
    assert_eq!(
        format!("chrome-extension://{id}"),
        EXTENSION_ORIGIN,
        "the apps' CORS names this extension"
    );
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("artifacts/browser")
        .join(artifacts);
    let _ = std::fs::remove_dir_all(&artifacts);
    let mut command = tokio::process::Command::new("node");
    command
        .arg(browser_dir().join("extension.mjs"))
        .env("API_URL", api_url)
        .env("PROVIDER_URL", app.provider.issuer())
        // A page of an origin no app lists: the provider's.
        .env(
            "STRANGER_PAGE_URL",
            format!("{}/.well-known/openid-configuration", app.provider.issuer()),
        )
        .env("EXTENSION_DIR", extension.canonicalize().unwrap())
        .env("EXTENSION_ID", &id)
        .env("CLIENT_ID", EXTENSION_CLIENT_ID)
        .env("UNLISTED_CLIENT_ID", UNLISTED_EXTENSION_CLIENT_ID)
        .env("EMAIL", ALICE)
        .env("CHROMIUM", &chromium)
        .env("ARTIFACTS", &artifacts)
        .kill_on_drop(true);
    if upstream_echoes {
        command.env("UPSTREAM_ECHOES", "1");
    }
    let output = tokio::time::timeout(Duration::from_secs(150), command.output())
        .await
        .expect("the extension run finishes within two and a half minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the extension run failed:\n{stdout}\n{stderr}"
    );
    for line in [
        "ok: the implicit ID-token flow",
        "ok: as the person who signed in",
        "ok: a token for another audience is refused",
        "ok: and dropped from the extension",
        "cannot read the API with the token",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    for shot in ["01-provider-sign-in", "02-provider-sign-in-other-client"] {
        let path = artifacts.join(format!("{shot}.png"));
        let bytes =
            std::fs::read(&path).unwrap_or_else(|_| panic!("no screenshot {}", path.display()));
        assert!(bytes.starts_with(b"\x89PNG"), "{shot} is not a PNG");
    }
    // Both sign-ins asked the provider for an ID token with a nonce, to
    // the extension's redirect URL.
    let asked: Vec<_> = app
        .provider
        .authorization_requests()
        .into_iter()
        .filter(|r| r.get("response_type").map(String::as_str) == Some("id_token"))
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    for request in &asked {
        assert_eq!(
            request.get("redirect_uri").map(String::as_str),
            Some(format!("https://{EXTENSION_ID}.chromiumapp.org/").as_str())
        );
        assert!(request.get("nonce").is_some_and(|n| !n.is_empty()));
    }
    integration_tests::logs::assert_no_service_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chrome_extension_signs_in_and_calls_the_app_with_its_id_token() {
    if chromium_or_skip().is_none() {
        return;
    }
    // The app's host must be one the extension may call over plain HTTP.
    let app = TestApp::spawn_with(TestOptions {
        hosts: ("localhost", "127.0.0.1"),
        delivery: TestDelivery::Code,
        interactive_provider: true,
        ..TestOptions::default()
    })
    .await;
    run_extension(&app, app.app_url.as_str(), false, "extension").await;
    // The call crossed origins for real: Chromium sent a CORS preflight
    // (the extension asks for no host permissions) and the app answered it.
    let logs = integration_tests::logs::captured();
    assert!(
        logs.contains("method=OPTIONS path=/api/me status=204"),
        "no CORS preflight reached the app"
    );
}

/// The same extension, unchanged, in front of an app in any language: the
/// gate admits its ID token (`ID_TOKEN_AUDIENCES`), answers its CORS
/// (`CORS_ALLOWED_ORIGINS`), and the upstream receives the person's
/// verified e-mail in `X-Forwarded-Email`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chrome_extension_signs_in_and_calls_an_app_behind_the_gate() {
    if chromium_or_skip().is_none() {
        return;
    }
    // The browser visits only the provider and the gate, each on a
    // loopback name of its own (with code delivery every app needs a host
    // of its own); the login service is reached by the gate alone.
    let app = TestApp::spawn_with(TestOptions {
        hosts: (AUTH_HOST, "localhost"),
        delivery: TestDelivery::Code,
        interactive_provider: true,
        second_app: true,
        second_app_kind: SecondApp::Gate,
        other_app_host: "127.0.0.1",
        ..TestOptions::default()
    })
    .await;
    let gate = app.other_app("");
    run_extension(&app, &gate, true, "extension-gate").await;
}

/// "Where you're signed in": two browsers (desktop and phone width) sign
/// in, both see both sessions, the desktop ends the phone's, and the
/// phone's app page then sends it to sign in again. Screenshots in
/// `tests/artifacts/browser/sessions/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_see_their_sessions_and_one_ends_the_other() {
    let Some((_app, stdout, artifacts)) = run_script("sessions-page.mjs", "sessions").await else {
        return;
    };
    for shot in [
        "desktop-01-sessions",
        "phone-01-sessions",
        "desktop-02-other-ended",
        "phone-02-asked-to-sign-in-again",
    ] {
        let path = artifacts.join(format!("{shot}.png"));
        let bytes =
            std::fs::read(&path).unwrap_or_else(|_| panic!("no screenshot {}", path.display()));
        assert!(bytes.starts_with(b"\x89PNG"), "{shot} is not a PNG");
    }
    assert!(stdout.contains("ok: phone: the app refused the ended session"));
    for read in [
        "desktop: the page names the account it lists",
        "phone: the secondary links sit on the content's edge",
        "desktop: the notice gives the apps' bound in seconds",
        "desktop: the start page says who is signed in",
        "fresh: sign-out says there is nothing to sign out of",
        "fresh: signing in from the sessions page leads back to it",
    ] {
        assert!(
            stdout.contains(&format!("ok: {read}")),
            "not checked: {read}\n{stdout}"
        );
    }
    integration_tests::logs::assert_no_service_panics();
}

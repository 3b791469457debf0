//! The real-browser test: headless Chromium (Debian's package) driven by
//! `tests/browser/sign-in-flow.mjs` with `playwright-core`, against the
//! mock provider's sign-in form, the public service on `localhost` and the
//! app on `127.0.0.1` (two sites: the separate-sites delivery).
//!
//! `.ci/run` installs Chromium and the Node package and sets
//! `BROWSER_TEST_REQUIRED=1`, so there a missing piece fails the test;
//! elsewhere the test is skipped with the reason printed. Screenshots of
//! each step land in `tests/artifacts/browser/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration_tests::app::{TestDelivery, TestOptions};
use integration_tests::TestApp;

/// The shortest handoff lifetime the service accepts: the test waits for
/// the browser to drop the cookie for real.
const HANDOFF_TTL: Duration = Duration::from_secs(30);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Chromium, Node and playwright-core, or why not.
fn tools() -> Result<(PathBuf, PathBuf), String> {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        return Err(format!(
            "no Chromium at {} (apt-get install chromium)",
            chromium.display()
        ));
    }
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        return Err("node is not on PATH".into());
    }
    let script = browser_dir().join("sign-in-flow.mjs");
    if !browser_dir().join("node_modules/playwright-core").exists() {
        return Err(format!(
            "playwright-core is not installed (npm ci --prefix {})",
            browser_dir().display()
        ));
    }
    Ok((chromium, script))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_renewal_and_sign_out_in_headless_chromium() {
    let (chromium, script) = match tools() {
        Ok(tools) => tools,
        Err(reason) if std::env::var_os("BROWSER_TEST_REQUIRED").is_none() => {
            eprintln!("skipped: {reason}; .ci/run installs what this test needs");
            return;
        }
        Err(reason) => panic!("the browser test is required here: {reason}"),
    };
    let app = TestApp::spawn_with(TestOptions {
        delivery: TestDelivery::Code,
        hosts: ("localhost", "127.0.0.1"),
        interactive_provider: true,
        handoff_ttl: HANDOFF_TTL,
        ..TestOptions::default()
    })
    .await;
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/browser");
    let _ = std::fs::remove_dir_all(&artifacts);

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

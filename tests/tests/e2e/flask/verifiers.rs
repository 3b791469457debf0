//! The snippets of docs/gate.md ("Checking the assertion in the app"):
//! the Flask app's verifier module (PyJWT) and
//! `examples/verify-assertion/node/verify.mjs` (jose) each accept the
//! handoff token the login service issued through the gate, and refuse
//! every attack: another issuer, another audience, expired, `alg: none`,
//! HS256 keyed with the public key, a key not published, a payload
//! altered.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use handoff_guard::HandoffClaims;
use integration_tests::app::TestOptions;
use integration_tests::tokens;
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use tokio::io::AsyncWriteExt;

use super::{cookie_name, flask_stack, signed_in, FlaskStack};

fn node_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/verify-assertion/node")
}

/// `jose` installed beside verify.mjs (with `npm ci`, from its lock), or
/// why not.
fn node_ready() -> Result<(), String> {
    if node_dir().join("node_modules/jose").exists() {
        return Ok(());
    }
    let installed = std::process::Command::new("npm")
        .args([
            "ci",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
        ])
        .arg(node_dir())
        .output()
        .map_err(|e| format!("npm does not run: {e}"))?;
    if !installed.status.success() {
        return Err(format!(
            "npm ci for examples/verify-assertion/node failed: {}",
            String::from_utf8_lossy(&installed.stderr).trim()
        ));
    }
    Ok(())
}

/// Runs a checker (`program script`) over `tokens`; its answer per name.
async fn check(
    stack: &FlaskStack,
    program: PathBuf,
    script: PathBuf,
    tokens: &BTreeMap<&str, String>,
) -> BTreeMap<String, String> {
    let request = serde_json::json!({
        "issuer": stack.app.issuer(),
        "audience": stack.app.other_app_audience(),
        "jwks_url": format!("http://{}/.well-known/jwks.json", stack.app.auth_addr),
        "tokens": tokens,
    });
    let mut child = tokio::process::Command::new(&program)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not run: {e}", program.display()));
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(request.to_string().as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "{} printed {}",
            script.display(),
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_and_node_snippets_accept_the_issued_token_and_refuse_every_attack() {
    let node = node_ready();
    if let Err(reason) = &node {
        if std::env::var_os("FLASK_TEST_REQUIRED").is_some() {
            panic!("the Node snippet's test is required here: {reason}");
        }
    }
    let Some(stack) = flask_stack(TestOptions::default()).await else {
        return;
    };
    let app = &stack.app;
    let browser = signed_in(&stack).await;
    // The token the login service issued for the app behind the gate.
    let issued = browser
        .cookie(&cookie_name(app, app.delivery))
        .expect("the app's handoff cookie")
        .value;
    let subject = tokens::decode_payload(&issued)["sub"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut claims = app.claims_for(super::ALICE);
    claims.aud = app.other_app_audience().into();
    let now = claims.iat;
    let public_pem = p256::SecretKey::from_pkcs8_pem(app.signing_pem())
        .unwrap()
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let stranger = tokens::new_p256_pem();
    let mut cases: BTreeMap<&str, String> = BTreeMap::new();
    cases.insert("issued", issued.clone());
    // Signed with the login service's key: what a leaked key could do,
    // or a token of this deployment for another app.
    cases.insert(
        "wrong issuer",
        app.sign(&with(&claims, |c| {
            c.iss = "https://login.attacker.example".into()
        })),
    );
    cases.insert(
        "wrong audience",
        app.sign(&with(&claims, |c| c.aud = app.app_audience().into())),
    );
    cases.insert(
        "expired",
        app.sign(&with(&claims, |c| {
            c.iat = now - 700;
            c.nbf = now - 700;
            c.exp = now - 100;
        })),
    );
    cases.insert(
        "not yet valid",
        app.sign(&with(&claims, |c| {
            c.nbf = now + 600;
            c.exp = now + 900;
        })),
    );
    cases.insert("alg none", tokens::alg_none(app.kid(), &claims));
    cases.insert(
        "hs256 keyed with the public key",
        tokens::hs256_with_public_key(public_pem.as_bytes(), app.kid(), &claims),
    );
    cases.insert(
        "a key not published",
        tokens::sign_es256(&stranger, "not-published", &claims),
    );
    cases.insert(
        "a stranger's key under the published kid",
        tokens::sign_es256(&stranger, app.kid(), &claims),
    );
    cases.insert("tampered payload", tokens::tamper_payload(&issued));

    let bin = integration_tests::flask::venv_bin().unwrap();
    let python = check(
        &stack,
        bin.join("python"),
        integration_tests::flask::app_dir().join("handoff_assertion.py"),
        &cases,
    )
    .await;
    assert_verdicts("python", &python, &subject);
    match node {
        Ok(()) => {
            let node = check(
                &stack,
                PathBuf::from("node"),
                node_dir().join("check.mjs"),
                &cases,
            )
            .await;
            assert_verdicts("node", &node, &subject);
        }
        Err(reason) => integration_tests::skip::record(
            "the_python_and_node_snippets_accept…::node",
            &format!("{reason}; .ci/run installs what this test needs"),
        ),
    }
}

fn assert_verdicts(language: &str, verdicts: &BTreeMap<String, String>, subject: &str) {
    assert_eq!(verdicts.len(), 10, "{language}: {verdicts:?}");
    for (case, verdict) in verdicts {
        if case == "issued" {
            assert_eq!(verdict, &format!("accepted {subject}"), "{language}");
        } else {
            assert!(
                verdict.starts_with("refused "),
                "{language} took the {case} token: {verdict}"
            );
        }
    }
}

/// `claims` with `change` made.
fn with(claims: &HandoffClaims, change: impl FnOnce(&mut HandoffClaims)) -> HandoffClaims {
    let mut changed = claims.clone();
    change(&mut changed);
    changed
}

//! Writes the seed corpora: real tokens, cookies and bodies made with the
//! fixed keys the targets use, so the fuzzer starts from inputs that pass.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example make_seeds -- fuzz/corpus`

use std::fs;
use std::path::{Path, PathBuf};

use fuzz::token::{stranger, trusted};
use fuzz::{cookie_key, AUDIENCE, ISSUER, NOW, TRANSACTION_LIFETIME};
use openidconnect::{CsrfToken, Nonce, PkceCodeVerifier};
use public_service::login_transaction::LoginTransaction;
use public_service::sessions::COOKIE_NAME;
use serde_json::json;
use handoff_guard::claims::HandoffClaims;
use handoff_guard::random::url_safe_token;

fn main() {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    handoff_tokens(&root.join("handoff_token"));
    structured_tokens(&root.join("handoff_token_structured"));
    login_transactions(&root.join("login_transaction"));
    session_cookies(&root.join("session_cookie"));
    return_tos(&root.join("return_to"));
    redemptions(&root.join("redeem_request"));
}

fn claims() -> HandoffClaims {
    HandoffClaims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: "108234567890123456789".into(),
        email: "alice@example.com".into(),
        name: Some("Alice Example".into()),
        sid: url_safe_token(16),
        iat: NOW,
        nbf: NOW,
        exp: NOW + 300,
        jti: url_safe_token(16),
    }
}

fn handoff_tokens(dir: &Path) {
    let sign = |c: &HandoffClaims| trusted().signer.sign(c).expect("signing");
    write(dir, "valid", sign(&claims()));
    let expired = HandoffClaims {
        exp: NOW - 3600,
        ..claims()
    };
    write(dir, "expired", sign(&expired));
    let elsewhere = HandoffClaims {
        aud: "https://reports.example.com:8443".into(),
        ..claims()
    };
    write(dir, "other-audience", sign(&elsewhere));
    write(
        dir,
        "stranger",
        stranger().signer.sign(&claims()).expect("signing"),
    );
}

fn structured_tokens(dir: &Path) {
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": trusted().kid}).to_string();
    let body = serde_json::to_string(&claims()).expect("claims serialise");
    write(dir, "trusted", format!("\u{0}{header}\n{body}"));
    write(dir, "stranger", format!("\u{1}{header}\n{body}"));
}

fn transaction(state: &str, created_at: u64) -> LoginTransaction {
    LoginTransaction {
        state: CsrfToken::new(state.into()),
        nonce: Nonce::new(url_safe_token(32)),
        pkce_verifier: PkceCodeVerifier::new(url_safe_token(32)),
        return_to: "https://app.example.com/reports?year=2024".into(),
        created_at,
        extra_scopes: vec!["https://www.googleapis.com/auth/drive.readonly".into()],
        consent_forced: true,
        binding: None,
    }
}

fn login_transactions(dir: &Path) {
    let state = url_safe_token(32);
    let cookie = transaction(&state, NOW).to_cookie(cookie_key(), TRANSACTION_LIFETIME);
    let header = format!("theme=dark; {}={}", cookie.name(), cookie.value());
    write(dir, "header", format!("\u{0}{state}\n{header}"));
    let old = transaction(&state, NOW - 3600).to_cookie(cookie_key(), TRANSACTION_LIFETIME);
    write(
        dir,
        "header-expired",
        format!("\u{0}{state}\n{}={}", old.name(), old.value()),
    );
    let plaintext = serde_json::to_string(&transaction(&state, NOW)).expect("JSON");
    write(dir, "sealed", format!("\u{1}{state}\n{state}\n{plaintext}"));
}

fn session_cookies(dir: &Path) {
    let value = format!("{}.{}", url_safe_token(16), url_safe_token(32));
    write(dir, "alone", format!("\u{0}{COOKIE_NAME}={value}"));
    write(
        dir,
        "among-others",
        format!("\u{0}_ga=GA1.1.123; {COOKIE_NAME}={value}; __Host-handoff=x.y.z"),
    );
}

fn return_tos(dir: &Path) {
    // The first byte picks a start (see the target); 5 is "" (the whole URL).
    let seeds: [(&str, u8, &str); 6] = [
        ("app-path", 0, "/reports?year=2024#summary"),
        ("port", 1, "/"),
        ("ipv4", 2, "/tasks/42"),
        ("ipv6", 3, "/?a=b&c=d"),
        ("idn", 4, "/katalog"),
        ("whole-url", 5, "https://app.example.com/page?x=1"),
    ];
    for (name, choice, rest) in seeds {
        let mut bytes = vec![choice];
        bytes.extend_from_slice(rest.as_bytes());
        write(dir, name, bytes);
    }
}

fn redemptions(dir: &Path) {
    // The caller's ID token is only read here, not verified: any JWT shape.
    let bearer = trusted().signer.sign(&claims()).expect("signing");
    let body = json!({"code": url_safe_token(32), "audience": AUDIENCE, "verifier": url_safe_token(32)})
        .to_string();
    write(dir, "redeem", format!("\u{0}Bearer {bearer}\n{body}"));
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) {
    fs::create_dir_all(dir).expect("corpus directory");
    fs::write(dir.join(format!("seed-{name}")), contents).expect("seed file");
}

//! Writes the seed corpora: real tokens, cookies and bodies made with the
//! fixed keys the targets use, so the fuzzer starts from inputs that pass.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example make_seeds -- fuzz/corpus`

use std::fs;
use std::path::{Path, PathBuf};

use fuzz::provider::{provider_ec, stranger_ec, stranger_rsa, CLIENT_ID, PROVIDER, SUBJECT};
use fuzz::token::{stranger, trusted};
use fuzz::{cookie_key, AUDIENCE, ISSUER, NOW, TRANSACTION_LIFETIME};
use openidconnect::{CsrfToken, Nonce, PkceCodeVerifier};
use public_service::login_transaction::LoginTransaction;
use public_service::oidc::logout_token::BACKCHANNEL_LOGOUT_EVENT;
use public_service::sessions::COOKIE_NAME;
use serde_json::json;
use handoff_guard::HandoffClaims;
use service_kit::random::url_safe_token;

fn main() {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    handoff_tokens(&root.join("handoff_token"));
    structured_tokens(&root.join("handoff_token_structured"));
    login_transactions(&root.join("login_transaction"));
    session_cookies(&root.join("session_cookie"));
    return_tos(&root.join("return_to"));
    redemptions(&root.join("redeem_request"));
    logout_tokens(&root.join("logout_token"));
    userinfo_answers(&root.join("userinfo"));
    logout_forms(&root.join("logout_form"));
    back_channel_bodies(&root.join("back_channel_json"));
    revocation_feed(&root.join("revocation_feed"));
}

fn claims() -> HandoffClaims {
    HandoffClaims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: "108234567890123456789".into(),
        email: "alice@example.com".into(),
        name: Some("Alice Example".into()),
        sid: url_safe_token(16).into(),
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
        to_sessions_page: false,
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

/// A logout token's header and claims as a provider writes them.
fn logout_parts() -> (String, String) {
    let header = json!({"alg": "ES256", "typ": "logout+jwt", "kid": provider_ec().kid}).to_string();
    let claims = json!({
        "iss": PROVIDER,
        "aud": CLIENT_ID,
        "iat": NOW,
        "exp": NOW + 120,
        "jti": url_safe_token(16),
        "sub": SUBJECT,
        "sid": "provider-session-1",
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    })
    .to_string();
    (header, claims)
}

fn logout_tokens(dir: &Path) {
    let (header, claims) = logout_parts();
    // Mode 0 takes strings no published key signed.
    let stranger = stranger_ec().sign(header.as_bytes(), claims.as_bytes());
    write(dir, "raw-stranger", format!("\u{0}{stranger}"));
    let unsigned = format!(
        "{}.{}.",
        fuzz::token::b64(br#"{"alg":"none"}"#),
        fuzz::token::b64(claims.as_bytes())
    );
    write(dir, "raw-unsigned", format!("\u{0}{unsigned}"));
    write(dir, "provider", format!("\u{1}{header}\n{claims}"));
    let sid_only = claims.replace(&format!(r#""sub":"{SUBJECT}","#), "");
    write(
        dir,
        "provider-sid-only",
        format!("\u{1}{header}\n{sid_only}"),
    );
    write(dir, "stranger", format!("\u{2}{header}\n{claims}"));
    // Mode 3 reads choices with `arbitrary`; an exhausted input makes
    // every choice its first: a token the provider's P-256 key signed.
    write(dir, "structured-ec", b"\x03");
    // The same with alg RS256 (the second of three algorithms) signed by
    // the RSA key (the second of five signers): a u32 each picks them.
    let mut rsa = vec![3];
    rsa.extend([0x80; 4]); // alg
    rsa.extend([0; 4 + 1 + 1]); // kid, typ, crit
    rsa.extend([0x40; 4]); // signer
    write(dir, "structured-rsa", rsa);
}

fn userinfo_answers(dir: &Path) {
    // Mode 0, then a byte: status 200, a content type (low bits) and the
    // ID token's claims (bits 3 to 6).
    let answer = json!({
        "sub": SUBJECT,
        "email": "alice@example.com",
        "email_verified": true,
        "name": "Alice Example",
        "name#de": "Alice Beispiel",
        "hd": "example.com",
    })
    .to_string();
    write(dir, "json-bare-id-token", format!("\u{0}\u{1}{answer}"));
    write(
        dir,
        "json-email-in-id-token",
        [b"\x00\x09", answer.as_bytes()].concat(),
    );
    let other = answer.replace(SUBJECT, "108999999999999999999");
    write(dir, "json-other-subject", format!("\u{0}\u{1}{other}"));
    let header = json!({"alg": "RS256", "kid": stranger_rsa().kid, "typ": "JWT"}).to_string();
    let claims =
        json!({"iss": PROVIDER, "aud": CLIENT_ID, "sub": SUBJECT, "email": "alice@example.com"})
            .to_string();
    let jwt = stranger_rsa().sign(header.as_bytes(), claims.as_bytes());
    write(dir, "jwt-stranger", format!("\u{0}\u{3}{jwt}"));
    // Mode 1 reads choices with `arbitrary`; an exhausted input makes
    // every choice its first: a JSON answer about the ID token's subject.
    write(dir, "structured-json", b"\x01");
    // The same as a JWT the provider signed: nine options (the ID token's
    // four, then five claims) absent and the sub ours, then the second
    // form.
    let mut jwt = vec![1];
    jwt.extend([0; 4 + 4 + 5]);
    jwt.extend([0xff; 4]);
    write(dir, "structured-jwt", jwt);
}

fn logout_forms(dir: &Path) {
    let (header, claims) = logout_parts();
    let token = provider_ec().sign(header.as_bytes(), claims.as_bytes());
    let form = "application/x-www-form-urlencoded";
    write(dir, "one", format!("\u{0}{form}\nlogout_token={token}"));
    write(
        dir,
        "charset",
        format!("\u{0}{form}; charset=UTF-8\nstate=x&logout_token={token}"),
    );
    write(
        dir,
        "repeated",
        format!("\u{0}{form}\nlogout_token={token}&logout%5Ftoken=x"),
    );
}

fn back_channel_bodies(dir: &Path) {
    let broker = json!({
        "subject": SUBJECT,
        "scopes": ["https://www.googleapis.com/auth/drive.readonly"],
    });
    write(dir, "broker", format!("\u{0}{broker}"));
    let token = trusted().signer.sign(&claims()).expect("signing");
    write(
        dir,
        "sign-out",
        format!("\u{0}{}", json!({ "handoff_token": token })),
    );
}

fn revocation_feed(dir: &Path) {
    write(
        dir,
        "query",
        format!("\u{0}since={}&after={}", NOW - 60, url_safe_token(16)),
    );
    write(dir, "query-first", format!("\u{0}since={NOW}"));
    let page = json!({
        "revoked": [
            { "sid": url_safe_token(16), "revoked_at": NOW - 30 },
            { "sid": url_safe_token(16), "revoked_at": NOW - 5 },
        ],
        "now": NOW,
        "more": false,
    });
    write(dir, "page", format!("\u{1}{page}"));
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) {
    fs::create_dir_all(dir).expect("corpus directory");
    fs::write(dir.join(format!("seed-{name}")), contents).expect("seed file");
}

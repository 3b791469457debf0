//! The login-transaction cookie as the callback reads it: any Cookie
//! header (mode byte 0, then `state\nheader`), any plaintext sealed with
//! the key, i.e. what is parsed after decryption (mode 1, then
//! `sealed for state\nstate\nplaintext`), and transactions the service
//! wrote, opened for another state or at another time (mode 2). Whatever opens is for the state asked about
//! and inside its lifetime; a transaction the service wrote opens exactly
//! when the model says so, with every field intact.
#![no_main]

use actix_web::cookie::{Cookie, CookieJar};
use fuzz::{cookie_key, request_with_cookies, NOW, TRANSACTION_LIFETIME};
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use openidconnect::{CsrfToken, Nonce, PkceCodeVerifier};
use public_service::login_transaction::{LoginTransaction, TransactionError};

#[derive(Arbitrary, Debug)]
struct Modelled {
    state: String,
    nonce: String,
    pkce_verifier: String,
    return_to: String,
    extra_scopes: Vec<String>,
    consent_forced: bool,
    to_sessions_page: bool,
    created_offset: i32,
    opened_for: Option<String>,
}

fuzz_target!(|data: &[u8]| {
    let Some(&mode) = data.first() else {
        return;
    };
    if mode % 3 == 2 {
        if let Ok(input) = Modelled::arbitrary_take_rest(Unstructured::new(&data[1..])) {
            modelled(input);
        }
        return;
    }
    let Some((_, [first, second, rest])) = fuzz::fields(data) else {
        return;
    };
    if mode % 3 == 0 {
        // `state`, then the header (which may not hold a newline anyway).
        let (state, cookie_header) = (first, [second, rest].join("\n"));
        if let Some(req) = request_with_cookies(&cookie_header) {
            check(&open(&req, state), state);
        }
    } else {
        sealed(first, second, rest);
    }
});

fn sealed(sealed_for: &str, state: &str, plaintext: &str) {
    let name = LoginTransaction::cookie_name(sealed_for);
    let mut jar = CookieJar::new();
    jar.private_mut(cookie_key())
        .add(Cookie::new(name.clone(), plaintext.to_owned()));
    let sealed = jar.get(&name).expect("the cookie just added").value();
    let Some(req) = request_with_cookies(&format!("{name}={sealed}")) else {
        panic!("a sealed cookie is not a valid header value");
    };
    check(&open(&req, state), state);
}

fn modelled(input: Modelled) {
    let Modelled {
        state,
        nonce,
        pkce_verifier,
        return_to,
        extra_scopes,
        consent_forced,
        to_sessions_page,
        created_offset,
        opened_for,
    } = input;
    let written = LoginTransaction {
        state: CsrfToken::new(state),
        nonce: Nonce::new(nonce),
        pkce_verifier: PkceCodeVerifier::new(pkce_verifier),
        return_to,
        created_at: NOW.saturating_add_signed(i64::from(created_offset)),
        extra_scopes,
        consent_forced,
        binding: None,
        to_sessions_page,
    };
    let cookie = written.to_cookie(cookie_key(), TRANSACTION_LIFETIME);
    let asked = opened_for.unwrap_or_else(|| written.state.secret().clone());
    let Some(req) = request_with_cookies(&format!("{}={}", cookie.name(), cookie.value())) else {
        panic!("a sealed cookie is not a valid header value");
    };
    let opened = open(&req, &asked);
    check(&opened, &asked);
    let in_time = NOW.saturating_sub(written.created_at) <= TRANSACTION_LIFETIME.as_secs()
        && written.created_at <= NOW + 60;
    let expected = match (&asked == written.state.secret(), in_time) {
        (false, _) if LoginTransaction::cookie_name(&asked) != cookie.name() => {
            Err(TransactionError::NotFound)
        }
        (false, _) => Err(TransactionError::StateMismatch),
        (true, false) => Err(TransactionError::Expired),
        (true, true) => Ok(()),
    };
    assert_eq!(opened.as_ref().map(|_| ()).map_err(|e| *e), expected);
    if let Ok(read) = opened {
        assert_eq!(read.state.secret(), written.state.secret());
        assert_eq!(read.nonce.secret(), written.nonce.secret());
        assert_eq!(read.pkce_verifier.secret(), written.pkce_verifier.secret());
        assert_eq!(read.return_to, written.return_to);
        assert_eq!(read.created_at, written.created_at);
        assert_eq!(read.extra_scopes, written.extra_scopes);
        assert_eq!(read.consent_forced, written.consent_forced);
        assert_eq!(read.to_sessions_page, written.to_sessions_page);
    }
}

fn open(req: &actix_web::HttpRequest, state: &str) -> Result<LoginTransaction, TransactionError> {
    LoginTransaction::from_request(req, state, cookie_key(), NOW, TRANSACTION_LIFETIME)
}

/// What holds of any transaction that opens for `state`.
fn check(opened: &Result<LoginTransaction, TransactionError>, state: &str) {
    let Ok(tx) = opened else {
        return;
    };
    assert_eq!(tx.state.secret(), state, "opened another state's transaction");
    assert!(
        NOW.saturating_sub(tx.created_at) <= TRANSACTION_LIFETIME.as_secs(),
        "opened an expired transaction"
    );
    assert!(
        tx.created_at <= NOW + 60,
        "opened a transaction from the future"
    );
}

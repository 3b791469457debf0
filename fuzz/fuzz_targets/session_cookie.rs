//! The `__Host-session` cookie as every session route reads it
//! (`sessions::presented`), from any Cookie header (mode byte 0, then the
//! header) or from an id and secret put into one (mode 1). What it reads is an
//! id and a secret of URL-safe characters that make up the whole cookie
//! value; an id and secret the service could have issued are read back
//! exactly, and values with other characters are not read at all.
#![no_main]

use fuzz::request_with_cookies;
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use public_service::sessions::{presented, COOKIE_NAME};

/// Longest cookie value the service reads (it issues far shorter ones).
const MAX_COOKIE_LEN: usize = 128;

#[derive(Arbitrary, Debug)]
struct Parts {
    id: String,
    secret: String,
    before: Option<String>,
}

// Mode byte 0: the rest is a Cookie header (seedable); otherwise parts.
fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(header) = std::str::from_utf8(rest) {
            any_header(header);
        }
    } else if let Ok(parts) = Parts::arbitrary_take_rest(Unstructured::new(rest)) {
        issued_parts(parts);
    }
});

fn any_header(header: &str) {
    let Some(req) = request_with_cookies(header) else {
        return;
    };
    if let Some((id, secret)) = presented(&req) {
        assert!(url_safe(&id) && url_safe(&secret), "read {id:?}.{secret:?}");
        // Read from exactly one pair named exactly `__Host-session`.
        let value = handoff_guard::login_service::cookie_value(&req, COOKIE_NAME)
            .expect("a session cookie was read");
        assert_eq!(value, format!("{id}.{secret}"));
        assert!(value.len() <= MAX_COOKIE_LEN);
    }
}

fn issued_parts(Parts { id, secret, before }: Parts) {
    let cookie = format!("{COOKIE_NAME}={id}.{secret}");
    let header = match before {
        // Another cookie first, as browsers send several.
        Some(other) if url_safe(&other) => format!("other={other}; {cookie}"),
        _ => cookie,
    };
    let Some(req) = request_with_cookies(&header) else {
        return;
    };
    let read = presented(&req);
    let issuable =
        url_safe(&id) && url_safe(&secret) && id.len() + 1 + secret.len() <= MAX_COOKIE_LEN;
    if issuable {
        assert_eq!(read, Some((id, secret)));
    } else if plain(&id) && plain(&secret) {
        assert_eq!(read, None, "read a malformed session cookie");
    }
}

/// The alphabet of issued ids and secrets.
fn url_safe(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Free of what a Cookie header itself gives meaning to (separators,
/// quotes, percent-escapes), so the cookie value is exactly the text.
fn plain(s: &str) -> bool {
    !s.chars().any(|c| {
        matches!(c, ';' | '%' | '"' | ',' | '=' | '\\') || c.is_whitespace() || c.is_control()
    })
}

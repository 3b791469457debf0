//! The `Cookie` header reader every cookie of ours goes through
//! (`handoff_guard::login_service::cookie_header`), on any bytes: up to three header
//! values, split at newlines (which a header value cannot hold).
//!
//! What a name that is not exactly ours must do: nothing. A pair is read
//! for one of our names only when the bytes before its `=` (once the
//! header's own SP/HTAB around the pair are gone) are exactly that name;
//! percent-escapes, Unicode whitespace, case or quotes in a name never
//! make it ours; a name of ours sent twice is refused, never resolved to
//! one of the copies. The reader must agree with a plain model of RFC 6265
//! §4.2.1 written out below, and never panic.
#![no_main]

use handoff_guard::login_service::cookie_header::{find, pairs, Lookup};
use libfuzzer_sys::fuzz_target;

/// Our names, one of each kind the services read.
const OURS: [&str; 5] = [
    "__Host-session",
    "__Host-handoff",
    "__Host-handoff-verifier",
    "__Host-login-0123456789abcdef",
    "__Secure-handoff-0123456789abcdef",
];

fuzz_target!(|data: &[u8]| {
    let headers: Vec<&[u8]> = data.split(|&b| b == b'\n').take(3).collect();
    for name in OURS {
        check(&headers, name);
    }
    // And every name the input itself uses, with its look-alikes.
    for (name, _) in pairs(headers.iter().copied()) {
        if let Ok(name) = std::str::from_utf8(name) {
            check(&headers, name);
        }
    }
});

fn check(headers: &[&[u8]], name: &str) {
    let got = find(headers.iter().copied(), name);
    assert_eq!(got, model(headers, name), "name {name:?}");
    if let Lookup::Found(value) = got {
        // The value is a piece of one header, not something decoded.
        let inside = headers.iter().any(|h| {
            let (start, end) = (h.as_ptr() as usize, h.as_ptr() as usize + h.len());
            let at = value.as_ptr() as usize;
            at >= start && at + value.len() <= end
        });
        assert!(inside, "the value of {name:?} was not read in place");
    }
}

/// RFC 6265 §4.2.1 as plainly as it can be written: pairs separated by
/// `;`, optional SP/HTAB around each, a name up to the first `=`, an
/// optional pair of double quotes around the value.
fn model<'a>(headers: &[&'a [u8]], name: &str) -> Lookup<'a> {
    let mut values: Vec<&'a [u8]> = Vec::new();
    for header in headers {
        for piece in header.split(|&b| b == b';') {
            let mut piece: &[u8] = piece;
            while let [b' ' | b'\t', rest @ ..] = piece {
                piece = rest;
            }
            while let [rest @ .., b' ' | b'\t'] = piece {
                piece = rest;
            }
            let Some(eq) = piece.iter().position(|&b| b == b'=') else {
                continue;
            };
            if &piece[..eq] == name.as_bytes() {
                let mut value = &piece[eq + 1..];
                if value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' {
                    value = &value[1..value.len() - 1];
                }
                values.push(value);
            }
        }
    }
    match values.as_slice() {
        [] => Lookup::Absent,
        [value] => std::str::from_utf8(value).map_or(Lookup::Malformed, Lookup::Found),
        _ => Lookup::Ambiguous,
    }
}

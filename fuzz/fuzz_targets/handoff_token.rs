//! Any string as a handoff token (the cookie value or a Bearer token):
//! the verifier never panics, never waits with static keys, and whatever
//! it accepts is one of our tokens for this app, in its lifetime.
#![no_main]

use fuzz::token::{assert_acceptable, verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(claims) = fuzz::ready(verifier().verify(token)) {
        assert_acceptable(token, &claims);
    }
});

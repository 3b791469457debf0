//! URL-safe random values from `rand`'s thread-local CSPRNG.
//!
//! `rand::thread_rng()` is ChaCha12 seeded from the operating system and
//! reseeded from it periodically (<https://docs.rs/rand/0.8/rand/rngs/struct.ThreadRng.html>):
//! unpredictable as the OS source, without a system call per value (the
//! login redirect draws several per request). Long-lived keys are still
//! generated from `OsRng` directly (`handoff_guard::login_service::SigningKey`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

/// Values up to this many bytes are drawn into a buffer on the stack.
const STACK_BYTES: usize = 64;

/// `bytes` random bytes, base64url without padding.
pub fn url_safe_token(bytes: usize) -> String {
    let mut rng = rand::thread_rng();
    if bytes <= STACK_BYTES {
        let mut buf = [0u8; STACK_BYTES];
        rng.fill_bytes(&mut buf[..bytes]);
        URL_SAFE_NO_PAD.encode(&buf[..bytes])
    } else {
        let mut buf = vec![0u8; bytes];
        rng.fill_bytes(&mut buf);
        URL_SAFE_NO_PAD.encode(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_length_asked_for_and_differ() {
        for bytes in [6, 32, STACK_BYTES, STACK_BYTES + 1, 100] {
            let (a, b) = (url_safe_token(bytes), url_safe_token(bytes));
            assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), bytes);
            assert_ne!(a, b, "two draws of {bytes} bytes are different");
        }
    }
}

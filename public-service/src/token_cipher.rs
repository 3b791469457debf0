//! Encryption of provider tokens at rest: AES-256-GCM with a key ring.
//!
//! Every ciphertext is stored with the id of the key that sealed it, so
//! keys can rotate: the first key of the ring seals, every key in the ring
//! opens. The associated data binds a ciphertext to its row and column
//! (`refresh_token:<subject>`), so a ciphertext copied into another user's
//! row, or from the access-token column into the refresh-token column, does
//! not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;

/// A sealed value and the id of the key that sealed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    /// Nonce followed by ciphertext and tag.
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error("no key with id {0:?} is configured (was it removed from the ring?)")]
    UnknownKey(String),
    #[error("the ciphertext does not open (tampered, moved, or sealed by another key)")]
    Unopenable,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    #[error("no key given")]
    Empty,
    #[error("entry {0}: expected <key id>:<base64 of 32 bytes>")]
    Shape(usize),
    #[error("entry {0}: the key is not 32 bytes of base64")]
    KeyLength(usize),
    #[error("key id {0:?} appears twice")]
    DuplicateId(String),
}

struct RingKey {
    id: String,
    cipher: Aes256Gcm,
}

pub struct TokenCipher {
    // The first key seals; all of them open.
    keys: Vec<RingKey>,
}

impl TokenCipher {
    /// Parses `id:base64key` entries separated by commas or whitespace,
    /// newest (sealing) key first.
    pub fn from_key_ring(ring: &SecretString) -> Result<Self, KeyRingError> {
        let mut keys: Vec<RingKey> = Vec::new();
        let entries = ring
            .expose_secret()
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty());
        for (index, entry) in entries.enumerate() {
            let position = index + 1;
            let (id, encoded) = entry.split_once(':').ok_or(KeyRingError::Shape(position))?;
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(KeyRingError::Shape(position));
            }
            let bytes = STANDARD
                .decode(encoded)
                .ok()
                .filter(|b| b.len() == KEY_LEN)
                .ok_or(KeyRingError::KeyLength(position))?;
            if keys.iter().any(|k| k.id == id) {
                return Err(KeyRingError::DuplicateId(id.to_owned()));
            }
            keys.push(RingKey {
                id: id.to_owned(),
                cipher: Aes256Gcm::new_from_slice(&bytes)
                    .map_err(|_| KeyRingError::KeyLength(position))?,
            });
        }
        if keys.is_empty() {
            return Err(KeyRingError::Empty);
        }
        Ok(Self { keys })
    }

    /// A ring of one random key (dev mode and tests): nothing sealed with it
    /// survives a restart.
    pub fn ephemeral() -> Self {
        let ring = format!("dev:{}", STANDARD.encode(random_bytes::<KEY_LEN>()));
        Self::from_key_ring(&SecretString::from(ring)).expect("a well-formed generated ring")
    }

    pub fn sealing_key_id(&self) -> &str {
        &self.keys[0].id
    }

    pub fn seal(&self, plaintext: &str, context: &str) -> Sealed {
        let key = &self.keys[0];
        let nonce = random_bytes::<NONCE_LEN>();
        let ciphertext = key
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a short token cannot fail");
        let mut bytes = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Sealed {
            key_id: key.id.clone(),
            bytes,
        }
    }

    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<SecretString, CipherError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| CipherError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.bytes.len() < NONCE_LEN {
            return Err(CipherError::Unopenable);
        }
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CipherError::Unopenable)?;
        let plaintext = key
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CipherError::Unopenable)?;
        String::from_utf8(plaintext)
            .map(SecretString::from)
            .map_err(|_| CipherError::Unopenable)
    }

    /// The ids of the ring's keys, the sealing one first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    /// Whether `sealed` was sealed by an older key and should be re-sealed.
    pub fn is_stale(&self, sealed: &Sealed) -> bool {
        sealed.key_id != self.keys[0].id
    }
}

/// Nonces (and the throwaway development key) come from the thread-local
/// CSPRNG, as `handoff_guard::random` explains: a random 96-bit GCM nonce
/// needs unpredictability and no repeats, not a system call each.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(entries: &[(&str, [u8; 32])]) -> SecretString {
        SecretString::from(
            entries
                .iter()
                .map(|(id, key)| format!("{id}:{}", STANDARD.encode(key)))
                .collect::<Vec<_>>()
                .join(","),
        )
    }

    #[test]
    fn a_sealed_token_opens_in_its_context_only() {
        let cipher = TokenCipher::from_key_ring(&ring(&[("k1", [1; 32])])).unwrap();
        let sealed = cipher.seal("1//refresh-token", "refresh_token:alice");
        assert_eq!(sealed.key_id, "k1");
        assert!(!sealed
            .bytes
            .windows(b"refresh-token".len())
            .any(|w| w == b"refresh-token"));
        let opened = cipher.open(&sealed, "refresh_token:alice").unwrap();
        assert_eq!(opened.expose_secret(), "1//refresh-token");
        assert_eq!(
            cipher.open(&sealed, "refresh_token:mallory").err(),
            Some(CipherError::Unopenable)
        );
        assert_eq!(
            cipher.open(&sealed, "access_token:alice").err(),
            Some(CipherError::Unopenable)
        );
    }

    #[test]
    fn a_flipped_bit_does_not_open() {
        let cipher = TokenCipher::ephemeral();
        let mut sealed = cipher.seal("token", "ctx");
        let last = sealed.bytes.len() - 1;
        sealed.bytes[last] ^= 1;
        assert_eq!(
            cipher.open(&sealed, "ctx").err(),
            Some(CipherError::Unopenable)
        );
        sealed.bytes.truncate(5);
        assert_eq!(
            cipher.open(&sealed, "ctx").err(),
            Some(CipherError::Unopenable)
        );
    }

    #[test]
    fn old_keys_open_and_the_newest_seals() {
        let old = TokenCipher::from_key_ring(&ring(&[("k1", [1; 32])])).unwrap();
        let sealed_by_old = old.seal("token", "ctx");

        let rotated =
            TokenCipher::from_key_ring(&ring(&[("k2", [2; 32]), ("k1", [1; 32])])).unwrap();
        assert_eq!(
            rotated.open(&sealed_by_old, "ctx").unwrap().expose_secret(),
            "token"
        );
        assert!(rotated.is_stale(&sealed_by_old));
        let resealed = rotated.seal("token", "ctx");
        assert_eq!(resealed.key_id, "k2");
        assert!(!rotated.is_stale(&resealed));

        let retired = TokenCipher::from_key_ring(&ring(&[("k2", [2; 32])])).unwrap();
        assert_eq!(
            retired.open(&sealed_by_old, "ctx").err(),
            Some(CipherError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn malformed_rings_are_refused_with_the_entry_named() {
        let parse = |s: &str| TokenCipher::from_key_ring(&SecretString::from(s.to_owned())).err();
        assert_eq!(parse(""), Some(KeyRingError::Empty));
        assert_eq!(parse("nokey"), Some(KeyRingError::Shape(1)));
        assert_eq!(
            parse(&format!("k1:{},k2:c2hvcnQ=", STANDARD.encode([0u8; 32]))),
            Some(KeyRingError::KeyLength(2))
        );
        let key = STANDARD.encode([0u8; 32]);
        assert_eq!(
            parse(&format!("k1:{key} k1:{key}")),
            Some(KeyRingError::DuplicateId("k1".into()))
        );
    }
}

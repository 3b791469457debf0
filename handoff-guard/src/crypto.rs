//! Signature checks on `ring`, under `jsonwebtoken`'s validation.
//!
//! A token the cache has never seen (every new sign-in, and every forged
//! token an attacker sends) costs one full signature check, so that check
//! bounds how many such tokens an app answers per second. `jsonwebtoken`'s
//! RustCrypto backend checks ES256 in portable field arithmetic and, per
//! token, parses the key again; `ring` (already in every build here, under
//! rustls) uses the assembly P-256 and RSA code of BoringSSL's lineage.
//! `jsonwebtoken` lets a process pick its signature backend with a
//! [`CryptoProvider`]: this one checks ES256, ES384, RS256/384/512 and
//! PS256/384/512 with `ring` and hands everything else (signing, HMAC,
//! EdDSA) to `jsonwebtoken`'s own RustCrypto provider. An RSA key under
//! 2048 bits checks nothing: `ring` refuses it, and it is not handed on to
//! RustCrypto, which would take it (a key that short can be factored;
//! docs/security.md, "RSA keys under 2048 bits"). The key sets of
//! [`crate::jwks`] leave such keys out already; this holds for a key that
//! reaches `jsonwebtoken` some other way. Parsing, the algorithm allowlist
//! and every claim check stay `jsonwebtoken`'s: only the arithmetic moves.
//! The measurement is in `docs/crate-choices.md`.
//!
//! A process has one provider, chosen on its first `jsonwebtoken` call;
//! every verifier of this crate calls [`install`] when it is made, and a
//! host that installed its own provider first (say `aws_lc_rs`) keeps it.

use jsonwebtoken::crypto::{rust_crypto, CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::signature as ring_sig;

/// The provider: `ring` for the checks it does well, RustCrypto otherwise.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    jwk_utils: JwkUtils {
        extract_rsa_public_key_components: |der| {
            (rust_crypto::DEFAULT_PROVIDER
                .jwk_utils
                .extract_rsa_public_key_components)(der)
        },
        extract_ec_public_key_coordinates: |der, alg| {
            (rust_crypto::DEFAULT_PROVIDER
                .jwk_utils
                .extract_ec_public_key_coordinates)(der, alg)
        },
        compute_digest: |data, hash| {
            (rust_crypto::DEFAULT_PROVIDER.jwk_utils.compute_digest)(data, hash)
        },
    },
};

/// Makes [`PROVIDER`] this process's `jsonwebtoken` backend, unless one was
/// chosen already. Returns whether [`PROVIDER`] is the backend.
pub fn install() -> bool {
    match PROVIDER.install_default() {
        Ok(()) => true,
        Err(chosen) => std::ptr::eq(chosen, &PROVIDER),
    }
}

fn signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    (rust_crypto::DEFAULT_PROVIDER.signer_factory)(alg, key)
}

fn verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    let ring_alg: &'static dyn ring_sig::VerificationAlgorithm = match alg {
        Algorithm::ES256 => &ring_sig::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &ring_sig::ECDSA_P384_SHA384_FIXED,
        _ => match rsa_parameters(*alg) {
            Some(parameters) => parameters,
            None => return (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(alg, key),
        },
    };
    let public_key = match (alg.family(), key.family(), key.kind()) {
        (AlgorithmFamily::Ec, AlgorithmFamily::Ec, DecodingKeyKind::SecretOrDer(point)) => {
            PublicKey::Encoded(point.clone())
        }
        (AlgorithmFamily::Rsa, AlgorithmFamily::Rsa, DecodingKeyKind::SecretOrDer(der)) => {
            // Measured here, not left to `ring` (which reads the modulus
            // only when it checks): a key whose modulus cannot be read, or
            // is under 2048 bits, is refused outright.
            long_enough(rsa_modulus_bits_of_der(der))?;
            PublicKey::Encoded(der.clone())
        }
        (
            AlgorithmFamily::Rsa,
            AlgorithmFamily::Rsa,
            DecodingKeyKind::RsaModulusExponent { n, e },
        ) => {
            long_enough(Some(significant_bits(n)))?;
            PublicKey::Components {
                n: n.clone(),
                e: e.clone(),
            }
        }
        _ => return Err(ErrorKind::InvalidKeyFormat.into()),
    };
    Ok(Box::new(RingVerifier {
        alg: *alg,
        ring_alg,
        public_key,
    }))
}

enum PublicKey {
    /// An EC point (SEC1) or an RSA key (PKCS#1 `RSAPublicKey` DER): what
    /// `ring`'s `UnparsedPublicKey` takes for these algorithms.
    Encoded(Vec<u8>),
    Components {
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

struct RingVerifier {
    alg: Algorithm,
    ring_alg: &'static dyn ring_sig::VerificationAlgorithm,
    public_key: PublicKey,
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, message: &[u8], sig: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        let checked = match &self.public_key {
            PublicKey::Encoded(bytes) => {
                ring_sig::UnparsedPublicKey::new(self.ring_alg, bytes).verify(message, sig)
            }
            PublicKey::Components { n, e } => {
                let params = rsa_parameters(self.alg).ok_or_else(signature::Error::new)?;
                ring_sig::RsaPublicKeyComponents { n, e }.verify(params, message, sig)
            }
        };
        checked.map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn rsa_parameters(alg: Algorithm) -> Option<&'static ring_sig::RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &ring_sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &ring_sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &ring_sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &ring_sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &ring_sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &ring_sig::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

/// The shortest RSA modulus, in bits, that checks a signature here.
pub const MIN_RSA_MODULUS_BITS: usize = 2048;

/// An RSA key of `bits` (`None`: unreadable) may check signatures.
fn long_enough(bits: Option<usize>) -> Result<()> {
    match bits {
        Some(bits) if bits >= MIN_RSA_MODULUS_BITS => Ok(()),
        Some(bits) => Err(ErrorKind::InvalidRsaKey(format!(
            "a {bits}-bit modulus, under {MIN_RSA_MODULUS_BITS} bits"
        ))
        .into()),
        None => Err(ErrorKind::InvalidRsaKey("the modulus cannot be read".into()).into()),
    }
}

/// The bit length of an RSA JWK's `n` (base64url, RFC 7518 6.3.1.1);
/// `None` when it is not base64url.
pub fn rsa_modulus_bits_of_jwk(n: &str) -> Option<usize> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let bytes = URL_SAFE_NO_PAD.decode(n.trim_end_matches('=')).ok()?;
    Some(significant_bits(&bytes))
}

/// The bit length of a big-endian unsigned integer.
fn significant_bits(bytes: &[u8]) -> usize {
    match bytes.iter().position(|&b| b != 0) {
        Some(first) => (bytes.len() - first) * 8 - bytes[first].leading_zeros() as usize,
        None => 0,
    }
}

/// The modulus's bit length in a PKCS#1 `RSAPublicKey` (a DER SEQUENCE of
/// two INTEGERs, the modulus first); `None` when it is not one.
fn rsa_modulus_bits_of_der(der: &[u8]) -> Option<usize> {
    let (tag, body, _) = der_element(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, modulus, _) = der_element(body)?;
    (tag == 0x02).then(|| significant_bits(modulus))
}

/// One DER element: its tag, its contents and what follows it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, Header};
    use p256::pkcs8::EncodePrivateKey;
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rsa::traits::PublicKeyParts;

    #[test]
    fn a_verifier_makes_this_the_backend() {
        let _ = crate::verifier::HandoffVerifier::new(
            crate::Issuer::new("https://auth.example.com"),
            crate::Audience::new("https://app.example.com"),
            crate::token_checks::KeySource::Static(Default::default()),
        );
        assert!(install(), "another backend was chosen first");
    }

    fn ours(alg: Algorithm, key: &DecodingKey) -> Box<dyn JwtVerifier> {
        verifier(&alg, key).unwrap()
    }

    fn theirs(alg: Algorithm, key: &DecodingKey) -> Box<dyn JwtVerifier> {
        (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(&alg, key).unwrap()
    }

    /// A signed message split as `jsonwebtoken` checks it.
    fn signed(alg: Algorithm, key: &EncodingKey) -> (Vec<u8>, Vec<u8>) {
        install();
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let token = encode(&Header::new(alg), &serde_json::json!({"sub": "1"}), key).unwrap();
        let (message, sig) = token.rsplit_once('.').unwrap();
        (
            message.as_bytes().to_vec(),
            URL_SAFE_NO_PAD.decode(sig).unwrap(),
        )
    }

    /// Both backends agree on a good signature, a changed message and a
    /// changed signature.
    fn agree(alg: Algorithm, signing: &EncodingKey, keys: &[DecodingKey]) {
        let (message, sig) = signed(alg, signing);
        let mut other_message = message.clone();
        other_message[0] ^= 1;
        let mut other_sig = sig.clone();
        other_sig[5] ^= 1;
        for key in keys {
            for (m, s, expected) in [
                (&message, &sig, true),
                (&other_message, &sig, false),
                (&message, &other_sig, false),
                (&message, &Vec::new(), false),
            ] {
                assert_eq!(
                    ours(alg, key).verify(m, s).is_ok(),
                    expected,
                    "{alg:?} ring"
                );
                assert_eq!(
                    theirs(alg, key).verify(m, s).is_ok(),
                    expected,
                    "{alg:?} RustCrypto"
                );
            }
        }
    }

    #[test]
    fn ec_signatures_are_checked_as_rustcrypto_checks_them() {
        let secret = p256::SecretKey::random(&mut rand::thread_rng());
        let der = secret.to_pkcs8_der().unwrap();
        let signing = EncodingKey::from_ec_der(der.as_bytes());
        let point = secret.public_key().to_sec1_bytes();
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let from_components = DecodingKey::from_ec_components(
            &URL_SAFE_NO_PAD.encode(&point[1..33]),
            &URL_SAFE_NO_PAD.encode(&point[33..]),
        )
        .unwrap();
        agree(
            Algorithm::ES256,
            &signing,
            &[DecodingKey::from_ec_der(&point), from_components],
        );
    }

    /// A fresh RSA key of `bits`: its signing key, its public key as
    /// PKCS#1 DER, and the public key itself.
    fn rsa_key(bits: usize) -> (EncodingKey, Vec<u8>, rsa::RsaPublicKey) {
        let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), bits).unwrap();
        let signing = EncodingKey::from_rsa_der(
            rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_der(&private)
                .unwrap()
                .as_bytes(),
        );
        let public = private.to_public_key();
        let der = public.to_pkcs1_der().unwrap().as_bytes().to_vec();
        (signing, der, public)
    }

    #[test]
    fn rsa_signatures_are_checked_as_rustcrypto_checks_them() {
        let (signing, der, public) = rsa_key(2048);
        let der = DecodingKey::from_rsa_der(&der);
        let components = DecodingKey::from_rsa_raw_components(
            &public.n().to_bytes_be(),
            &public.e().to_bytes_be(),
        );
        for alg in [Algorithm::RS256, Algorithm::RS512, Algorithm::PS256] {
            agree(alg, &signing, &[der.clone(), components.clone()]);
        }
    }

    #[test]
    fn a_key_of_the_wrong_family_is_refused() {
        let secret = p256::SecretKey::random(&mut rand::thread_rng());
        let point = secret.public_key().to_sec1_bytes();
        let ec = DecodingKey::from_ec_der(&point);
        assert!(verifier(&Algorithm::RS256, &ec).is_err());
        let hmac = DecodingKey::from_secret(b"a secret");
        assert!(verifier(&Algorithm::ES256, &hmac).is_err());
    }

    #[test]
    fn rsa_keys_under_2048_bits_verify_nothing() {
        let (signing, der_bytes, public) = rsa_key(1024);
        assert_eq!(rsa_modulus_bits_of_der(&der_bytes), Some(1024));
        let (message, sig) = signed(Algorithm::RS256, &signing);
        // RustCrypto alone would take the signature: it is a good one.
        let der = DecodingKey::from_rsa_der(&der_bytes);
        assert!(theirs(Algorithm::RS256, &der)
            .verify(&message, &sig)
            .is_ok());
        let components = DecodingKey::from_rsa_raw_components(
            &public.n().to_bytes_be(),
            &public.e().to_bytes_be(),
        );
        for key in [&der, &components] {
            for alg in [Algorithm::RS256, Algorithm::PS256] {
                let refused = match verifier(&alg, key) {
                    Err(_) => true,
                    Ok(checker) => checker.verify(&message, &sig).is_err(),
                };
                assert!(refused, "{alg:?}: a 1024-bit key verified");
            }
        }
        // And through jsonwebtoken's own decode, as every verifier calls it.
        install();
        let token = encode(
            &Header::new(Algorithm::RS256),
            &serde_json::json!({"sub": "1"}),
            &signing,
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        for key in [&der, &components] {
            assert!(jsonwebtoken::decode::<serde_json::Value>(&token, key, &validation).is_err());
        }
    }

    #[test]
    fn an_rsa_key_that_is_not_pkcs1_der_is_refused_not_handed_on() {
        let (_, der_bytes, _) = rsa_key(2048);
        // A SubjectPublicKeyInfo, or anything else that is not an
        // RSAPublicKey: its modulus cannot be read, so nothing checks with it.
        let mut wrapped = vec![0x30, 0x82];
        wrapped.extend(((der_bytes.len() + 4) as u16).to_be_bytes());
        wrapped.extend([0x30, 0x00, 0x05, 0x00]);
        wrapped.extend(&der_bytes);
        assert_eq!(rsa_modulus_bits_of_der(&wrapped), None);
        assert!(verifier(&Algorithm::RS256, &DecodingKey::from_rsa_der(&wrapped)).is_err());
    }

    #[test]
    fn the_modulus_of_a_jwk_is_measured() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let (_, _, public) = rsa_key(1024);
        let n = URL_SAFE_NO_PAD.encode(public.n().to_bytes_be());
        assert_eq!(rsa_modulus_bits_of_jwk(&n), Some(1024));
        let mut padded = vec![0, 0];
        padded.extend(public.n().to_bytes_be());
        assert_eq!(
            rsa_modulus_bits_of_jwk(&URL_SAFE_NO_PAD.encode(padded)),
            Some(1024)
        );
        assert_eq!(rsa_modulus_bits_of_jwk("not base64!"), None);
    }

    #[test]
    fn bit_lengths_count_from_the_first_set_bit() {
        assert_eq!(significant_bits(&[0, 0, 1]), 1);
        assert_eq!(significant_bits(&[0x80, 0]), 16);
        assert_eq!(significant_bits(&[]), 0);
        assert_eq!(der_element(&[0x30, 0x82, 0x01]), None);
    }
}

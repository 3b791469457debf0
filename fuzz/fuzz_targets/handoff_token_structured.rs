//! Well-formed JWTs with chosen or arbitrary header and claims, signed by
//! the trusted key, a stranger's, or not at all, so the fuzzer gets past
//! base64 and the signature. Tokens built field by field are checked
//! against a model of the verdict; any header and claims text (mode byte
//! 0: trusted key, 1: a stranger's; then `header\nclaims`) against the
//! acceptance invariants.
#![no_main]

use fuzz::token::{assert_acceptable, b64, stranger, trusted, verifier};
use fuzz::{AUDIENCE, ISSUER, NOW};
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use handoff_guard::HandoffClaims;
use handoff_guard::{VerifyError, LEEWAY, MAX_TOKEN_LEN};

#[derive(Arbitrary, Debug)]
struct Modelled {
    header: HeaderChoice,
    iss: Value,
    aud: Value,
    nbf_offset: i32,
    exp_offset: i32,
    sub: String,
    email: String,
    name: Option<String>,
    sid: String,
    jti: String,
    signature: Signature,
}

#[derive(Arbitrary, Debug)]
enum HeaderChoice {
    Good,
    Alg(String),
    NoKid,
    Kid(String),
}

#[derive(Arbitrary, Debug)]
enum Value {
    Expected,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Signature {
    Trusted,
    Stranger,
    /// The trusted signature with one byte changed.
    Flipped {
        index: u8,
        xor: u8,
    },
    Raw(Vec<u8>),
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
    let Some((_, [header, claims])) = fuzz::fields(data) else {
        return;
    };
    if mode % 3 == 1 {
        let token = stranger().sign_parts(header.as_bytes(), claims.as_bytes());
        let verdict = fuzz::ready(verifier().verify(&token));
        assert!(verdict.is_err(), "accepted a stranger's signature");
        return;
    }
    let token = trusted().sign_parts(header.as_bytes(), claims.as_bytes());
    if let Ok(got) = fuzz::ready(verifier().verify(&token)) {
        let header: serde_json::Value =
            serde_json::from_str(header).expect("an accepted header is JSON");
        assert_eq!(header["alg"], "ES256");
        assert_acceptable(&token, &got);
    }
});

fn modelled(input: Modelled) {
    let Modelled {
        header,
        iss,
        aud,
        nbf_offset,
        exp_offset,
        sub,
        email,
        name,
        sid,
        jti,
        signature,
    } = input;
    let claims = HandoffClaims {
        iss: iss.or(ISSUER).into(),
        aud: aud.or(AUDIENCE).into(),
        sub: sub.into(),
        email,
        name,
        sid: sid.into(),
        iat: NOW,
        nbf: shifted(nbf_offset),
        exp: shifted(exp_offset),
        jti,
    };
    let (header_json, mut faults) = header.build();
    let payload = serde_json::to_vec(&claims).expect("claims serialise");
    let (token, sig_fault) = signature.sign(header_json.as_bytes(), &payload);
    faults.extend(sig_fault);
    faults.extend(claim_faults(&claims));
    let verdict = fuzz::ready(verifier().verify(&token));
    if token.len() > MAX_TOKEN_LEN {
        assert_eq!(verdict, Err(VerifyError::Malformed));
        return;
    }
    match (&verdict, faults.as_slice()) {
        (Ok(got), []) => {
            assert_eq!(got, &claims, "the verifier changed the claims");
            assert_acceptable(&token, got);
        }
        (Ok(_), _) => panic!("accepted a token with {faults:?}"),
        (Err(e), []) => panic!("refused a good token: {e:?}"),
        (Err(e), faults) => assert!(faults.iter().any(|f| f.contains(e)), "{e:?} for {faults:?}"),
    }
}

/// The errors a fault may be reported as (the first fault checked wins).
#[derive(Debug)]
struct Fault(&'static [VerifyError]);

impl Fault {
    fn contains(&self, e: &VerifyError) -> bool {
        self.0.contains(e)
    }
}

const BAD_ALG: Fault = Fault(&[VerifyError::WrongAlgorithm, VerifyError::Malformed]);
const NO_KID: Fault = Fault(&[VerifyError::MissingKeyId]);
const UNKNOWN_KID: Fault = Fault(&[VerifyError::UnknownKey]);
const BAD_SIGNATURE: Fault = Fault(&[VerifyError::BadSignature, VerifyError::Malformed]);
const ISSUER_FAULT: Fault = Fault(&[VerifyError::WrongIssuer]);
const AUDIENCE_FAULT: Fault = Fault(&[VerifyError::WrongAudience]);
const EXPIRED: Fault = Fault(&[VerifyError::Expired]);
const EARLY: Fault = Fault(&[VerifyError::NotYetValid]);

impl Value {
    fn or(self, expected: &str) -> String {
        match self {
            Value::Expected => expected.to_owned(),
            Value::Other(s) => s,
        }
    }
}

impl HeaderChoice {
    fn build(self) -> (String, Vec<Fault>) {
        let kid = trusted().kid.as_str();
        let (header, fault) = match self {
            HeaderChoice::Good => (json!({"alg": "ES256", "typ": "JWT", "kid": kid}), None),
            HeaderChoice::NoKid => (json!({"alg": "ES256", "typ": "JWT"}), Some(NO_KID)),
            HeaderChoice::Alg(alg) => {
                let fault = (alg != "ES256").then_some(BAD_ALG);
                (json!({"alg": alg, "kid": kid}), fault)
            }
            HeaderChoice::Kid(other) => {
                let fault = (other != kid).then_some(UNKNOWN_KID);
                (json!({"alg": "ES256", "kid": other}), fault)
            }
        };
        (header.to_string(), fault.into_iter().collect())
    }
}

impl Signature {
    fn sign(self, header: &[u8], claims: &[u8]) -> (String, Option<Fault>) {
        match self {
            Signature::Trusted => (trusted().sign_parts(header, claims), None),
            Signature::Stranger => (stranger().sign_parts(header, claims), Some(BAD_SIGNATURE)),
            Signature::Flipped { index, xor } => {
                let token = trusted().sign_parts(header, claims);
                let (message, signature) = token.rsplit_once('.').expect("three parts");
                let mut raw = base64_decode(signature);
                let i = usize::from(index) % raw.len();
                raw[i] ^= xor;
                let fault = (xor != 0).then_some(BAD_SIGNATURE);
                (format!("{message}.{}", b64(&raw)), fault)
            }
            Signature::Raw(bytes) => {
                let message = format!("{}.{}", b64(header), b64(claims));
                (format!("{message}.{}", b64(&bytes)), Some(BAD_SIGNATURE))
            }
        }
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .expect("our own signature is base64url")
}

fn claim_faults(claims: &HandoffClaims) -> Vec<Fault> {
    let leeway = LEEWAY.as_secs();
    let mut faults = vec![];
    if claims.iss != ISSUER {
        faults.push(ISSUER_FAULT);
    }
    if claims.aud != AUDIENCE {
        faults.push(AUDIENCE_FAULT);
    }
    if claims.exp + leeway <= NOW {
        faults.push(EXPIRED);
    }
    if claims.nbf > NOW + leeway {
        faults.push(EARLY);
    }
    faults
}

/// `NOW` moved by `offset` seconds (never below the epoch).
fn shifted(offset: i32) -> u64 {
    NOW.saturating_add_signed(i64::from(offset))
}

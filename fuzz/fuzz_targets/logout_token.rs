//! Logout tokens as `POST /backchannel-logout` verifies them
//! (`oidc::logout_token::verify`), against the provider's fixed JWKS (one
//! P-256 and one RSA key) at the fixed "now".
//!
//! - Mode byte 0: any string as the token. No key signs it, so it never
//!   verifies, and it never panics.
//! - 1 and 2: any header and claims text (`header\nclaims`), signed by the
//!   provider's P-256 key (1) or by a key with its `kid` that is not
//!   published (2). A stranger's token is always refused; whatever the
//!   provider's verifies satisfies the model below and says what it says.
//! - 3: header and claims built member by member (each right, wrong,
//!   missing, of another type, or anything), signed by either published
//!   key, a stranger's or not at all: `verify` accepts exactly when the
//!   model does, returns what the model reads, and refuses for one of the
//!   reasons the model finds.
//!
//! The model, Back-Channel Logout 1.0 section 2.6 and what this service
//! adds (a null member reads as absent in the header, as a missing one):
//! the header is a JSON object with an allowed `alg`, no `crit`, a `typ`
//! (if any) of `logout+jwt` or `application/logout+jwt` in any
//! case, and a `kid` (if any) of a published key that signed the token
//! with that `alg`; the claims are an object with `iss` exactly the
//! provider's, `aud` our client id or an array holding it, `azp` (if any)
//! our client id and present when `aud` has several entries, integer
//! `iat` at most 60 s ahead and at most 600 s old, integer `exp` still
//! ahead, a `jti` of 1 to 256 bytes, an `events` object whose
//! back-channel logout member is an object, `sub` and `sid` each absent or
//! a string of 1 to 255 bytes and not both absent, and no `nonce`.
#![no_main]

use fuzz::provider::{
    jwks, provider_ec, provider_rsa, published, stranger_ec, stranger_rsa, ProviderKey, ALGORITHMS,
    ALGORITHM_NAMES, CLIENT_ID, PROVIDER,
};
use fuzz::token::b64;
use fuzz::NOW;
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use public_service::oidc::logout_token::{
    verify, Expected, LogoutToken, LogoutTokenError as E, BACKCHANNEL_LOGOUT_EVENT, MAX_LEN,
};
use serde_json::{json, Map, Value};

fn expected() -> Expected<'static> {
    Expected {
        keys: jwks(),
        algorithms: &ALGORITHMS,
        issuer: PROVIDER,
        client_id: CLIENT_ID,
        now: NOW,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(&mode) = data.first() else {
        return;
    };
    match mode % 4 {
        0 => {
            if let Ok(token) = std::str::from_utf8(&data[1..]) {
                let verdict = verify(token, &expected());
                assert!(verdict.is_err(), "an unsigned string verified: {verdict:?}");
            }
        }
        1 | 2 => {
            let Some((_, [header, claims])) = fuzz::fields(data) else {
                return;
            };
            let key = if mode % 4 == 1 {
                provider_ec()
            } else {
                stranger_ec()
            };
            let token = key.sign(header.as_bytes(), claims.as_bytes());
            let verdict = verify(&token, &expected());
            if let Ok(read) = verdict {
                let header: Value =
                    serde_json::from_str(header).expect("an accepted header is JSON");
                let claims: Value = serde_json::from_str(claims).expect("accepted claims are JSON");
                let model = model(&header, &claims, Signer::Key(key));
                assert_eq!(
                    model.as_ref().ok(),
                    Some(&read),
                    "accepted against the model: {model:?}"
                );
            }
        }
        _ => {
            if let Ok(input) = Modelled::arbitrary_take_rest(Unstructured::new(&data[1..])) {
                modelled(input);
            }
        }
    }
});

/// Who signed the token the model looks at.
#[derive(Clone, Copy)]
enum Signer {
    Key(&'static ProviderKey),
    /// Bytes that are no one's signature.
    Nobody,
}

/// The model's verdict: what a good token says, or every reason it finds
/// to refuse one (the verifier must give one of them).
fn model(header: &Value, claims: &Value, signer: Signer) -> Result<LogoutToken, Vec<E>> {
    let mut refusals = header_refusals(header, signer);
    let read = claim_refusals(claims, &mut refusals);
    match (read, refusals.is_empty()) {
        (Some(read), true) => Ok(read),
        _ => Err(refusals),
    }
}

fn header_refusals(header: &Value, signer: Signer) -> Vec<E> {
    let Some(header) = header.as_object() else {
        return vec![E::Malformed];
    };
    let member = |name: &str| header.get(name).filter(|v| !v.is_null());
    let mut refusals = vec![];
    if member("crit").is_some() {
        refusals.push(E::Malformed);
    }
    match member("typ") {
        None => {}
        Some(Value::String(typ)) => {
            let typ = typ.to_ascii_lowercase();
            if !["logout+jwt", "application/logout+jwt"].contains(&typ.as_str()) {
                refusals.push(E::WrongType);
            }
        }
        Some(_) => refusals.push(E::Malformed),
    }
    let alg = header.get("alg").and_then(Value::as_str);
    if !alg.is_some_and(|alg| ALGORITHM_NAMES.contains(&alg)) {
        // Not an algorithm name at all, or one not allowed.
        refusals.extend([E::Malformed, E::Algorithm]);
    }
    let kid = match member("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => {
            refusals.push(E::Malformed);
            None
        }
    };
    if kid.is_some_and(|kid| !published().iter().any(|key| key.kid == kid)) {
        refusals.push(E::NoMatchingKey);
    }
    let verifies = match signer {
        Signer::Key(key) => {
            published()
                .iter()
                .any(|published| std::ptr::eq(*published, key))
                && alg == Some(key.alg_name())
                && kid.is_none_or(|kid| kid == key.kid)
        }
        Signer::Nobody => false,
    };
    if !verifies {
        refusals.push(E::BadSignature);
    }
    refusals
}

/// What the claims say if they are good; every reason found otherwise
/// goes to `refusals`.
fn claim_refusals(claims: &Value, refusals: &mut Vec<E>) -> Option<LogoutToken> {
    let before = refusals.len();
    let Some(claims) = claims.as_object() else {
        refusals.push(E::WrongIssuer);
        return None;
    };
    if claims.get("iss") != Some(&json!(PROVIDER)) {
        refusals.push(E::WrongIssuer);
    }
    let audiences = match claims.get("aud") {
        Some(Value::String(aud)) if aud == CLIENT_ID => 1,
        Some(Value::Array(auds)) if auds.contains(&json!(CLIENT_ID)) => auds.len(),
        _ => {
            refusals.push(E::WrongAudience);
            1
        }
    };
    match claims.get("azp") {
        None if audiences == 1 => {}
        Some(Value::String(azp)) if azp == CLIENT_ID => {}
        _ => refusals.push(E::AuthorizedParty),
    }
    let iat = claims.get("iat").and_then(Value::as_u64);
    match iat {
        None => refusals.push(E::NoIssueTime),
        Some(iat) if iat > NOW + 60 => refusals.push(E::IssuedInFuture),
        Some(iat) if iat + 600 < NOW => refusals.push(E::TooOld),
        Some(_) => {}
    }
    let exp = claims.get("exp").and_then(Value::as_u64);
    if exp.is_none_or(|exp| exp <= NOW) {
        refusals.push(E::Expired);
    }
    let jti = match claims.get("jti") {
        Some(Value::String(jti)) if (1..=256).contains(&jti.len()) => Some(jti.clone()),
        _ => {
            refusals.push(E::NoJti);
            None
        }
    };
    let event = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT));
    if !event.is_some_and(Value::is_object) {
        refusals.push(E::NoLogoutEvent);
    }
    let mut bounded = |name: &str| match claims.get(name) {
        None => None,
        Some(Value::String(v)) if (1..=255).contains(&v.len()) => Some(v.clone()),
        Some(_) => {
            refusals.push(E::BadSubjectOrSession);
            None
        }
    };
    let subject = bounded("sub");
    let provider_sid = bounded("sid");
    if !claims.contains_key("sub") && !claims.contains_key("sid") {
        refusals.push(E::NoSubjectOrSession);
    }
    if claims.contains_key("nonce") {
        refusals.push(E::Nonce);
    }
    if refusals.len() > before {
        return None;
    }
    let (iat, exp) = (iat?, exp?);
    Some(LogoutToken {
        subject,
        provider_sid,
        jti: jti?,
        // Remembered until the token would be refused anyway.
        remember_until: exp.min(iat + 600) + 1,
    })
}

/// Every choice's first variant (what an exhausted input gives) is the
/// one a provider makes, so the fuzzer starts from a token that verifies.
#[derive(Arbitrary, Debug)]
struct Modelled {
    alg: Alg,
    kid: Kid,
    typ: Option<Text>,
    crit: bool,
    signer: SignerChoice,
    iss: Member,
    aud: Aud,
    azp: Option<Member>,
    iat: Time,
    exp: Time,
    jti: Member,
    events: Events,
    sub: Member,
    sid: Member,
    nonce: Option<Member>,
    /// Any other claim, or one of the above again (the last one counts).
    extra: Option<(String, Member)>,
}

#[derive(Arbitrary, Debug)]
enum Alg {
    Es256,
    Rs256,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Kid {
    Absent,
    Null,
    Ec,
    Rsa,
    Other(Member),
}

/// A header or claim text: one of the values that mean something, or any.
#[derive(Arbitrary, Debug)]
enum Text {
    LogoutJwt,
    MediaType,
    /// Another JWT of the provider's: refused.
    Jwt,
    Upper,
    Any(String),
}

#[derive(Arbitrary, Debug)]
enum SignerChoice {
    ProviderEc,
    ProviderRsa,
    StrangerEc,
    StrangerRsa,
    Bytes(Vec<u8>),
}

/// A member's value: the one the model wants where one is wanted, any
/// other, or none.
#[derive(Arbitrary, Debug)]
enum Member {
    Expected,
    Text(String),
    Number(i64),
    Null,
    Bool(bool),
    List(Vec<String>),
    Absent,
}

#[derive(Arbitrary, Debug)]
enum Aud {
    Ours,
    OursAmong(Vec<String>),
    Other(Member),
    Absent,
}

#[derive(Arbitrary, Debug)]
enum Time {
    /// Seconds from the usual value (now for `iat`, two minutes on for `exp`).
    Usual(i16),
    Far(u64),
    Other(Member),
}

#[derive(Arbitrary, Debug)]
enum Events {
    Good,
    GoodAmong(String),
    MemberNot(Member),
    Other(Member),
    Absent,
}

impl Member {
    fn value(&self, expected: &str) -> Option<Value> {
        Some(match self {
            Member::Expected => json!(expected),
            Member::Text(s) => json!(s),
            Member::Number(n) => json!(n),
            Member::Null => Value::Null,
            Member::Bool(b) => json!(b),
            Member::List(items) => json!(items),
            Member::Absent => return None,
        })
    }
}

impl Time {
    fn value(&self, usual: u64) -> Option<Value> {
        match self {
            Time::Usual(offset) => Some(json!(usual.saturating_add_signed(i64::from(*offset)))),
            Time::Far(t) => Some(json!(t)),
            Time::Other(member) => member.value("1700000000"),
        }
    }
}

fn modelled(input: Modelled) {
    let mut header = Map::new();
    header.insert(
        "alg".into(),
        match &input.alg {
            Alg::Rs256 => json!("RS256"),
            Alg::Es256 => json!("ES256"),
            Alg::Other(alg) => json!(alg),
        },
    );
    match &input.kid {
        Kid::Absent => {}
        Kid::Null => {
            header.insert("kid".into(), Value::Null);
        }
        Kid::Ec => {
            header.insert("kid".into(), json!(provider_ec().kid));
        }
        Kid::Rsa => {
            header.insert("kid".into(), json!(provider_rsa().kid));
        }
        Kid::Other(member) => {
            if let Some(kid) = member.value("kid") {
                header.insert("kid".into(), kid);
            }
        }
    }
    if let Some(typ) = &input.typ {
        let typ = match typ {
            Text::LogoutJwt => "logout+jwt",
            Text::MediaType => "application/logout+jwt",
            Text::Jwt => "JWT",
            Text::Upper => "LOGOUT+JWT",
            Text::Any(s) => s,
        };
        header.insert("typ".into(), json!(typ));
    }
    if input.crit {
        header.insert("crit".into(), json!(["exp"]));
    }

    let mut claims = Map::new();
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            claims.insert(name.into(), value);
        }
    };
    put("iss", input.iss.value(PROVIDER));
    put(
        "aud",
        match &input.aud {
            Aud::Ours => Some(json!(CLIENT_ID)),
            Aud::OursAmong(others) => {
                let mut all = others.clone();
                all.insert(others.len() / 2, CLIENT_ID.into());
                Some(json!(all))
            }
            Aud::Other(member) => member.value(CLIENT_ID),
            Aud::Absent => None,
        },
    );
    put("azp", input.azp.as_ref().and_then(|m| m.value(CLIENT_ID)));
    put("iat", input.iat.value(NOW));
    put("exp", input.exp.value(NOW + 120));
    put("jti", input.jti.value("jti-1"));
    put(
        "events",
        match &input.events {
            Events::Good => Some(json!({ BACKCHANNEL_LOGOUT_EVENT: {} })),
            Events::GoodAmong(other) => {
                Some(json!({ other.as_str(): true, BACKCHANNEL_LOGOUT_EVENT: {} }))
            }
            Events::MemberNot(member) => {
                let mut events = Map::new();
                if let Some(event) = member.value("{}") {
                    events.insert(BACKCHANNEL_LOGOUT_EVENT.into(), event);
                }
                Some(Value::Object(events))
            }
            Events::Other(member) => member.value(BACKCHANNEL_LOGOUT_EVENT),
            Events::Absent => None,
        },
    );
    put("sub", input.sub.value("108234567890123456789"));
    put("sid", input.sid.value("provider-session-1"));
    put(
        "nonce",
        input.nonce.as_ref().and_then(|m| m.value("n-0S6_WzA2Mj")),
    );
    if let Some((name, member)) = &input.extra {
        put(name, member.value(""));
    }

    let (header, claims) = (Value::Object(header), Value::Object(claims));
    let header_bytes = serde_json::to_vec(&header).expect("JSON");
    let claims_bytes = serde_json::to_vec(&claims).expect("JSON");
    let (token, signer) = match &input.signer {
        SignerChoice::ProviderEc => (
            provider_ec().sign(&header_bytes, &claims_bytes),
            Signer::Key(provider_ec()),
        ),
        SignerChoice::ProviderRsa => (
            provider_rsa().sign(&header_bytes, &claims_bytes),
            Signer::Key(provider_rsa()),
        ),
        SignerChoice::StrangerEc => (
            stranger_ec().sign(&header_bytes, &claims_bytes),
            Signer::Key(stranger_ec()),
        ),
        SignerChoice::StrangerRsa => (
            stranger_rsa().sign(&header_bytes, &claims_bytes),
            Signer::Key(stranger_rsa()),
        ),
        SignerChoice::Bytes(bytes) => (
            format!(
                "{}.{}.{}",
                b64(&header_bytes),
                b64(&claims_bytes),
                b64(bytes)
            ),
            Signer::Nobody,
        ),
    };
    let verdict = verify(&token, &expected());
    if token.len() > MAX_LEN {
        assert_eq!(verdict, Err(E::Malformed), "an over-long token was read");
        return;
    }
    match (verdict, model(&header, &claims, signer)) {
        (Ok(read), Ok(modelled)) => assert_eq!(read, modelled, "read other claims than sent"),
        (Ok(read), Err(reasons)) => panic!("accepted {read:?} though {reasons:?}"),
        (Err(e), Ok(_)) => panic!("refused a good token: {e:?}"),
        (Err(e), Err(reasons)) => assert!(
            reasons.contains(&e),
            "refused for {e:?}, not one of {reasons:?}"
        ),
    }
}

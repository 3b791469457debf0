//! The provider's UserInfo answer as the sign-in reads it
//! (`oidc::userinfo::fetch`, with an HTTP client that answers the fuzzer's
//! bytes) and merges it into the ID token's identity
//! (`oidc::userinfo::merge`).
//!
//! - Mode byte 0: any bytes as the answer, with a status and a
//!   `Content-Type` picked by the next byte, about an ID token whose
//!   claims that byte picks too. A JWT answer (`application/jwt`) of
//!   bytes no key signed is never read.
//! - 1: answers built claim by claim, as JSON or as a JWT signed by the
//!   provider's RSA key (or another), for any ID token: an answer is read
//!   exactly when the model says (`sub` the ID token's; a JWT's signature,
//!   `iss` and `aud` the provider's and ours).
//!
//! Whatever is read, in both modes: its `sub` (every member `sub` or
//! `sub#`, the untagged spelling) is exactly the ID token's, so an answer
//! about anyone else is never merged; each claim read is the answer's own
//! (`email`, `name` and `email_verified` untagged, `hd`); and the merge
//! never changes the subject or a claim the ID token carried, takes
//! nothing from an answer that contradicts one (another address or `hd`
//! but for ASCII case, another `email_verified`), and otherwise fills
//! exactly the gaps with what the answer said.
#![no_main]

use fuzz::provider::{client, provider_rsa, stranger_rsa, CLIENT_ID, PROVIDER, SUBJECT};
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use openidconnect::http::header::CONTENT_TYPE;
use openidconnect::http::{Response, StatusCode};
use openidconnect::{AccessToken, HttpRequest, HttpResponse};
use public_service::oidc::userinfo::{fetch, merge, TransportError, UserInfo};
use public_service::oidc::Present;
use public_service::policy::Identity;
use serde_json::{json, Map, Value};

const CONTENT_TYPES: [Option<&str>; 6] = [
    None,
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("application/jwt"),
    Some("APPLICATION/JWT"),
    Some("text/html"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let Some((&pick, body)) = rest.split_first() else {
            return;
        };
        raw(pick, body);
    } else if let Ok(input) = Modelled::arbitrary_take_rest(Unstructured::new(rest)) {
        modelled(input);
    }
});

/// The ID token's claims the policy reads, as the sign-in has them.
#[derive(Arbitrary, Debug, Clone)]
struct IdToken {
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<String>,
    hosted_domain: Option<String>,
}

impl IdToken {
    fn identity(&self) -> (Identity, Present) {
        let identity = Identity {
            subject: SUBJECT.into(),
            email: self.email.clone(),
            email_verified: self.email_verified.unwrap_or(false),
            name: self.name.clone(),
            hosted_domain: self.hosted_domain.clone(),
        };
        let present = Present {
            email: self.email.is_some(),
            email_verified: self.email_verified.is_some(),
            name: self.name.is_some(),
            hosted_domain: self.hosted_domain.is_some(),
        };
        (identity, present)
    }
}

fn raw(pick: u8, body: &[u8]) {
    let status = if pick & 0x80 == 0 { 200 } else { 500 };
    let content_type = CONTENT_TYPES[usize::from(pick & 0x07) % CONTENT_TYPES.len()];
    let bit = |n: u8| pick & (1 << n) != 0;
    let id_token = IdToken {
        email: bit(3).then(|| "alice@example.com".into()),
        email_verified: bit(4).then_some(bit(3)),
        name: bit(5).then(|| "Alice".into()),
        hosted_domain: bit(6).then(|| "example.com".into()),
    };
    let (identity, present) = id_token.identity();
    let Ok(info) = ask(status, content_type, body.to_vec(), &identity) else {
        return;
    };
    assert_eq!(status, 200, "read an answer that was not 200");
    let jwt = content_type.is_some_and(|t| t.eq_ignore_ascii_case("application/jwt"));
    assert!(!jwt, "read a JWT that no key signed");
    // The answer is the body's first JSON value: `openidconnect` does not
    // look past it.
    let answer: Value = serde_json::Deserializer::from_slice(body)
        .into_iter()
        .next()
        .and_then(Result::ok)
        .expect("a read answer is JSON");
    check(&answer, &info, identity, present);
}

/// `fetch` against a provider that answers `body`.
fn ask(
    status: u16,
    content_type: Option<&str>,
    body: Vec<u8>,
    identity: &Identity,
) -> Result<UserInfo, public_service::oidc::ProviderError> {
    let http = move |_: HttpRequest| {
        let mut response =
            Response::builder().status(StatusCode::from_u16(status).expect("a status"));
        if let Some(content_type) = content_type {
            response = response.header(CONTENT_TYPE, content_type);
        }
        let response: HttpResponse = response.body(body.clone()).expect("a response");
        std::future::ready(Ok::<_, TransportError>(response))
    };
    let token = AccessToken::new("ya29.fuzzing".into());
    fuzz::ready(fetch(client(), &http, &token, identity))
}

/// The values of the members an OpenID claim `name` reads from: `name`
/// itself and `name#` (an empty language tag is no tag).
fn members<'a>(answer: &'a Map<String, Value>, name: &str) -> Vec<&'a Value> {
    let tagged = format!("{name}#");
    answer
        .iter()
        .filter(|(key, _)| *key == name || **key == tagged)
        .map(|(_, value)| value)
        .filter(|value| !value.is_null())
        .collect()
}

/// What holds of any answer that was read, and of its merge.
fn check(answer: &Value, info: &UserInfo, identity: Identity, present: Present) {
    let answer = answer.as_object().expect("a read answer is an object");
    let subs = members(answer, "sub");
    assert!(!subs.is_empty(), "read an answer without sub");
    assert!(
        subs.iter().all(|sub| **sub == json!(SUBJECT)),
        "read an answer about another subject: {subs:?}"
    );
    let text = |name: &str| match members(answer, name).as_slice() {
        [] => None,
        [Value::String(s)] => Some(s.clone()),
        other => panic!("read {name} from {other:?}"),
    };
    assert_eq!(info.email, text("email"), "email");
    assert_eq!(info.name, text("name"), "name");
    let verified = match members(answer, "email_verified").as_slice() {
        [] => None,
        [Value::Bool(b)] => Some(*b),
        [Value::String(s)] if s == "true" || s == "false" => Some(s == "true"),
        other => panic!("read email_verified from {other:?}"),
    };
    assert_eq!(info.email_verified, verified, "email_verified");
    let hd = answer.get("hd").filter(|v| !v.is_null());
    assert_eq!(
        info.hosted_domain.as_ref().map(|h| json!(h)).as_ref(),
        hd,
        "hd"
    );

    let merged = merge(identity.clone(), present, info.clone());
    assert_eq!(
        merged.subject, identity.subject,
        "the merge changed the subject"
    );
    // What the ID token carried stays.
    if present.email {
        assert_eq!(merged.email, identity.email);
    }
    if present.email_verified {
        assert_eq!(merged.email_verified, identity.email_verified);
    }
    if present.name {
        assert_eq!(merged.name, identity.name);
    }
    if present.hosted_domain {
        assert_eq!(merged.hosted_domain, identity.hosted_domain);
    }
    let other = |ours: &Option<String>, theirs: &Option<String>| match (ours, theirs) {
        (Some(a), Some(b)) => !a.eq_ignore_ascii_case(b),
        _ => false,
    };
    let contradicts = (present.email && other(&identity.email, &info.email))
        || (present.email_verified
            && info
                .email_verified
                .is_some_and(|v| v != identity.email_verified))
        || (present.hosted_domain && other(&identity.hosted_domain, &info.hosted_domain));
    if contradicts {
        assert_eq!(merged, identity, "took claims from a contradicting answer");
        return;
    }
    // The gaps, filled from the answer.
    if !present.email {
        assert_eq!(merged.email, info.email);
    }
    if !present.email_verified {
        assert_eq!(merged.email_verified, info.email_verified == Some(true));
    }
    if !present.name {
        assert_eq!(merged.name, info.name);
    }
    if !present.hosted_domain {
        assert_eq!(merged.hosted_domain, info.hosted_domain);
    }
}

#[derive(Arbitrary, Debug)]
struct Modelled {
    id_token: IdToken,
    sub: Sub,
    email: Option<String>,
    email_verified: Option<Verified>,
    name: Option<String>,
    hosted_domain: Option<String>,
    extra: Option<Extra>,
    form: Form,
}

#[derive(Arbitrary, Debug)]
enum Sub {
    Ours,
    Other(String),
    Absent,
    Number(u32),
}

#[derive(Arbitrary, Debug)]
enum Verified {
    Bool(bool),
    Text(bool),
    Other(String),
}

/// One more member: another spelling of a claim, or one of no meaning.
#[derive(Arbitrary, Debug)]
enum Extra {
    /// `sub#`: the subject again, untagged.
    Sub(String),
    /// `email#`.
    Email(String),
    /// `name#<tag>`: the name in a language (or untagged, for an empty tag).
    Name { tag: String, name: String },
    /// `x-<name>`.
    Other { name: String, value: String },
}

#[derive(Arbitrary, Debug)]
enum Form {
    Json {
        content_type: u8,
    },
    Jwt {
        stranger: bool,
        iss: Option<Option<String>>,
        aud: Aud,
    },
}

#[derive(Arbitrary, Debug)]
enum Aud {
    Ours,
    Absent,
    Other(String),
    OursAnd(String),
}

fn modelled(input: Modelled) {
    let mut answer = Map::new();
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            answer.insert(name.into(), value);
        }
    };
    put(
        "sub",
        match &input.sub {
            Sub::Ours => Some(json!(SUBJECT)),
            Sub::Other(s) => Some(json!(s)),
            Sub::Absent => None,
            Sub::Number(n) => Some(json!(n)),
        },
    );
    put("email", input.email.as_ref().map(|e| json!(e)));
    put(
        "email_verified",
        input.email_verified.as_ref().map(|v| match v {
            Verified::Bool(b) => json!(b),
            Verified::Text(b) => json!(b.to_string()),
            Verified::Other(s) => json!(s),
        }),
    );
    put("name", input.name.as_ref().map(|n| json!(n)));
    put("hd", input.hosted_domain.as_ref().map(|h| json!(h)));
    match &input.extra {
        None => {}
        Some(Extra::Sub(sub)) => put("sub#", Some(json!(sub))),
        Some(Extra::Email(email)) => put("email#", Some(json!(email))),
        Some(Extra::Name { tag, name }) => put(&format!("name#{tag}"), Some(json!(name))),
        Some(Extra::Other { name, value }) => put(&format!("x-{name}"), Some(json!(value))),
    }

    // The model, for an answer built here: one spelling of each claim
    // (`name` and `name#` are one), `sub` the ID token's, an
    // `email_verified` that is a boolean (or its text), and a JWT the
    // provider's, for us.
    let once = ["sub", "email", "name"]
        .iter()
        .all(|name| !(answer.contains_key(*name) && answer.contains_key(&format!("{name}#"))));
    let sub_ok = members(&answer, "sub").as_slice() == [&json!(SUBJECT)];
    let verified_ok = match &input.email_verified {
        Some(Verified::Other(s)) => s == "true" || s == "false",
        _ => true,
    };
    let answer_value = Value::Object(answer.clone());
    let (identity, present) = input.id_token.identity();
    let (content_type, body, signature_ok) = match &input.form {
        Form::Json { content_type } => {
            let content_type = CONTENT_TYPES[usize::from(*content_type) % 3];
            (
                content_type,
                serde_json::to_vec(&answer_value).expect("JSON"),
                true,
            )
        }
        Form::Jwt { stranger, iss, aud } => {
            let mut claims = answer.clone();
            let mut for_us = !*stranger;
            match iss {
                None => {
                    claims.insert("iss".into(), json!(PROVIDER));
                }
                Some(None) => for_us = false,
                Some(Some(other)) => {
                    for_us &= other == PROVIDER;
                    claims.insert("iss".into(), json!(other));
                }
            }
            match aud {
                Aud::Ours => {
                    claims.insert("aud".into(), json!(CLIENT_ID));
                }
                Aud::Absent => for_us = false,
                Aud::Other(other) => {
                    for_us &= other == CLIENT_ID;
                    claims.insert("aud".into(), json!(other));
                }
                Aud::OursAnd(other) => {
                    for_us &= other == CLIENT_ID;
                    claims.insert("aud".into(), json!([CLIENT_ID, other]));
                }
            }
            let key = if *stranger {
                stranger_rsa()
            } else {
                provider_rsa()
            };
            let header = json!({ "alg": "RS256", "kid": key.kid, "typ": "JWT" });
            let token = key.sign(
                &serde_json::to_vec(&header).expect("JSON"),
                &serde_json::to_vec(&Value::Object(claims)).expect("JSON"),
            );
            (Some("application/jwt"), token.into_bytes(), for_us)
        }
    };
    let expected = once && sub_ok && verified_ok && signature_ok;
    match ask(200, content_type, body, &identity) {
        Ok(info) => {
            assert!(
                expected,
                "read an answer the model refuses (one spelling {once}, sub {sub_ok}, \
                 email_verified {verified_ok}, signature {signature_ok})"
            );
            check(&answer_value, &info, identity, present);
        }
        Err(e) => assert!(!expected, "refused a good answer: {e}"),
    }
}

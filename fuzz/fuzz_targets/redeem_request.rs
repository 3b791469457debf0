//! What `POST /handoff/redeem` reads before touching the store: the
//! caller's Bearer token from `Authorization`, and the JSON body. A body
//! is read only if it is exactly one object with a string `code`, a
//! string `audience` and either an array of strings `verifiers` or a
//! string `verifier` (as apps sent it before), and then it says what a
//! generic JSON reader says.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use public_service::routes::redeem::RedeemRequest;
use serde_json::{json, Value};
use handoff_guard::bearer_token;

#[derive(Arbitrary, Debug)]
struct Fields {
    code: String,
    audience: String,
    verifier: String,
    extra: Option<(String, String)>,
}

// Mode byte 0: `Authorization` value, a newline, the body (seedable);
// otherwise fields put into a body.
fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let (authorization, body) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        if let Ok(authorization) = std::str::from_utf8(authorization) {
            check_bearer(authorization);
        }
        raw_body(body);
    } else if let Ok(fields) = Fields::arbitrary_take_rest(Unstructured::new(rest)) {
        fields_body(fields);
    }
});

fn raw_body(body: &[u8]) {
    let Some(request) = RedeemRequest::parse(body) else {
        return;
    };
    let generic: Value = serde_json::from_slice(body).expect("a read body is JSON");
    let object = generic.as_object().expect("a read body is an object");
    assert_eq!(object.len(), 3, "read a body with other fields: {object:?}");
    assert_eq!(object["code"], request.code.as_str());
    assert_eq!(object["audience"], request.audience.as_str());
    match (object.get("verifier"), object.get("verifiers")) {
        (Some(one), None) => assert_eq!(request.verifiers, [one.as_str().expect("a string")]),
        (None, Some(several)) => assert_eq!(&Value::from(request.verifiers.clone()), several),
        other => panic!("read a body with verifiers {other:?}"),
    }
}

fn fields_body(
    Fields {
        code,
        audience,
        verifier,
        extra,
    }: Fields,
) {
    let mut body = json!({ "code": code, "audience": audience, "verifier": verifier });
    let read = match extra {
        Some((name, value)) => {
            body[name.as_str()] = Value::String(value.clone());
            // An unknown field, or `verifiers` beside `verifier`, is
            // refused; a known one was replaced.
            match name.as_str() {
                "code" => Some((value, audience, verifier)),
                "audience" => Some((code, value, verifier)),
                "verifier" => Some((code, audience, value)),
                _ => None,
            }
        }
        None => Some((code, audience, verifier)),
    };
    let parsed = RedeemRequest::parse(body.to_string().as_bytes());
    let read = read.map(|(code, audience, verifier)| (code, audience, vec![verifier]));
    assert_eq!(parsed.map(|r| (r.code, r.audience, r.verifiers)), read);
}

fn check_bearer(header: &str) {
    let Some(token) = bearer_token(header) else {
        return;
    };
    let (scheme, _) = header.split_once(' ').expect("a scheme and a token");
    assert!(scheme.eq_ignore_ascii_case("bearer"));
    assert!(!token.is_empty() && !token.contains(' '));
    assert!(header.contains(token));
}

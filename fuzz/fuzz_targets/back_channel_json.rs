//! The JSON bodies of the public service's back-channel routes, read
//! before anything is looked up: `POST /broker/token`
//! (`routes::broker::TokenRequest::parse`) and `POST /sessions/end` and
//! `/sessions/status` (`routes::app_sign_out::EndRequest::parse`). Mode
//! byte 0: any bytes, given to both readers; 1: fields put into bodies as
//! a caller writes them.
//!
//! A body is read only if a generic JSON reader sees exactly one object
//! with no other members than the route's, and then the route reads what
//! that reader reads: for the broker a string `subject` of 1 to
//! `MAX_SUBJECT_LEN` bytes and at most `MAX_SCOPES` string `scopes`
//! (none when the member is absent); for sign-out a string `handoff_token`
//! of at most `MAX_TOKEN_LEN` bytes. A body a caller writes within those
//! bounds is read back exactly; one beyond them, or with another member,
//! is refused.
#![no_main]

use handoff_guard::MAX_TOKEN_LEN;
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use public_service::routes::app_sign_out::EndRequest;
use public_service::routes::broker::{BodyError, TokenRequest, MAX_SCOPES, MAX_SUBJECT_LEN};
use serde_json::{json, Map, Value};

#[derive(Arbitrary, Debug)]
struct Fields {
    subject: String,
    scopes: Option<Vec<String>>,
    handoff_token: String,
    extra: Option<(String, String)>,
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        broker_body(rest);
        sign_out_body(rest);
    } else if let Ok(fields) = Fields::arbitrary_take_rest(Unstructured::new(rest)) {
        written(fields);
    }
});

/// The one object a generic reader sees in `body`, if it has no members
/// but `allowed`.
fn object_of<'a>(generic: &'a Value, allowed: &[&str]) -> &'a Map<String, Value> {
    let object = generic.as_object().expect("a read body is an object");
    assert!(
        object.keys().all(|k| allowed.contains(&k.as_str())),
        "read a body with other members: {object:?}"
    );
    object
}

fn broker_body(body: &[u8]) {
    let Ok(read) = TokenRequest::parse(body) else {
        return;
    };
    let generic: Value = serde_json::from_slice(body).expect("a read body is JSON");
    let object = object_of(&generic, &["subject", "scopes"]);
    assert_eq!(object["subject"], read.subject.as_str());
    assert!(!read.subject.is_empty() && read.subject.len() <= MAX_SUBJECT_LEN);
    match object.get("scopes") {
        None => assert!(read.scopes.is_empty()),
        Some(scopes) => assert_eq!(scopes, &json!(read.scopes)),
    }
    assert!(read.scopes.len() <= MAX_SCOPES);
}

fn sign_out_body(body: &[u8]) {
    let Some(read) = EndRequest::parse(body) else {
        return;
    };
    let generic: Value = serde_json::from_slice(body).expect("a read body is JSON");
    let object = object_of(&generic, &["handoff_token"]);
    assert_eq!(object["handoff_token"], read.handoff_token.as_str());
    assert!(read.handoff_token.len() <= MAX_TOKEN_LEN);
}

fn written(
    Fields {
        mut subject,
        scopes,
        mut handoff_token,
        extra,
    }: Fields,
) {
    let mut broker = json!({ "subject": subject });
    if let Some(scopes) = &scopes {
        broker["scopes"] = json!(scopes);
    }
    let mut sign_out = json!({ "handoff_token": handoff_token });
    // Another member replaces a field (a string where the list of scopes
    // belongs does not read), or is one the route does not know.
    let (mut broker_readable, mut sign_out_readable) = (true, true);
    if let Some((name, value)) = extra {
        broker[name.as_str()] = json!(value);
        sign_out[name.as_str()] = json!(value);
        match name.as_str() {
            "subject" => subject = value.clone(),
            _ => broker_readable = false,
        }
        match name.as_str() {
            "handoff_token" => handoff_token = value,
            _ => sign_out_readable = false,
        }
    }
    let scopes = scopes.unwrap_or_default();

    let read = TokenRequest::parse(broker.to_string().as_bytes());
    let within =
        !subject.is_empty() && subject.len() <= MAX_SUBJECT_LEN && scopes.len() <= MAX_SCOPES;
    match (broker_readable, within) {
        (true, true) => {
            let read = read.expect("a body the broker's callers write was refused");
            assert_eq!((read.subject, read.scopes), (subject, scopes));
        }
        (true, false) => assert_eq!(read.err(), Some(BodyError::OutOfBounds)),
        (false, _) => assert_eq!(read.err(), Some(BodyError::Unreadable)),
    }

    let read = EndRequest::parse(sign_out.to_string().as_bytes());
    if sign_out_readable && handoff_token.len() <= MAX_TOKEN_LEN {
        let read = read.expect("an app's body was refused");
        assert_eq!(read.handoff_token, handoff_token);
    } else {
        assert!(
            read.is_none(),
            "read an over-long token or a body with another member"
        );
    }
}

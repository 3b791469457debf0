//! The body of `POST /backchannel-logout` as the route reads it
//! (`routes::backchannel_logout::logout_token_of`): a `Content-Type` and a
//! form body, either any bytes (mode byte 0, then `content type\nbody`; an
//! empty first line sends none) or pairs put into a form the way a
//! provider writes one (mode 1).
//!
//! A token is read exactly when the `Content-Type` is
//! `application/x-www-form-urlencoded` (parameters and ASCII case aside)
//! and the body has one `logout_token` of at most `MAX_LEN` bytes, and
//! then it is that pair's value, decoded as the model of the form syntax
//! below decodes it: a second `logout_token` (even spelled
//! `logout%5Ftoken`) refuses the body rather than picking one, and a name
//! that is not exactly `logout_token` once decoded (`Logout_token`,
//! `logout_token ` …) is not read as it.
#![no_main]

use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::test::TestRequest;
use fuzz::form;
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use public_service::oidc::logout_token::MAX_LEN;
use public_service::routes::backchannel_logout::logout_token_of;

const FORM: &str = "application/x-www-form-urlencoded";

#[derive(Arbitrary, Debug)]
struct Pairs {
    content_type: ContentType,
    pairs: Vec<(Name, String)>,
}

#[derive(Arbitrary, Debug)]
enum ContentType {
    Form,
    FormWithCharset,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Name {
    LogoutToken,
    Other(String),
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let (content_type, body) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        // An empty first line: no `Content-Type` at all.
        check((!content_type.is_empty()).then_some(content_type), body);
    } else if let Ok(input) = Pairs::arbitrary_take_rest(Unstructured::new(rest)) {
        written(input);
    }
});

/// The route's reading of `body` with `content_type` agrees with the model.
fn check(content_type: Option<&[u8]>, body: &[u8]) -> Option<Result<String, &'static str>> {
    let mut request = TestRequest::post().uri("/backchannel-logout");
    if let Some(content_type) = content_type {
        // What no HTTP parser lets through never reaches the route.
        let value = HeaderValue::from_bytes(content_type).ok()?;
        request = request.insert_header((CONTENT_TYPE, value));
    }
    let read = logout_token_of(&request.to_http_request(), body);
    let expected = model(content_type, body);
    assert_eq!(
        read.as_ref().ok(),
        expected.as_ref(),
        "content type {content_type:?}"
    );
    if let Ok(token) = &read {
        assert!(
            token.len() <= MAX_LEN,
            "read a token of {} bytes",
            token.len()
        );
    }
    Some(read)
}

/// The model: a form media type, and the one `logout_token` pair's value
/// if there is exactly one and it fits.
fn model(content_type: Option<&[u8]>, body: &[u8]) -> Option<String> {
    if !is_form(content_type?) {
        return None;
    }
    match form::values(body, "logout_token").as_slice() {
        [token] if token.len() <= MAX_LEN => Some(token.clone()),
        _ => None,
    }
}

/// A header of visible ASCII (and HTAB) whose media type, before any `;`
/// and with SP/HTAB around it dropped, is the form's in any ASCII case.
fn is_form(content_type: &[u8]) -> bool {
    let visible = content_type
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b));
    let essence = content_type.split(|&b| b == b';').next().unwrap_or(&[]);
    let essence = essence.trim_ascii();
    visible && essence.eq_ignore_ascii_case(FORM.as_bytes())
}

/// A form a provider could post: the pairs serialised as a form
/// serialiser does, read back exactly.
fn written(
    Pairs {
        content_type,
        pairs,
    }: Pairs,
) {
    let content_type = match content_type {
        ContentType::Form => FORM.to_owned(),
        ContentType::FormWithCharset => format!("{FORM}; charset=UTF-8"),
        ContentType::Other(other) => other,
    };
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in &pairs {
        let name = match name {
            Name::LogoutToken => "logout_token",
            Name::Other(other) => other,
        };
        serializer.append_pair(name, value);
    }
    let body = serializer.finish();
    let Some(read) = check(Some(content_type.as_bytes()), body.as_bytes()) else {
        return;
    };
    let tokens: Vec<&String> = pairs
        .iter()
        .filter(|(name, _)| match name {
            Name::LogoutToken => true,
            Name::Other(other) => other == "logout_token",
        })
        .map(|(_, value)| value)
        .collect();
    let form_type = is_form(content_type.as_bytes());
    match (tokens.as_slice(), read) {
        ([token], Ok(read)) => assert_eq!(&&read, token, "read another value than sent"),
        ([token], Err(_)) => assert!(
            !form_type || token.len() > MAX_LEN,
            "refused a form with one token"
        ),
        (_, Ok(read)) => panic!("read {read:?} from {} tokens", tokens.len()),
        (_, Err(_)) => {}
    }
}

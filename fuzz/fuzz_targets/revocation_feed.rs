//! Both ends of the revocation feed: the query `GET /sessions/revoked`
//! reads its cursor from (`routes::revocations::cursor`), and the page an
//! app reads from the answer (`handoff_guard::login_service::RevokedPage::parse`).
//!
//! - Mode byte 0: any query string. The cursor is read exactly when the
//!   query has one `since` (an unsigned decimal that fits 64 bits, an
//!   optional `+` before it, as Rust reads integers) and at most one
//!   `after`, each at most `MAX_PARAM_LEN` bytes once decoded, and it is
//!   what the model of the form syntax decodes; a parameter sent twice is
//!   refused, never resolved to one of its copies.
//! - 1: any bytes as the answer. A page is read only if a generic JSON
//!   reader sees one object, and it is what that reader sees: the same
//!   entries in the same order, `now`, and `more` (false when absent); at
//!   most `PAGE_LEN` entries, each sid 1 to `MAX_SID_LEN` bytes.
//! - 2: a cursor as the app writes it (`page_url`) is read back exactly
//!   by the public service, and a page as the public service writes it is
//!   read back exactly by the app, or refused when beyond those bounds.
#![no_main]

use actix_web::http::Uri;
use actix_web::test::TestRequest;
use fuzz::form;
use handoff_guard::login_service::{page_url, RevokedPage, RevokedSession, MAX_SID_LEN, PAGE_LEN};
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use public_service::routes::revocations::cursor;
use public_service::routes::MAX_PARAM_LEN;
use serde_json::Value;
use url::Url;

const FEED: &str = "https://auth.example.com/sessions/revoked";

#[derive(Arbitrary, Debug)]
struct Written {
    since: u64,
    after: Option<(String, u64)>,
    revoked: Vec<(String, u64)>,
    /// Entries beyond those, so a page can pass `PAGE_LEN`.
    more_entries: u16,
    now: u64,
    more: bool,
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Ok(query) = std::str::from_utf8(rest) {
                query_read(query);
            }
        }
        1 => page_read(rest),
        _ => {
            if let Ok(input) = Written::arbitrary_take_rest(Unstructured::new(rest)) {
                written(input);
            }
        }
    }
});

/// The cursor the route reads from `query`, checked against the model;
/// `None` when no HTTP parser would let the query through.
fn query_read(query: &str) -> Option<Option<(u64, Option<String>)>> {
    let uri = format!("/sessions/revoked?{query}");
    uri.parse::<Uri>().ok()?;
    let request = TestRequest::get().uri(&uri).to_http_request();
    let read = cursor(&request);
    assert_eq!(read, model(request.query_string()), "query {query:?}");
    Some(read)
}

fn model(query: &str) -> Option<(u64, Option<String>)> {
    let since = match form::values(query.as_bytes(), "since").as_slice() {
        [since] if since.len() <= MAX_PARAM_LEN => decimal(since)?,
        _ => return None,
    };
    let after = match form::values(query.as_bytes(), "after").as_slice() {
        [] => None,
        [after] if after.len() <= MAX_PARAM_LEN => Some(after.clone()),
        _ => return None,
    };
    Some((since, after))
}

/// An optional `+`, then one or more ASCII digits, that fits a u64.
fn decimal(text: &str) -> Option<u64> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() {
        return None;
    }
    digits.bytes().try_fold(0u64, |n, b| {
        let digit = (b as char).to_digit(10)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

fn page_read(body: &[u8]) {
    let Some(page) = RevokedPage::parse(body) else {
        return;
    };
    let generic: Value = serde_json::from_slice(body).expect("a read page is JSON");
    let object = generic.as_object().expect("a read page is an object");
    let entries = object
        .get("revoked")
        .and_then(Value::as_array)
        .expect("revoked is a list");
    assert_eq!(entries.len(), page.revoked.len());
    for (entry, read) in entries.iter().zip(&page.revoked) {
        let entry = entry.as_object().expect("an entry is an object");
        assert_eq!(entry.get("sid"), Some(&Value::from(read.sid.as_str())));
        assert_eq!(entry.get("revoked_at"), Some(&Value::from(read.revoked_at)));
    }
    assert_eq!(object.get("now"), Some(&Value::from(page.now)));
    assert_eq!(
        object.get("more").unwrap_or(&Value::Bool(false)),
        &page.more
    );
    assert!(
        page.revoked.len() <= PAGE_LEN,
        "read {} entries",
        page.revoked.len()
    );
    assert!(
        page.revoked
            .iter()
            .all(|e| !e.sid.is_empty() && e.sid.len() <= MAX_SID_LEN),
        "read an empty or over-long sid"
    );
}

fn written(input: Written) {
    // The app's query, as it asks for the next page.
    let last = input
        .after
        .map(|(sid, revoked_at)| RevokedSession { sid, revoked_at });
    let url = page_url(
        &Url::parse(FEED).expect("a URL"),
        input.since,
        last.as_ref(),
    );
    let query = url.query().expect("a query");
    let read = query_read(query).expect("the app's query is a valid URI");
    let since = last.as_ref().map_or(input.since, |l| l.revoked_at);
    match &last {
        Some(last) if last.sid.len() > MAX_PARAM_LEN => assert_eq!(read, None),
        _ => assert_eq!(read, Some((since, last.map(|l| l.sid)))),
    }

    // The public service's page, as its route writes it.
    let mut revoked: Vec<RevokedSession> = input
        .revoked
        .into_iter()
        .map(|(sid, revoked_at)| RevokedSession { sid, revoked_at })
        .collect();
    for i in 0..input.more_entries % 1100 {
        revoked.push(RevokedSession {
            sid: format!("s{i}"),
            revoked_at: input.now,
        });
    }
    let sent = RevokedPage {
        revoked,
        now: input.now,
        more: input.more,
    };
    let body = serde_json::to_vec(&serde_json::to_value(&sent).expect("JSON")).expect("JSON");
    let within = sent.revoked.len() <= PAGE_LEN
        && sent
            .revoked
            .iter()
            .all(|e| !e.sid.is_empty() && e.sid.len() <= MAX_SID_LEN);
    match RevokedPage::parse(&body) {
        Some(read) => {
            assert!(within, "read a page beyond the bounds");
            assert_eq!(read.now, sent.now);
            assert_eq!(read.more, sent.more);
            let pairs = |p: &RevokedPage| -> Vec<(String, u64)> {
                p.revoked
                    .iter()
                    .map(|e| (e.sid.clone(), e.revoked_at))
                    .collect()
            };
            assert_eq!(pairs(&read), pairs(&sent), "read other entries than sent");
        }
        None => assert!(!within, "refused a page the public service writes"),
    }
}

//! `return_to` validation against a registry of several apps. Whatever is
//! accepted is a URL on a registered app (same origin, no credentials),
//! stable under re-parsing and re-validation, within the length limit,
//! and its path keeps the browser on that app when the app redirects to it.
#![no_main]

use fuzz::{registry, APP_ORIGINS};
use libfuzzer_sys::fuzz_target;
use public_service::apps::{ReturnTo, MAX_RETURN_TO_LEN};
use url::Url;

/// Starts the fuzzer often uses, so it spends its time after the origin.
const PREFIXES: [&str; 4] = ["", "https://", "http://", "//"];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let Ok(rest) = std::str::from_utf8(rest) else {
        return;
    };
    let i = usize::from(choice) % (APP_ORIGINS.len() + PREFIXES.len());
    let prefix = APP_ORIGINS
        .get(i)
        .unwrap_or_else(|| &PREFIXES[i - APP_ORIGINS.len()]);
    let raw = format!("{prefix}{rest}");
    if let Ok(accepted) = registry().return_to(&raw) {
        check(&raw, &accepted);
    }
});

fn check(raw: &str, accepted: &ReturnTo) {
    assert!(raw.len() <= MAX_RETURN_TO_LEN);
    let url = Url::parse(accepted.as_str()).expect("an accepted URL parses again");
    assert_eq!(
        url.as_str(),
        accepted.as_str(),
        "not stable under re-parsing"
    );
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "credentials in {url}"
    );
    assert!(matches!(url.scheme(), "http" | "https"));

    let origin = url.origin();
    let app = registry()
        .by_audience(accepted.audience())
        .expect("the audience is a registered app");
    assert_eq!(app.origin_url().origin(), origin, "{raw:?} left its app");
    assert_eq!(origin.ascii_serialization(), accepted.audience());
    assert_eq!(accepted.app_url().origin(), origin);

    // The stored value travels in the login-transaction cookie.
    assert!(
        accepted.as_str().len() <= MAX_RETURN_TO_LEN,
        "{raw:?} grew to {} bytes",
        accepted.as_str().len()
    );
    assert_eq!(
        registry().return_to(accepted.as_str()).as_ref(),
        Ok(accepted)
    );

    // An app redirects to this path after redeeming a code.
    let path = accepted.path_and_query();
    let landed = accepted
        .app_url()
        .join(&path)
        .expect("the path joins its app");
    assert_eq!(landed.origin(), origin, "{path:?} leads off the app");
}

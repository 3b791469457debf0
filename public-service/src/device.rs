//! What the sessions page says about where a session was started: a device
//! summary ("Chrome on macOS") made from the User-Agent at sign-in, and,
//! only when the operator names the header, the approximate place their
//! load balancer reports.
//!
//! Only the summary is stored, never the User-Agent: it is made of names
//! from the fixed tables below, so whatever a browser sends (huge, odd or
//! hostile), what reaches the database and the page is one of a few dozen
//! known strings. A small table rather than a crate: the families are all
//! the page needs, and the full parsers carry regex sets of megabytes.

use actix_web::http::header::{self, HeaderName};
use actix_web::HttpRequest;

/// Only this much of the User-Agent is looked at: real ones are a few
/// hundred bytes, and the family tokens come early.
const MAX_USER_AGENT_READ: usize = 512;

/// Longest place kept, in characters (Google's `{region},{city}` is short).
pub const MAX_PLACE_CHARS: usize = 64;

/// Browser families, most specific first: Edge, Opera and Samsung
/// Internet also say "Chrome", Chrome also says "Safari".
const BROWSERS: &[(&str, &str)] = &[
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("Opera", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Vivaldi/", "Vivaldi"),
    ("FxiOS/", "Firefox"),
    ("Firefox/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Version/", "Safari"),
];

/// Operating system families; iPad and iPhone before macOS (iPadOS may
/// claim "Mac OS X"), Android before Linux.
const SYSTEMS: &[(&str, &str)] = &[
    ("Windows", "Windows"),
    ("iPhone", "iOS"),
    ("iPod", "iOS"),
    ("iPad", "iPadOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
];

/// "Chrome on macOS", "Firefox", "a browser on Linux", or `None` when
/// nothing is recognised (the page says "Unknown device").
pub fn summary(user_agent: Option<&str>) -> Option<String> {
    let raw = user_agent?;
    let mut end = raw.len().min(MAX_USER_AGENT_READ);
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    let ua = &raw[..end];
    let find = |table: &[(&'static str, &'static str)]| {
        table
            .iter()
            .find(|(token, _)| ua.contains(token))
            .map(|(_, name)| *name)
    };
    // "Version/" names Safari only beside "Safari/".
    let browser = find(BROWSERS).filter(|name| *name != "Safari" || ua.contains("Safari/"));
    match (browser, find(SYSTEMS)) {
        (Some(browser), Some(system)) => Some(format!("{browser} on {system}")),
        (Some(browser), None) => Some(browser.to_owned()),
        (None, Some(system)) => Some(format!("A browser on {system}")),
        (None, None) => None,
    }
}

/// The request's device summary.
pub fn summary_of(req: &HttpRequest) -> Option<String> {
    summary(
        req.headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    )
}

/// The place the header `name` reports (only ever called when the
/// operator configured it), as plain printable text of at most
/// [`MAX_PLACE_CHARS`]; `None` when absent, empty or unreadable.
/// Askama escapes it on the page.
pub fn place_of(req: &HttpRequest, name: &HeaderName) -> Option<String> {
    let value = req.headers().get(name)?.to_str().ok()?;
    let place: String = value
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_PLACE_CHARS)
        .collect();
    let place = place.trim();
    (!place.is_empty()).then(|| place.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_browsers_get_their_family_names() {
        let cases = [
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "Chrome on macOS",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
        ];
        for (ua, expected) in cases {
            assert_eq!(summary(Some(ua)).as_deref(), Some(expected), "{ua}");
        }
    }

    #[test]
    fn odd_huge_and_hostile_user_agents_give_only_known_names() {
        assert_eq!(summary(None), None);
        assert_eq!(summary(Some("")), None);
        assert_eq!(summary(Some("curl/8.4.0")), None);
        assert_eq!(
            summary(Some("<script>alert(1)</script> Firefox/1")).as_deref(),
            Some("Firefox")
        );
        // A family token past the read limit is not looked for.
        let huge = format!("{}Firefox/1", "é".repeat(10_000));
        assert_eq!(summary(Some(huge.as_str())), None);
        let huge_linux = format!("Linux {}", "x".repeat(1_000_000));
        assert_eq!(
            summary(Some(huge_linux.as_str())).as_deref(),
            Some("A browser on Linux")
        );
        // "Version/" alone is not Safari.
        assert_eq!(summary(Some("Version/3")), None);
    }

    #[test]
    fn the_place_is_bounded_printable_text() {
        let name = HeaderName::from_static("x-client-geo-location");
        let req = |value: &str| {
            actix_web::test::TestRequest::default()
                .insert_header((name.clone(), value))
                .to_http_request()
        };
        assert_eq!(
            place_of(&req("USCA,Mountain View"), &name).as_deref(),
            Some("USCA,Mountain View")
        );
        assert_eq!(place_of(&req("   "), &name), None);
        let long = "y".repeat(500);
        assert_eq!(
            place_of(&req(&long), &name).map(|p| p.chars().count()),
            Some(MAX_PLACE_CHARS)
        );
        let absent = actix_web::test::TestRequest::default().to_http_request();
        assert_eq!(place_of(&absent, &name), None);
    }
}

//! Which site a browser's request comes from, read exactly: the `Origin`
//! header, or `Referer`'s origin when a browser sent no `Origin`.
//!
//! A browser sends `Origin` as the serialised origin of the page, nothing
//! more (RFC 6454 §7, the Fetch standard's "serializing a request
//! origin"): `https://app.example.com`, lowercase, no path, no trailing
//! slash, or `null`. So an `Origin` is taken only when its bytes are
//! exactly such a serialisation; `HTTPS://App.Example.com`,
//! `https://app.example.com/` or `https://app.example.com/x` are no
//! browser's and are refused rather than tidied into ours. Several
//! `Origin` headers are refused as well: a browser sends one.

/// The origin a browser's request claims (serialised, e.g.
/// `https://app.example.com`), or `None` when it claims none a browser
/// would send: no header, several, `null`, or not exactly a serialised
/// origin. `origins` and `referers` are the values of every `Origin` and
/// `Referer` header of the request.
pub fn claimed<'a, O, R>(origins: O, referers: R) -> Option<String>
where
    O: IntoIterator<Item = &'a [u8]>,
    R: IntoIterator<Item = &'a [u8]>,
{
    match one(origins) {
        Ok(Some(origin)) => exact_origin(origin),
        Ok(None) => one(referers)
            .ok()
            .flatten()
            .and_then(|referer| std::str::from_utf8(referer).ok())
            .and_then(|referer| url::Url::parse(referer).ok())
            .map(|url| url.origin())
            .filter(url::Origin::is_tuple)
            .map(|origin| origin.ascii_serialization()),
        Err(Several) => None,
    }
}

struct Several;

fn one<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Result<Option<&'a [u8]>, Several> {
    let mut values = values.into_iter();
    let first = values.next();
    match values.next() {
        Some(_) => Err(Several),
        None => Ok(first),
    }
}

/// `raw` when it is exactly the serialisation of a tuple origin.
fn exact_origin(raw: &[u8]) -> Option<String> {
    let raw = std::str::from_utf8(raw).ok()?;
    let origin = url::Url::parse(raw).ok()?.origin();
    (origin.is_tuple() && origin.ascii_serialization() == raw).then(|| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(origins: &[&str], referers: &[&str]) -> Option<String> {
        claimed(
            origins.iter().map(|v| v.as_bytes()),
            referers.iter().map(|v| v.as_bytes()),
        )
    }

    #[test]
    fn a_browsers_origin_is_taken_as_sent() {
        let own = Some("https://app.example.com".to_owned());
        assert_eq!(claim(&["https://app.example.com"], &[]), own);
        assert_eq!(
            claim(&["http://127.0.0.1:8080"], &[]).as_deref(),
            Some("http://127.0.0.1:8080")
        );
        // Referer only without Origin, and only its origin.
        assert_eq!(claim(&[], &["https://app.example.com/a?b#c"]), own);
        assert_eq!(
            claim(&["https://app.example.com"], &["https://evil.example/"]),
            own
        );
    }

    #[test]
    fn an_origin_no_browser_would_send_is_refused_not_tidied() {
        for raw in [
            "HTTPS://APP.EXAMPLE.COM",
            "https://App.example.com",
            "https://app.example.com/",
            "https://app.example.com/x",
            "https://app.example.com:443",
            "https://user@app.example.com",
            " https://app.example.com",
            "https://app.example.com ",
            "null",
            "",
            "data:,x",
        ] {
            assert_eq!(claim(&[raw], &[]), None, "{raw:?}");
            // A bad Origin does not fall back to Referer.
            assert_eq!(
                claim(&[raw], &["https://app.example.com/"]),
                None,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn several_origins_or_referers_are_refused() {
        assert_eq!(
            claim(&["https://app.example.com", "https://app.example.com"], &[]),
            None
        );
        assert_eq!(
            claim(&[], &["https://app.example.com/", "https://evil.example/"]),
            None
        );
    }
}

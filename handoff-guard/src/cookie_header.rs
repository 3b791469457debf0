//! Reading our cookies from the raw `Cookie` request header, by the exact
//! bytes of their names.
//!
//! A browser applies the `__Host-` and `__Secure-` rules only to a cookie
//! whose name starts with those exact bytes (RFC 6265bis §4.1.3). A reader
//! that decodes or trims names before comparing them would take a cookie
//! the browser never held to those rules for one of ours: `__%48ost-session`
//! percent-decodes to `__Host-session`, and `\u{2000}__Host-handoff` trims
//! to `__Host-handoff`, yet a sibling host on a shared parent domain may set
//! either with `Domain=` the parent. So a name here is compared byte for
//! byte, and nothing about it is decoded or trimmed but the separators the
//! header's grammar puts around each pair.
//!
//! The grammar is RFC 6265 §4.2.1: `cookie-string = cookie-pair *( ";" SP
//! cookie-pair )`, with optional whitespace (SP, HTAB) around it. Each pair
//! loses only that ASCII whitespace at its two ends; a pair without `=` has
//! no name and is skipped; a value in double quotes loses them.
//!
//! A name that is not exactly ours is someone else's cookie: ignored, never
//! an error (browsers send every cookie of the site). A name of ours that
//! arrives **twice** is refused as if absent: a browser holds one
//! `__Host-` cookie per name for a host, so two copies mean that another
//! host set one for a parent domain with a longer path (which browsers send
//! first); taking either could hand the request to a session the person
//! never started.

/// Where a cookie of ours was looked for, and what was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// No pair carries the name.
    Absent,
    /// Exactly one pair carries the name; its value (quotes removed).
    Found(&'a str),
    /// More than one pair carries the name: refused, taken as absent.
    Ambiguous,
    /// One pair carries the name but its value is not UTF-8.
    Malformed,
}

impl<'a> Lookup<'a> {
    /// The value, when exactly one well-formed pair carried the name.
    pub fn value(self) -> Option<&'a str> {
        match self {
            Self::Found(value) => Some(value),
            _ => None,
        }
    }
}

/// Every `(name, value)` pair of the given `Cookie` header values, in the
/// order sent, as raw bytes: names neither decoded nor trimmed.
pub fn pairs<'a, I>(headers: I) -> impl Iterator<Item = (&'a [u8], &'a [u8])>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    headers
        .into_iter()
        .flat_map(|header| header.split(|&b| b == b';'))
        .filter_map(|pair| {
            let pair = trim_ows(pair);
            let eq = pair.iter().position(|&b| b == b'=')?;
            let (name, value) = (&pair[..eq], &pair[eq + 1..]);
            Some((name, unquoted(value)))
        })
}

/// The cookie named exactly `name` among the given `Cookie` header values.
pub fn find<'a, I>(headers: I, name: &str) -> Lookup<'a>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut found = None;
    for (key, value) in pairs(headers) {
        if key != name.as_bytes() {
            continue;
        }
        if found.is_some() {
            return Lookup::Ambiguous;
        }
        found = Some(value);
    }
    match found {
        None => Lookup::Absent,
        Some(value) => std::str::from_utf8(value).map_or(Lookup::Malformed, Lookup::Found),
    }
}

/// `bytes` without SP and HTAB at its ends, the only whitespace the
/// header's grammar has (not Unicode's).
fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// A value in double quotes (RFC 6265 allows them) without them.
fn unquoted(value: &[u8]) -> &[u8] {
    match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(headers: &[&'a str], name: &str) -> Lookup<'a> {
        find(headers.iter().map(|h| h.as_bytes()), name)
    }

    #[test]
    fn a_cookie_is_found_by_its_exact_name_in_any_header() {
        assert_eq!(
            lookup(&["a=1; __Host-session=id.secret"], "__Host-session"),
            Lookup::Found("id.secret")
        );
        assert_eq!(
            lookup(&["a=1", "b=2;__Host-session=v ; c=3"], "__Host-session"),
            Lookup::Found("v")
        );
        assert_eq!(lookup(&["x=\"y\"; n=\"v\""], "n"), Lookup::Found("v"));
        assert_eq!(lookup(&["n="], "n"), Lookup::Found(""));
        assert_eq!(lookup(&["n=a=b"], "n"), Lookup::Found("a=b"));
        assert_eq!(lookup(&[], "n"), Lookup::Absent);
    }

    #[test]
    fn a_name_that_only_decodes_or_trims_to_ours_is_not_ours() {
        for header in [
            "__%48ost-session=attacker",
            "__%48%6fst-session=attacker",
            "\u{2000}__Host-session=attacker",
            "__Host-session\u{00a0}=attacker",
            "\u{feff}__Host-session=attacker",
            "__host-session=attacker",
            "__HOST-session=attacker",
            "__Host-session =attacker",
            " __Host-session\x0b=attacker",
            "\"__Host-session\"=attacker",
            "__Host-session\0=attacker",
            "__Host-Session=attacker",
            "__Host-session",
        ] {
            assert_eq!(
                lookup(&[header], "__Host-session"),
                Lookup::Absent,
                "{header:?}"
            );
        }
    }

    #[test]
    fn only_the_headers_own_whitespace_is_dropped_around_a_pair() {
        assert_eq!(lookup(&["\t n=v \t"], "n"), Lookup::Found("v"));
        assert_eq!(lookup(&["a=1;n=v"], "n"), Lookup::Found("v"));
        // A value keeps whatever is inside it.
        assert_eq!(lookup(&["n= v"], "n"), Lookup::Found(" v"));
        assert_eq!(lookup(&["n=\u{2000}v"], "n"), Lookup::Found("\u{2000}v"));
    }

    #[test]
    fn a_name_sent_twice_is_refused_wherever_the_copies_are() {
        assert_eq!(lookup(&["n=one; n=two"], "n"), Lookup::Ambiguous);
        assert_eq!(lookup(&["n=one", "a=1; n=two"], "n"), Lookup::Ambiguous);
        assert_eq!(lookup(&["n=one; n=one"], "n"), Lookup::Ambiguous);
        assert_eq!(Lookup::Ambiguous.value(), None);
        // Another name sent twice is not our business.
        assert_eq!(lookup(&["a=1; a=2; n=v"], "n"), Lookup::Found("v"));
    }

    #[test]
    fn a_value_that_is_not_utf8_is_malformed_not_a_panic() {
        let header: &[u8] = b"n=\xff\xfe; m=ok";
        assert_eq!(find([header], "n"), Lookup::Malformed);
        assert_eq!(find([header], "m"), Lookup::Found("ok"));
    }

    #[test]
    fn pairs_keep_names_as_sent() {
        let header: &[u8] = b"__%48ost-a=1; ;noequals; b=\"2\"";
        let got: Vec<_> = pairs([header]).collect();
        assert_eq!(
            got,
            vec![(&b"__%48ost-a"[..], &b"1"[..]), (&b"b"[..], &b"2"[..])]
        );
    }
}

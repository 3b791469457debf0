//! Which paths the gate takes at all, which it answers itself, and which
//! it lets through without a sign-in.
//!
//! The policy is strict rather than clever: a path is taken only if it
//! means the same to every reader, so the gate never normalises one and
//! forwards something the app might read differently. A request path with
//! a dot segment (`.`, `..`), an empty segment (`//`), a `;` parameter, a
//! backslash, a percent-encoded `/`, `\`, `.`, `;` or `%`, or an encoded
//! control byte is refused with `400` before anything else happens. What
//! reaches the app is then the exact path that was matched, byte for byte.
//!
//! Matching is by bytes and so case-sensitive, as RFC 3986 has paths: a
//! case trick (`/STATIC/…` against `/static/`) can only make a path *not*
//! match a public entry, which leaves it protected.
//!
//! The gate's own routes are under [`RESERVED_PREFIX`]: the four paths the
//! login service sends browsers to on every app (`handoff_guard::START_PATH`
//! and its siblings, which it builds as `<app origin>/auth/…`), and
//! [`HEALTH_PATH`]. An app behind the gate does not get `/auth/…` requests.

use handoff_guard::{HANDOFF_PATH, LOGOUT_PATH, SIGNED_OUT_PATH, START_PATH};

/// Every path under it is the gate's own and never forwarded.
pub const RESERVED_PREFIX: &str = "/auth/";

/// The gate's liveness route: `200` while it serves, whatever the app does.
pub const HEALTH_PATH: &str = "/auth/healthz";

/// The code-delivery routes the gate serves for the app.
pub const REDEMPTION_PATHS: [&str; 4] = [START_PATH, HANDOFF_PATH, LOGOUT_PATH, SIGNED_OUT_PATH];

/// Why a request path is refused (the `400`'s log line says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRefusal {
    /// Not starting with `/` (`*`, or an empty path).
    NotAbsolute,
    /// `//`: an empty segment before the last.
    EmptySegment,
    /// A `.` or `..` segment.
    DotSegment,
    /// `%2f`, `%5c`, `%2e`, `%3b` or `%25`: an encoded separator, dot,
    /// parameter mark or percent, which a reader that decodes first sees
    /// as something else.
    EncodedDelimiter,
    /// A `;` (path parameters, which some servers strip before routing).
    Parameter,
    /// A backslash, which some servers read as `/`.
    Backslash,
    /// A raw or encoded control byte (`%00` ends a path for some readers).
    ControlByte,
    /// A `%` not followed by two hex digits.
    BadEscape,
}

impl PathRefusal {
    /// The reason, for the log line.
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotAbsolute => "not an absolute path",
            Self::EmptySegment => "an empty path segment",
            Self::DotSegment => "a dot segment",
            Self::EncodedDelimiter => "a percent-encoded delimiter, dot or percent",
            Self::Parameter => "a ';' parameter",
            Self::Backslash => "a backslash",
            Self::ControlByte => "a control byte",
            Self::BadEscape => "a malformed percent escape",
        }
    }
}

/// Whether `path` (as sent, without the query) is one the gate takes.
pub fn check(path: &str) -> Result<(), PathRefusal> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathRefusal::NotAbsolute);
    }
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let decoded = match bytes.get(i + 1..i + 3) {
                    Some([hi, lo]) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                        hex(*hi) << 4 | hex(*lo)
                    }
                    _ => return Err(PathRefusal::BadEscape),
                };
                match decoded {
                    b'/' | b'\\' | b'.' | b';' | b'%' => return Err(PathRefusal::EncodedDelimiter),
                    0..=0x1f | 0x7f => return Err(PathRefusal::ControlByte),
                    _ => {}
                }
                i += 3;
                continue;
            }
            b';' => return Err(PathRefusal::Parameter),
            b'\\' => return Err(PathRefusal::Backslash),
            0..=0x1f | 0x7f => return Err(PathRefusal::ControlByte),
            _ => {}
        }
        i += 1;
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    for (n, segment) in segments.iter().enumerate() {
        if *segment == "." || *segment == ".." {
            return Err(PathRefusal::DotSegment);
        }
        // Only the last segment may be empty: `/` and `/dir/`.
        if segment.is_empty() && n + 1 < segments.len() {
            return Err(PathRefusal::EmptySegment);
        }
    }
    Ok(())
}

fn hex(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

/// `PUBLIC_PATHS`: exact paths, and prefixes ending in `/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicPaths {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl PublicPaths {
    /// Parses the entries; an error names the entry and what is wrong.
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut paths = Self::default();
        for entry in entries {
            let entry = entry.as_ref();
            if let Err(refusal) = check(entry) {
                return Err(format!(
                    "{entry:?} is not a path the gate would take ({}); write paths such as /healthz or prefixes such as /static/",
                    refusal.reason()
                ));
            }
            if entry == "/" {
                return Err(
                    "\"/\" would make every path public; the gate is then of no use".into(),
                );
            }
            if entry.starts_with(RESERVED_PREFIX) || entry == RESERVED_PREFIX.trim_end_matches('/')
            {
                return Err(format!(
                    "{entry:?} is under {RESERVED_PREFIX}, which the gate answers itself"
                ));
            }
            if entry.ends_with('/') {
                paths.prefixes.push(entry.to_owned());
            } else {
                paths.exact.push(entry.to_owned());
            }
        }
        Ok(paths)
    }

    /// Whether `path` (already through [`check`]) needs no sign-in.
    pub fn matches(&self, path: &str) -> bool {
        self.exact.iter().any(|p| p == path)
            || self.prefixes.iter().any(|p| path.starts_with(p.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_pass_and_every_trick_is_refused() {
        for ok in [
            "/",
            "/a",
            "/a/",
            "/static/app.js",
            "/caf%C3%A9",
            "/a-b_c~d.e",
            "/%41",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", PathRefusal::NotAbsolute),
            ("*", PathRefusal::NotAbsolute),
            ("//admin", PathRefusal::EmptySegment),
            ("/static//admin", PathRefusal::EmptySegment),
            ("/static/../admin", PathRefusal::DotSegment),
            ("/static/./x", PathRefusal::DotSegment),
            ("/static/..", PathRefusal::DotSegment),
            ("/static/%2e%2e/admin", PathRefusal::EncodedDelimiter),
            ("/static/%2E%2E/admin", PathRefusal::EncodedDelimiter),
            ("/static/.%2e/admin", PathRefusal::EncodedDelimiter),
            ("/static%2fadmin", PathRefusal::EncodedDelimiter),
            ("/static%2Fadmin", PathRefusal::EncodedDelimiter),
            ("/static/%5c..%5cadmin", PathRefusal::EncodedDelimiter),
            ("/static/%252e%252e/admin", PathRefusal::EncodedDelimiter),
            ("/static/%3b/admin", PathRefusal::EncodedDelimiter),
            ("/admin;/static/x", PathRefusal::Parameter),
            ("/static/x;jsessionid=1", PathRefusal::Parameter),
            ("/static\\..\\admin", PathRefusal::Backslash),
            ("/static/%00/admin", PathRefusal::ControlByte),
            ("/static/%0a", PathRefusal::ControlByte),
            ("/static/%zz", PathRefusal::BadEscape),
            ("/static/%2", PathRefusal::BadEscape),
            ("/static/%+1", PathRefusal::BadEscape),
        ] {
            assert_eq!(check(bad), Err(why), "{bad}");
        }
    }

    #[test]
    fn exact_entries_match_whole_paths_and_prefixes_their_subtree() {
        let public = PublicPaths::new(&["/healthz", "/static/"]).unwrap();
        assert!(public.matches("/healthz"));
        assert!(public.matches("/static/app.js"));
        assert!(public.matches("/static/"));
        for protected in [
            "/healthz/x",
            "/healthzx",
            "/static",
            "/staticx/a",
            "/STATIC/a",
            "/Healthz",
            "/admin",
        ] {
            assert!(!public.matches(protected), "{protected}");
        }
    }

    #[test]
    fn entries_that_would_not_match_as_written_or_open_everything_are_refused() {
        for bad in [
            "healthz", "/", "/a/../b", "/a//", "/a;b", "/auth/", "/auth/x", "/auth",
        ] {
            assert!(PublicPaths::new(&[bad]).is_err(), "{bad}");
        }
    }
}

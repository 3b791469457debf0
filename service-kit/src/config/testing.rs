//! For the services' tests: that every URL setting goes through the URL
//! readers, and what each then refuses.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use url::Url;

use super::{ConfigError, Env};

/// Endings of variable names whose value is, or may be, a URL.
const URL_LIKE: [&str; 9] = [
    "_URL",
    "_URLS",
    "_URI",
    "_URIS",
    "_ISSUER",
    "_ISSUERS",
    "_ORIGIN",
    "_ORIGINS",
    "_ENDPOINT",
];

pub fn looks_like_url_setting(name: &str) -> bool {
    URL_LIKE.iter().any(|end| name.ends_with(end))
}

/// Every quoted `SCREAMING_CASE` string that looks like a URL
/// setting's name, in the `.rs` files under `dir` but those named in
/// `skip` (a skipped `x.rs` with its submodules under `x/`): where a
/// service names a setting it reads, even one read only under some
/// configuration.
pub fn url_like_names_in(dir: &Path, skip: &[&str]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                // A skipped module's submodules are skipped with it.
                if !skip.contains(&format!("{name}.rs").as_str()) {
                    dirs.push(path);
                }
            } else if name.ends_with(".rs") && !skip.contains(&name) {
                let text = std::fs::read_to_string(&path).expect("a source file");
                for quoted in text.split('"') {
                    let screaming = quoted.starts_with(|c: char| c.is_ascii_uppercase())
                        && quoted
                            .chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                    if screaming && looks_like_url_setting(quoted) {
                        names.insert(quoted.to_owned());
                    }
                }
            }
        }
    }
    names
}

/// A service's URL settings, as its tests declare them.
pub struct UrlSettings<'a> {
    /// A valid environment in which every URL setting is set, each to
    /// an `https` URL on a host of its own (or the metadata server),
    /// and read.
    pub environment: Vec<(String, String)>,
    /// Every variable whose value is a URL or a list of them.
    pub url_settings: &'a [&'a str],
    /// Names that look like URL settings but are not, and why.
    pub not_url_settings: &'a [(&'a str, &'a str)],
    /// The service's sources (and what it delegates to).
    pub sources: Vec<PathBuf>,
    /// Files of `sources` not searched for names.
    pub skip: &'a [&'a str],
    /// The service's settings reader.
    pub parse: &'a dyn Fn(&Env) -> Result<(), ConfigError>,
}

impl UrlSettings<'_> {
    /// Panics unless every URL setting the service has is listed
    /// and, for each, plain `http` to another host, a user name or
    /// password, a fragment and another scheme are refused at start
    /// naming it, while plain `http` to loopback is accepted.
    pub fn assert_each_is_checked(&self) {
        let env = Env::from_map(self.environment.clone());
        if let Err(e) = (self.parse)(&env) {
            panic!("the test environment is refused: {e}");
        }
        let mut listed: Vec<&str> = self.url_settings.to_vec();
        listed.sort_unstable();
        assert_eq!(
            env.url_names_read(),
            listed,
            "the settings read as URLs are not the ones listed as URL settings"
        );
        let known = |name: &str| {
            self.url_settings.contains(&name)
                || self.not_url_settings.iter().any(|(n, _)| *n == name)
        };
        for name in env.names_read() {
            assert!(
                !looks_like_url_setting(&name) || known(&name),
                "{name} is read, looks like a URL setting, and is not read as a URL"
            );
        }
        for dir in &self.sources {
            for name in url_like_names_in(dir, self.skip) {
                assert!(
                    known(&name),
                    "{name} is named in {dir:?} and is neither a listed URL setting nor listed as not one"
                );
            }
        }
        for name in self.url_settings {
            self.assert_refusals(name);
        }
    }

    fn assert_refusals(&self, name: &str) {
        let original = self
            .environment
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} is not set in the test environment"));
        let outcome = |value: &str| {
            // Other settings that name this one's value (an app's
            // service account names its origin) follow it.
            let vars = self.environment.iter().map(|(n, v)| {
                let v = if n == name {
                    value.to_owned()
                } else {
                    v.replace(&original, value)
                };
                (n.clone(), v)
            });
            (self.parse)(&Env::from_map(vars))
        };
        let refused = |value: &str, says: &str| match outcome(value) {
            Ok(()) => panic!("{name}={value} is accepted"),
            Err(e) => {
                assert_eq!(e.name, name, "{name}={value}: {e}");
                assert!(e.problem.contains(says), "{name}={value}: {e}");
                assert!(!e.problem.contains("hunter2"), "{name}={value}: {e}");
            }
        };
        let moved = |scheme: &str, host: &str, port: Option<u16>| {
            variant(&original, |url| {
                url.set_scheme(scheme)
                    .expect("http and https are interchangeable");
                url.set_host(Some(host)).expect("a host");
                url.set_port(port).expect("a port");
            })
        };
        let https = "must be an https URL";
        refused(&moved("http", "example.net", None), https);
        refused(
            &moved("http", "example.net", None).replacen("http", "HTTP", 1),
            https,
        );
        refused(&moved("http", "localhost.example.net", Some(8443)), https);
        refused(&moved("http", "127.0.0.1.nip.io", Some(8443)), https);
        refused(&moved("http", "10.0.0.7", None), https);
        let userinfo = "user name or password";
        refused(
            &variant(&moved("http", "example.net", None), |url| {
                url.set_username("127.0.0.1").expect("a user name");
            }),
            userinfo,
        );
        refused(
            &variant(&original, |url| {
                url.set_username("user").expect("a user name");
                url.set_password(Some("hunter2")).expect("a password");
            }),
            userinfo,
        );
        refused(
            &variant(&original, |url| url.set_fragment(Some("top"))),
            "#fragment",
        );
        refused(
            &original
                .replacen("https", "ftp", 1)
                .replacen("http:", "ftp:", 1),
            "not an http(s) URL",
        );
        for host in ["127.0.0.1", "localhost", "[::1]"] {
            let loopback = moved("http", host, Some(8443));
            if let Err(e) = outcome(&loopback) {
                panic!("{name}={loopback} is refused: {e}");
            }
        }
    }
}

/// `original` changed by `change`, without the `/` the parser adds to
/// an origin if `original` had none.
fn variant(original: &str, change: impl FnOnce(&mut Url)) -> String {
    let mut url = Url::parse(original).expect("the test environment's URL");
    change(&mut url);
    let text = url.to_string();
    match text.strip_suffix('/') {
        Some(origin) if !original.ends_with('/') && url.path() == "/" => origin.to_owned(),
        _ => text,
    }
}

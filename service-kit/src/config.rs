// Over 400 lines: the one reader of the environment (its error wording is the product); half of the lines are its tests and the helpers the services' tests check their URL settings with.
//! Settings from environment variables, Cloud Run style.
//!
//! Every reader returns a [`ConfigError`] naming the variable, so a service
//! stops at start with one line such as
//! `configuration error: PUBLIC_URL: "foo" is not an absolute URL; expected something like https://auth.example.com`.
//! [`Env::check_required`] names every missing required variable at once,
//! each with an example value.
//! Secrets may come from `NAME` or from a file named by `NAME_FILE` (a mounted
//! Secret Manager volume); never from both.
//!
//! Every URL setting is read through [`Env::url`], [`Env::optional_url`],
//! [`Env::optional_url_with`] or [`Env::url_list`]: `https`, or plain `http`
//! only to a loopback address, and never with a user name, password or
//! fragment. A setting that names keys, an issuer or a peer decides whom the
//! service trusts, so a network attacker must not be able to read or replace
//! what travels to or from it. Those readers also record the names
//! ([`Env::url_names_read`]), so each service's tests can check that every
//! URL setting it has goes through them.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    pub name: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(name: &str, problem: impl Display) -> Self {
        Self {
            name: name.to_owned(),
            problem: problem.to_string(),
        }
    }
}

/// A variable a service cannot start without, and an example value for it.
#[derive(Debug, Clone, Copy)]
pub struct Required<'a> {
    /// Set when any of these is (e.g. `ALLOWED_EMAILS` or `ALLOWED_DOMAINS`).
    pub names: &'a [&'a str],
    pub example: &'a str,
    /// Also satisfied by `NAME_FILE`.
    pub secret: bool,
}

impl<'a> Required<'a> {
    pub const fn var(names: &'a [&'a str], example: &'a str) -> Self {
        Self {
            names,
            example,
            secret: false,
        }
    }

    pub const fn secret(names: &'a [&'a str], example: &'a str) -> Self {
        Self {
            names,
            example,
            secret: true,
        }
    }
}

type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where settings are read from: the process environment, or a map in tests.
pub struct Env {
    lookup: Lookup,
    /// Every name asked for, so a deployment's variables can be checked
    /// against what the services read.
    read: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// The names read as URLs, so tests can check that each URL setting
    /// is held to the `https` rule.
    urls: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Host names taken as loopback besides `localhost` and loopback
    /// addresses; see [`Env::with_loopback_names`].
    loopback_names: Vec<String>,
}

/// What a URL setting may hold besides `https` anywhere and plain `http`
/// to loopback.
#[derive(Debug, Clone, Copy, Default)]
pub struct UrlRule {
    /// Hosts plain `http` may also reach, exactly as written (Google's
    /// metadata server answers only plain `http`, on the instance itself).
    pub plain_http_hosts: &'static [&'static str],
    /// Schemes besides `http(s)` a value may have (`chrome-extension`, for
    /// an extension's origin).
    pub other_schemes: &'static [&'static str],
}

/// Where Google's metadata server answers: the only off-loopback hosts
/// that plain `http` may reach (it serves nothing else, and the traffic
/// never leaves the instance's host).
pub const METADATA_SERVER: UrlRule = UrlRule {
    plain_http_hosts: &["metadata.google.internal", "169.254.169.254"],
    other_schemes: &[],
};

impl Env {
    pub fn from_process() -> Self {
        Self {
            lookup: Box::new(|name| std::env::var(name).ok()),
            read: Default::default(),
            urls: Default::default(),
            loopback_names: Vec::new(),
        }
    }

    pub fn from_map<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let map: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self {
            lookup: Box::new(move |name| map.get(name).cloned()),
            read: Default::default(),
            urls: Default::default(),
            loopback_names: Vec::new(),
        }
    }

    /// Takes `names` as loopback host names in URL settings, as `localhost`
    /// is. For a test harness whose own clients resolve such names to
    /// 127.0.0.1 (to test cookie domains, which an IP address cannot have);
    /// only code can ask for it, no variable turns it on, and the services'
    /// `main` never does.
    pub fn with_loopback_names(mut self, names: &[&str]) -> Self {
        self.loopback_names = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        self
    }

    /// The names read through the URL readers so far (set or not).
    pub fn url_names_read(&self) -> Vec<String> {
        self.urls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// The names looked up so far (with `_FILE` variants of secrets).
    pub fn names_read(&self) -> Vec<String> {
        self.read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    fn raw(&self, name: &str) -> Option<String> {
        self.read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned());
        (self.lookup)(name)
    }

    /// The trimmed value, `None` when unset or blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.raw(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.optional(name)
            .ok_or_else(|| ConfigError::new(name, "is required but not set"))
    }

    /// Every variable of `required` that is not set, in one error: each
    /// with an example value, and where to try the services without them.
    pub fn check_required(&self, required: &[Required<'_>]) -> Result<(), ConfigError> {
        let missing: Vec<&Required<'_>> = required
            .iter()
            .filter(|r| {
                !r.names.iter().any(|name| {
                    self.optional(name).is_some()
                        || (r.secret && self.optional(&format!("{name}_FILE")).is_some())
                })
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = missing.iter().map(|r| r.names.join(" or ")).collect();
        let mut problem = format!(
            "{} required but not set; for example:",
            if missing.len() == 1 { "is" } else { "are" }
        );
        for r in &missing {
            let file = if r.secret {
                format!("   (or {}_FILE=<a file holding it>)", r.names[0])
            } else {
                String::new()
            };
            problem.push_str(&format!("\n    {}={}{file}", r.names[0], r.example));
        }
        problem.push_str(
            "\n  To try the services on this machine without setting anything: cargo run --bin local-stack",
        );
        Err(ConfigError {
            name: names.join(", "),
            problem,
        })
    }

    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| ConfigError::new(name, format!("cannot parse {raw:?}: {e}"))),
        }
    }

    /// A count that must be at least 1 (a rate, a size), `default` when unset.
    pub fn positive_or(&self, name: &str, default: u32) -> Result<u32, ConfigError> {
        match self.parse_or(name, default)? {
            0 => Err(ConfigError::new(
                name,
                format!("must be positive, e.g. {default}"),
            )),
            n => Ok(n),
        }
    }

    pub fn seconds_or(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => parse_duration(&raw).map_err(|e| ConfigError::new(name, e)),
        }
    }

    pub fn flag_or(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
            Some(v) => Err(ConfigError::new(
                name,
                format!("expected true or false, got {v:?}"),
            )),
        }
    }

    /// A required URL: `https`, or plain `http` to loopback.
    pub fn url(&self, name: &str) -> Result<Url, ConfigError> {
        self.register_url(name);
        self.checked_url(name, &self.required(name)?, UrlRule::default())
    }

    /// An optional URL: `https`, or plain `http` to loopback.
    pub fn optional_url(&self, name: &str) -> Result<Option<Url>, ConfigError> {
        self.optional_url_with(name, UrlRule::default())
    }

    /// An optional URL that `rule` also allows.
    pub fn optional_url_with(&self, name: &str, rule: UrlRule) -> Result<Option<Url>, ConfigError> {
        self.register_url(name);
        self.optional(name)
            .map(|raw| self.checked_url(name, &raw, rule))
            .transpose()
    }

    /// A comma-separated list of URLs, each as for [`Env::optional_url_with`];
    /// an error quotes the entry it is about.
    pub fn url_list(&self, name: &str, rule: UrlRule) -> Result<Vec<Url>, ConfigError> {
        self.register_url(name);
        self.list(name)
            .iter()
            .map(|raw| {
                self.checked_url(name, raw, rule).map_err(|e| {
                    let entry = shown(raw);
                    if e.problem.contains(&entry) {
                        e
                    } else {
                        ConfigError::new(name, format!("{entry}: {}", e.problem))
                    }
                })
            })
            .collect()
    }

    /// A comma-separated list of origins a browser may call from (CORS):
    /// a Chrome extension's (`chrome-extension://<id>`), an `https`
    /// origin, or plain `http` on loopback, each written exactly as the
    /// browser sends it in `Origin` (no path, no trailing slash, lowercase
    /// scheme), since it is compared with that header byte for byte. No
    /// wildcard.
    pub fn origin_list(&self, name: &str) -> Result<Vec<String>, ConfigError> {
        let rule = UrlRule {
            other_schemes: &["chrome-extension"],
            ..UrlRule::default()
        };
        let parsed = self.url_list(name, rule)?;
        let origins = self.list(name);
        for (origin, url) in origins.iter().zip(&parsed) {
            let as_sent = match url.scheme() {
                "http" | "https" => url.origin().ascii_serialization() == *origin,
                _ => url.path().is_empty() && url.query().is_none() && url.as_str() == origin,
            };
            if !as_sent {
                return Err(ConfigError::new(
                    name,
                    format!("{} is not an origin as a browser sends it, such as chrome-extension://<id> or https://app.example.com (no path, no trailing slash)", shown(origin)),
                ));
            }
        }
        Ok(origins)
    }

    fn register_url(&self, name: &str) {
        self.urls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned());
    }

    fn checked_url(&self, name: &str, raw: &str, rule: UrlRule) -> Result<Url, ConfigError> {
        let example = example_url(name);
        let url = Url::parse(raw)
            .map_err(|e| ConfigError::new(name, describe_url_error(raw, e, example)))?;
        let other_scheme = rule.other_schemes.contains(&url.scheme());
        if !(matches!(url.scheme(), "http" | "https") || other_scheme) || url.host_str().is_none() {
            return Err(ConfigError::new(
                name,
                format!(
                    "{} is not an http(s) URL with a host; expected something like {example}",
                    shown(raw)
                ),
            ));
        }
        // A password in a setting's value would be repeated wherever the
        // URL is, and a user name before `@` can make a value read as
        // another host than the one it names (`http://127.0.0.1@evil.com`).
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ConfigError::new(
                name,
                format!("must not carry a user name or password (user:password@host); expected something like {example}"),
            ));
        }
        // The fragment never reaches the server: a value with one is not
        // the one the operator meant.
        if url.fragment().is_some() {
            return Err(ConfigError::new(
                name,
                format!(
                    "{} has a #fragment, which is never sent to a server; expected something like {example}",
                    shown(raw)
                ),
            ));
        }
        if url.scheme() == "http"
            && !self.is_loopback(&url)
            && !rule
                .plain_http_hosts
                .contains(&url.host_str().unwrap_or_default())
        {
            let also = match rule.plain_http_hosts {
                [] => String::new(),
                hosts => format!(", and {}", hosts.join(" or ")),
            };
            return Err(ConfigError::new(
                name,
                format!(
                    "must be an https URL (plain http is accepted only for localhost and loopback addresses{also}), for example https://{}",
                    url.host_str().unwrap_or("auth.example.com")
                ),
            ));
        }
        Ok(url)
    }

    /// `localhost`, 127.0.0.0/8 or `::1`, compared on the parsed host (so
    /// `localhost.example.net`, `127.0.0.1.nip.io` or a user name
    /// `127.0.0.1@` are not); plus the names of [`Env::with_loopback_names`].
    fn is_loopback(&self, url: &Url) -> bool {
        match url.host() {
            Some(url::Host::Domain(domain)) => {
                domain == "localhost" || self.loopback_names.iter().any(|n| n == domain)
            }
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
    }

    /// A comma-separated list; blank entries are dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.optional(name)
            .map(|raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A secret from `NAME`, or from the file named by `NAME_FILE`.
    pub fn secret(&self, name: &str) -> Result<Option<SecretString>, ConfigError> {
        let file_var = format!("{name}_FILE");
        match (self.optional(name), self.optional(&file_var)) {
            (Some(_), Some(_)) => Err(ConfigError::new(
                name,
                format!("set either {name} or {file_var}, not both"),
            )),
            (Some(value), None) => Ok(Some(SecretString::from(value))),
            (None, Some(path)) => {
                let contents = std::fs::read_to_string(&path).map_err(|e| {
                    ConfigError::new(&file_var, format!("cannot read {path:?}: {e}"))
                })?;
                let trimmed = contents.trim();
                if trimmed.is_empty() {
                    return Err(ConfigError::new(&file_var, format!("{path:?} is empty")));
                }
                Ok(Some(SecretString::from(trimmed.to_owned())))
            }
            (None, None) => Ok(None),
        }
    }

    pub fn required_secret(&self, name: &str) -> Result<SecretString, ConfigError> {
        self.secret(name)?.ok_or_else(|| {
            ConfigError::new(
                name,
                format!("is required but neither {name} nor {name}_FILE is set"),
            )
        })
    }
}

/// An example value for a URL setting, for error messages.
fn example_url(name: &str) -> &'static str {
    if name.contains("JWKS") {
        "https://www.googleapis.com/oauth2/v3/certs"
    } else if name.contains("METADATA") {
        "http://metadata.google.internal"
    } else if name.contains("CORS") {
        "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
    } else if name.contains("APP") {
        "https://app.example.com"
    } else if name.contains("ISSUER") {
        "https://accounts.google.com"
    } else {
        "https://auth.example.com"
    }
}

/// The value as typed, unless it might carry a password (`user:pw@host`).
fn shown(raw: &str) -> String {
    if raw.contains('@') || raw.len() > 200 {
        "the value".to_owned()
    } else {
        format!("{raw:?}")
    }
}

/// What the `url` crate's parse error means, in words a person setting a
/// variable understands ("relative URL without a base" means: no scheme).
pub fn describe_url_error(raw: &str, error: url::ParseError, example: &str) -> String {
    use url::ParseError as E;
    let value = shown(raw);
    match error {
        E::RelativeUrlWithoutBase => {
            format!("{value} is not an absolute URL; expected something like {example}")
        }
        E::EmptyHost => format!("{value} has no host name; expected something like {example}"),
        E::InvalidPort => format!(
            "{value} has a port that is not a number from 0 to 65535; expected something like {example}"
        ),
        E::IdnaError | E::InvalidDomainCharacter => format!(
            "{value} has a host name with characters a host name cannot have; expected something like {example}"
        ),
        E::InvalidIpv4Address | E::InvalidIpv6Address => {
            format!("{value} has a malformed IP address; expected something like {example}")
        }
        other => format!("{value} is not a URL ({other}); expected something like {example}"),
    }
}

/// `90`, `90s`, `15m`, `12h` or `7d`.
fn parse_duration(raw: &str) -> Result<Duration, String> {
    let (digits, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("expected a duration such as 90s, 15m or 12h, got {raw:?}"))?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(|| format!("expected a duration such as 90s, 15m or 12h, got {raw:?}"))?;
    Ok(Duration::from_secs(secs))
}

/// For the services' tests: that every URL setting goes through the URL
/// readers, and what each then refuses.
#[doc(hidden)]
pub mod testing {
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
    /// `skip`: where a service names a setting it reads, even one read
    /// only under some configuration.
    pub fn url_like_names_in(dir: &Path, skip: &[&str]) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        let mut dirs = vec![dir.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
                let path = entry.expect("a directory entry").path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if path.is_dir() {
                    dirs.push(path);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_positive_count_refuses_zero_and_says_what_would_do() {
        let env = |value: &str| Env::from_map(vec![("RATE".to_owned(), value.to_owned())]);
        assert_eq!(env("5").positive_or("RATE", 60).unwrap(), 5);
        assert_eq!(
            Env::from_map(Vec::<(String, String)>::new())
                .positive_or("RATE", 60)
                .unwrap(),
            60
        );
        let zero = env("0").positive_or("RATE", 60).unwrap_err();
        assert_eq!(zero.name, "RATE");
        assert!(zero.to_string().contains("e.g. 60"), "{zero}");
        assert!(env("-1").positive_or("RATE", 60).is_err());
    }

    #[test]
    fn durations_accept_units_and_bare_seconds() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("10y").is_err());
    }

    /// The refusal of `value` for a setting named `U`, or `None` if accepted.
    fn refusal(value: &str, rule: UrlRule) -> Option<String> {
        Env::from_map([("U", value)])
            .optional_url_with("U", rule)
            .err()
            .map(|e| e.to_string())
    }

    #[test]
    fn a_url_setting_is_https_or_plain_http_to_loopback_exactly() {
        for accepted in [
            "https://auth.example.com",
            "https://keys.example.net/certs?x=1",
            "http://127.0.0.1:8080/certs",
            "http://127.9.8.7",
            "http://[::1]:8080",
            "http://localhost:8080",
            "http://LOCALHOST:8080",
            "HTTP://127.0.0.1:8080",
        ] {
            assert_eq!(refusal(accepted, UrlRule::default()), None, "{accepted}");
        }
        for refused in [
            "http://jwks.example.net/certs",
            "HTTP://jwks.example.net/certs",
            "http://10.0.0.7",
            "http://0.0.0.0:8080",
            "http://localhost.evil.com/certs",
            "http://localhost.:8080",
            "http://127.0.0.1.nip.io/certs",
            "http://127.0.0.1@evil.com/certs",
            "http://[::ffff:127.0.0.1]/certs",
            "http://metadata.google.internal",
        ] {
            let e = refusal(refused, UrlRule::default())
                .unwrap_or_else(|| panic!("{refused} accepted"));
            assert!(e.starts_with("U: "), "{refused}: {e}");
        }
        let e = refusal("http://jwks.example.net/certs", UrlRule::default()).unwrap();
        assert!(
            e.contains("must be an https URL") && e.contains("https://jwks.example.net"),
            "{e}"
        );
    }

    #[test]
    fn a_url_setting_with_credentials_a_fragment_or_another_scheme_is_refused() {
        for (value, says) in [
            (
                "https://user:hunter2@auth.example.com/",
                "user name or password",
            ),
            (
                "https://:hunter2@auth.example.com/",
                "user name or password",
            ),
            ("https://user@auth.example.com/", "user name or password"),
            ("https://auth.example.com/#frag", "#fragment"),
            ("https://auth.example.com/#", "#fragment"),
            ("ftp://auth.example.com/", "not an http(s) URL"),
            ("file:///etc/passwd", "not an http(s) URL"),
            ("chrome-extension://abcdef", "not an http(s) URL"),
        ] {
            let e =
                refusal(value, UrlRule::default()).unwrap_or_else(|| panic!("{value} accepted"));
            assert!(e.contains(says), "{value}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn a_rule_allows_only_the_hosts_and_schemes_it_names() {
        for ok in [
            "http://metadata.google.internal",
            "http://169.254.169.254/computeMetadata/v1",
            "http://127.0.0.1:9000/metadata",
        ] {
            assert_eq!(refusal(ok, METADATA_SERVER), None, "{ok}");
        }
        for refused in [
            "http://metadata.google.internal.evil.com",
            "http://169.254.169.254.nip.io",
            "http://metadata.example.net",
        ] {
            let e =
                refusal(refused, METADATA_SERVER).unwrap_or_else(|| panic!("{refused} accepted"));
            assert!(e.contains("metadata.google.internal"), "{e}");
        }
        let extension = UrlRule {
            other_schemes: &["chrome-extension"],
            ..UrlRule::default()
        };
        assert_eq!(refusal("chrome-extension://abcdef", extension), None);
        assert!(refusal("chrome-extension://user@abcdef", extension).is_some());
    }

    #[test]
    fn a_url_list_names_the_setting_and_the_entry_and_records_its_name() {
        let env = Env::from_map([
            ("LIST", "https://a.example.com, http://b.example.com"),
            ("GOOD", "https://a.example.com,http://127.0.0.1:8001"),
        ]);
        let e = env.url_list("LIST", UrlRule::default()).unwrap_err();
        assert_eq!(e.name, "LIST");
        assert!(
            e.problem
                .starts_with("\"http://b.example.com\": must be an https URL"),
            "{e}"
        );
        assert_eq!(env.url_list("GOOD", UrlRule::default()).unwrap().len(), 2);
        env.optional_url("UNSET").unwrap();
        assert_eq!(env.url_names_read(), ["GOOD", "LIST", "UNSET"]);
    }

    #[test]
    fn only_code_can_take_another_name_as_loopback() {
        let vars = [("U", "http://auth.example.test:8000")];
        assert!(Env::from_map(vars).url("U").is_err());
        let harness = Env::from_map(vars).with_loopback_names(&["auth.example.test"]);
        harness.url("U").unwrap();
        let sibling = Env::from_map([("U", "http://other.auth.example.test")])
            .with_loopback_names(&["auth.example.test"]);
        assert!(sibling.url("U").is_err());
    }

    #[test]
    fn an_error_names_the_setting() {
        let env = Env::from_map([("PUBLIC_URL", "not a url")]);
        let err = env.url("PUBLIC_URL").unwrap_err();
        assert_eq!(err.name, "PUBLIC_URL");
        assert!(err.to_string().starts_with("PUBLIC_URL: "), "{err}");
    }

    #[test]
    fn a_url_error_is_in_words_a_person_understands() {
        let env = Env::from_map([
            ("PUBLIC_URL", "foo"),
            ("APP_URL", "auth.example.com"),
            ("AUTH_URL", "https://auth.example.com:99999"),
            ("METADATA_URL", "ftp://files.example.com"),
            ("OIDC_ISSUER_URL", "https://user:hunter2@:80"),
        ]);
        assert_eq!(
            env.url("PUBLIC_URL").unwrap_err().to_string(),
            "PUBLIC_URL: \"foo\" is not an absolute URL; expected something like https://auth.example.com"
        );
        let app = env.url("APP_URL").unwrap_err().to_string();
        assert!(
            app.contains("\"auth.example.com\" is not an absolute URL")
                && app.contains("https://app.example.com"),
            "{app}"
        );
        let port = env.url("AUTH_URL").unwrap_err().to_string();
        assert!(port.contains("port that is not a number"), "{port}");
        let scheme = env.url("METADATA_URL").unwrap_err().to_string();
        assert!(scheme.contains("is not an http(s) URL"), "{scheme}");
        for err in [app, port, scheme] {
            assert!(!err.contains("relative URL without a base"), "{err}");
        }
        // A value that might hold a password is not repeated.
        let secret = env.url("OIDC_ISSUER_URL").unwrap_err().to_string();
        assert!(!secret.contains("hunter2"), "{secret}");
    }

    #[test]
    fn every_missing_required_variable_is_named_at_once_with_an_example() {
        let dir = std::env::temp_dir().join(format!("cfg-required-{}", std::process::id()));
        let env = Env::from_map([
            ("B", "set"),
            ("C_FILE", dir.to_string_lossy().as_ref()),
            ("E", "x"),
        ]);
        let required = [
            Required::var(&["A"], "https://a.example.com"),
            Required::var(&["B"], "b"),
            Required::secret(&["C"], "c"),
            Required::secret(&["D"], "$(openssl rand -base64 32)"),
            Required::var(&["F", "E"], "e"),
            Required::var(&["G", "H"], "g@example.com"),
        ];
        let err = env.check_required(&required).unwrap_err();
        assert_eq!(err.name, "A, D, G or H");
        let text = err.to_string();
        assert!(text.contains("\n    A=https://a.example.com\n"), "{text}");
        assert!(
            text.contains("\n    D=$(openssl rand -base64 32)   (or D_FILE="),
            "{text}"
        );
        assert!(text.contains("\n    G=g@example.com\n"), "{text}");
        assert!(text.contains("cargo run --bin local-stack"), "{text}");
        for set in ["B", "C", "E", "F"] {
            assert!(!text.contains(&format!("\n    {set}=")), "{text}");
        }
        assert!(env.check_required(&required[1..3]).is_ok());
    }

    #[test]
    fn a_secret_comes_from_a_file_and_not_from_both() {
        let dir = std::env::temp_dir().join(format!("cfg-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "s3cr3t\n").unwrap();
        let path = path.to_string_lossy().into_owned();

        let env = Env::from_map([("KEY_FILE", path.as_str())]);
        assert_eq!(
            env.secret("KEY").unwrap().unwrap().expose_secret(),
            "s3cr3t"
        );

        let env = Env::from_map([("KEY_FILE", path.as_str()), ("KEY", "x")]);
        assert!(env.secret("KEY").is_err());
    }

    #[test]
    fn flags_refuse_anything_but_a_boolean() {
        let env = Env::from_map([("DEV_MODE", "maybe")]);
        assert_eq!(env.flag_or("DEV_MODE", false).unwrap_err().name, "DEV_MODE");
    }
}

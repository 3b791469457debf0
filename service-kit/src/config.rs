// Over 400 lines: the one reader of the environment (its error wording is the product); a third of the lines are its tests.
//! Settings from environment variables, Cloud Run style.
//!
//! Every reader returns a [`ConfigError`] naming the variable, so a service
//! stops at start with one line such as
//! `configuration error: PUBLIC_URL: "foo" is not an absolute URL; expected something like https://auth.example.com`.
//! [`Env::check_required`] names every missing required variable at once,
//! each with an example value.
//! Secrets may come from `NAME` or from a file named by `NAME_FILE` (a mounted
//! Secret Manager volume); never from both.

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
}

impl Env {
    pub fn from_process() -> Self {
        Self {
            lookup: Box::new(|name| std::env::var(name).ok()),
            read: Default::default(),
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
        }
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

    /// An absolute `http(s)` URL.
    pub fn url(&self, name: &str) -> Result<Url, ConfigError> {
        parse_http_url(name, &self.required(name)?)
    }

    pub fn optional_url(&self, name: &str) -> Result<Option<Url>, ConfigError> {
        self.optional(name)
            .map(|raw| parse_http_url(name, &raw))
            .transpose()
    }

    /// An `https` URL, or `http` to a loopback address: where this service
    /// sends credentials or takes keys from, which a network attacker
    /// must not be able to read or replace.
    pub fn secure_url(&self, name: &str) -> Result<Url, ConfigError> {
        secure(name, self.url(name)?)
    }

    pub fn optional_secure_url(&self, name: &str) -> Result<Option<Url>, ConfigError> {
        self.optional_url(name)?
            .map(|url| secure(name, url))
            .transpose()
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

fn secure(name: &str, url: Url) -> Result<Url, ConfigError> {
    let loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if url.scheme() == "https" || loopback {
        return Ok(url);
    }
    Err(ConfigError::new(
        name,
        format!(
            "must be an https URL (plain http is accepted only for localhost and loopback addresses), for example https://{}",
            url.host_str().unwrap_or("auth.example.com")
        ),
    ))
}

fn parse_http_url(name: &str, raw: &str) -> Result<Url, ConfigError> {
    let example = example_url(name);
    let url =
        Url::parse(raw).map_err(|e| ConfigError::new(name, describe_url_error(raw, e, example)))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new(
            name,
            format!(
                "{} is not an http(s) URL with a host; expected something like {example}",
                shown(raw)
            ),
        ));
    }
    Ok(url)
}

/// An example value for a URL setting, for error messages.
fn example_url(name: &str) -> &'static str {
    if name.contains("APP") {
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

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn durations_accept_units_and_bare_seconds() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("10y").is_err());
    }

    #[test]
    fn urls_that_carry_credentials_or_keys_must_be_https_off_loopback() {
        let env = Env::from_map([
            ("A", "http://auth.example.com"),
            ("B", "https://auth.example.com"),
            ("C", "http://127.0.0.1:8080"),
            ("D", "http://[::1]:8080"),
            ("E", "http://localhost:8080"),
            ("F", "http://10.0.0.7"),
        ]);
        let refused = env.secure_url("A").unwrap_err().to_string();
        assert!(refused.contains("A") && refused.contains("https://auth.example.com"));
        assert!(
            env.secure_url("F").is_err(),
            "a private address is no loopback"
        );
        for ok in ["B", "C", "D", "E"] {
            env.secure_url(ok).unwrap();
        }
        assert_eq!(env.optional_secure_url("missing").unwrap(), None);
        assert!(env.optional_secure_url("A").is_err());
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

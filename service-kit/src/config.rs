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

mod urls;

pub use urls::{describe_url_error, UrlRule, METADATA_SERVER};

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
pub mod testing;

#[cfg(test)]
mod tests;

//! URL settings: `https` anywhere, plain `http` only to loopback (or the
//! hosts a [`UrlRule`] names), never with credentials or a fragment; each
//! name read recorded for the services' tests.

use url::Url;

use super::{ConfigError, Env};

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

    pub(super) fn register_url(&self, name: &str) {
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

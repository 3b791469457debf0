//! The apps this service signs people into, and `return_to` URLs that can
//! only point at them.
//!
//! A [`ReturnTo`] can only be built by [`AppRegistry::return_to`], which
//! accepts an absolute URL whose origin (scheme, host, port) is exactly one
//! registered app's. Anything odd is refused rather than repaired: control
//! characters, backslashes, credentials, other schemes, relative URLs.

use url::{Origin, Url};

/// `return_to` values longer than this are refused: they travel inside the
/// login-transaction cookie, which must stay small.
pub const MAX_RETURN_TO_LEN: usize = 512;

#[derive(Debug, Clone)]
pub struct App {
    origin: Origin,
    audience: String,
    /// The app's service account: who may redeem its codes and poll
    /// revocations on its behalf.
    service_account: Option<String>,
}

/// How handoff tokens reach the apps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A cookie set by this service: for `domain` (shared by the apps), or
    /// host-only when the apps share this service's host.
    Cookie { domain: Option<String> },
    /// A one-time code in a redirect to the app, redeemed over the back
    /// channel; the app sets its own host-only cookie (separate sites, such
    /// as default `*.run.app` URLs).
    Code,
}

impl App {
    pub fn service_account(&self) -> Option<&str> {
        self.service_account.as_deref()
    }

    /// The handoff token's `aud` for this app: its origin, e.g. `https://app.example.com`.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub fn origin_url(&self) -> Url {
        Url::parse(&self.audience).expect("an origin serialises to a valid URL")
    }
}

#[derive(Debug, Clone)]
pub struct AppRegistry {
    apps: Vec<App>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReturnToError {
    #[error("return_to is too long")]
    TooLong,
    #[error("return_to contains characters that are not allowed")]
    BadCharacters,
    #[error("return_to is not an absolute URL")]
    NotAbsolute,
    #[error("return_to must not carry credentials")]
    Credentials,
    #[error("return_to does not point at a registered app")]
    UnknownOrigin,
    #[error("return_to has a path that reads as another host")]
    PathLooksLikeHost,
}

/// A checked destination after sign-in: a URL on a registered app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnTo {
    url: Url,
    audience: String,
}

impl ReturnTo {
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The path and query on the app, for the app to return to itself.
    pub fn path_and_query(&self) -> String {
        match self.url.query() {
            Some(query) => format!("{}?{query}", self.url.path()),
            None => self.url.path().to_owned(),
        }
    }

    /// The app's origin as a URL.
    pub fn app_url(&self) -> Url {
        let mut url = self.url.clone();
        url.set_path("/");
        url.set_query(None);
        url.set_fragment(None);
        url
    }
}

impl AppRegistry {
    /// Parses configured app origins. With cookie delivery every app must
    /// live under the cookie's domain (or on this service's host when the
    /// cookie is host-only), or the browser would never send it the cookie.
    pub fn parse(
        origins: &[String],
        delivery: &Delivery,
        public_url: &Url,
    ) -> Result<Self, String> {
        if origins.is_empty() {
            return Err(
                "is required: the comma-separated origins of the apps to sign people into".into(),
            );
        }
        let cookie_domain = match delivery {
            Delivery::Cookie { domain } => Some(domain.as_deref()),
            Delivery::Code => None,
        };
        let apps = origins
            .iter()
            .map(|raw| parse_app(raw, cookie_domain, public_url))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, app) in apps.iter().enumerate() {
            if apps[..i].iter().any(|other| other.origin == app.origin) {
                return Err(format!("{:?} is listed twice", app.audience));
            }
        }
        if let Some(problem) = shared_host_only_cookie(&apps, delivery) {
            return Err(problem);
        }
        Ok(Self { apps })
    }

    /// Binds service accounts to apps, from `<app origin>=<e-mail>` entries.
    pub fn with_service_accounts(mut self, entries: &[String]) -> Result<Self, String> {
        for entry in entries {
            let (origin, email) = entry
                .rsplit_once('=')
                .ok_or_else(|| format!("{entry:?} is not <app origin>=<service account e-mail>"))?;
            let origin = Url::parse(origin)
                .map_err(|_| format!("{origin:?} is not an app origin"))?
                .origin();
            if !email.contains('@') {
                return Err(format!("{email:?} is not an e-mail address"));
            }
            let app = self
                .apps
                .iter_mut()
                .find(|app| app.origin == origin)
                .ok_or_else(|| format!("{entry:?} names an app that is not in APP_ORIGINS"))?;
            app.service_account = Some(email.to_ascii_lowercase());
        }
        Ok(self)
    }

    /// Every app's service account.
    pub fn service_accounts(&self) -> Vec<String> {
        let mut accounts: Vec<String> = self
            .apps
            .iter()
            .filter_map(|a| a.service_account.clone())
            .collect();
        accounts.sort();
        accounts.dedup();
        accounts
    }

    pub fn by_audience(&self, audience: &str) -> Option<&App> {
        self.apps.iter().find(|app| app.audience == audience)
    }

    pub fn default_app(&self) -> &App {
        &self.apps[0]
    }

    pub fn apps(&self) -> &[App] {
        &self.apps
    }

    pub fn return_to(&self, raw: &str) -> Result<ReturnTo, ReturnToError> {
        if raw.len() > MAX_RETURN_TO_LEN {
            return Err(ReturnToError::TooLong);
        }
        // The URL parser would silently drop tabs and newlines and read `\` as
        // `/`; a value that needs such repair is not one we issued.
        if raw
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        {
            return Err(ReturnToError::BadCharacters);
        }
        let url = Url::parse(raw).map_err(|_| ReturnToError::NotAbsolute)?;
        // Percent-encoding can triple the length, and it is the parsed URL
        // that travels in the cookie.
        if url.as_str().len() > MAX_RETURN_TO_LEN {
            return Err(ReturnToError::TooLong);
        }
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(ReturnToError::UnknownOrigin);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ReturnToError::Credentials);
        }
        let origin = url.origin();
        let app = self
            .apps
            .iter()
            .find(|app| app.origin == origin)
            .ok_or(ReturnToError::UnknownOrigin)?;
        // The app redirects to the path alone after a code redemption, and
        // a browser reads `//host/...` there as another site.
        if url.path().starts_with("//") {
            return Err(ReturnToError::PathLooksLikeHost);
        }
        Ok(ReturnTo {
            audience: app.audience.clone(),
            url,
        })
    }

    /// The root page of the default app.
    pub fn default_return_to(&self) -> ReturnTo {
        let app = self.default_app();
        ReturnTo {
            url: app.origin_url(),
            audience: app.audience.clone(),
        }
    }
}

/// Two apps on one host, when their tokens travel in a host-only cookie.
///
/// Browsers keep cookies per host, whatever the port or scheme
/// (RFC 6265, section 8.5), and a host-only handoff cookie has one name,
/// `__Host-handoff`: apps on `host:8443` and `host:9443` would each
/// receive the other's token (and could replay it to the other) and
/// overwrite it on every sign-in. That is the case with cookie delivery
/// without a domain (the public service sets the cookie on its own host,
/// where every app then is) and with code delivery (each app sets it on
/// its host). On a parent domain each app's cookie has a name of its own.
fn shared_host_only_cookie(apps: &[App], delivery: &Delivery) -> Option<String> {
    let remedy = match delivery {
        Delivery::Cookie { domain: Some(_) } => return None,
        Delivery::Cookie { domain: None } => "set HANDOFF_COOKIE_DOMAIN (each app then has a cookie name of its own), or give each app a host of its own with HANDOFF_DELIVERY=code",
        Delivery::Code => "give each app a host of its own (e.g. reports.example.com beside app.example.com)",
    };
    for (i, app) in apps.iter().enumerate() {
        let host = app.origin_url().host_str().map(str::to_owned);
        if let Some(other) = apps[..i]
            .iter()
            .find(|other| other.origin_url().host_str().map(str::to_owned) == host)
        {
            return Some(format!(
                "{:?} and {:?} are on one host, {}, and browsers keep one set of cookies per host whatever the port: with a host-only handoff cookie (__Host-handoff) each app would receive and overwrite the other's token; {remedy}",
                other.audience,
                app.audience,
                host.unwrap_or_default(),
            ));
        }
    }
    None
}

/// `cookie_domain`: `None` for code delivery (apps may be anywhere),
/// `Some(None)` for a host-only cookie, `Some(Some(domain))` for a parent domain.
fn parse_app(
    raw: &str,
    cookie_domain: Option<Option<&str>>,
    public_url: &Url,
) -> Result<App, String> {
    let url = Url::parse(raw)
        .map_err(|e| service_kit::config::describe_url_error(raw, e, "https://app.example.com"))?;
    // Before anything quotes the value: it would repeat a password.
    if !url.username().is_empty() || url.password().is_some() {
        return Err("an origin must not carry a user name or password".into());
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{raw:?} must be an http(s) origin"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{raw:?} must be an origin only (scheme, host and port), without a path"
        ));
    }
    let host = url.host_str().unwrap_or_default();
    match cookie_domain {
        Some(Some(domain)) if !domain_covers(domain, host) => {
            return Err(format!("{raw:?} is not under HANDOFF_COOKIE_DOMAIN {domain:?}, so it would never receive the handoff cookie"));
        }
        Some(None) if public_url.host_str() != Some(host) => {
            return Err(format!(
                "{raw:?} is on another host than PUBLIC_URL; set HANDOFF_COOKIE_DOMAIN to their shared parent domain, or HANDOFF_DELIVERY=code"
            ));
        }
        _ => {}
    }
    let origin = url.origin();
    Ok(App {
        audience: origin.ascii_serialization(),
        origin,
        service_account: None,
    })
}

fn domain_covers(domain: &str, host: &str) -> bool {
    let domain = domain.trim_start_matches('.');
    host == domain || host.ends_with(&format!(".{domain}"))
}

#[cfg(test)]
mod tests;

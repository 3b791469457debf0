// Over 400 lines: one place reads the app's whole environment (so every error names its variable); a quarter of the lines are its tests.
//! Typed settings of the private app, read once from the environment.

use std::time::Duration;

use handoff_guard::AccessPolicy;
use handoff_guard::{KeySet, RemoteJwksOptions};
use service_kit::config::{ConfigError, Env, Required};
use url::Url;

pub struct Settings {
    pub bind_address: String,
    pub port: u16,
    /// This app's external origin: the handoff token's audience.
    pub app_url: Url,
    /// The public login service's URL: the handoff token's issuer.
    pub auth_url: Url,
    /// Where this app calls the public service server to server (its
    /// public URL unless an internal address is given).
    pub backchannel_url: Url,
    pub keys: KeySettings,
    /// How often revoked sessions are fetched from the public service;
    /// `None`: never.
    pub revocation_poll_interval: Option<Duration>,
    /// Where this app's service-account ID tokens come from.
    pub metadata_url: Url,
    pub delivery: AppDelivery,
    /// Provider-signed ID tokens accepted as Bearer tokens; `None`: only
    /// handoff tokens.
    pub id_tokens: Option<IdTokenSettings>,
    /// Origins allowed to call the API from a browser context (a Chrome
    /// extension: `chrome-extension://<id>`).
    pub cors_origins: Vec<String>,
    pub workers: usize,
    /// Who may read `/metrics`.
    pub metrics: service_kit::metrics::MetricsAccess,
    /// Cookie delivery onto a parent domain (`HANDOFF_COOKIE_DOMAIN`, the
    /// same value as the public service's): the token is read from this
    /// app's own `__Secure-handoff-…` cookie; otherwise from `__Host-handoff`.
    pub cookie_domain: Option<String>,
    /// `/auth/handoff` requests per client address and minute (code
    /// delivery): each costs a back-channel call.
    pub handoff_per_minute: u32,
    /// Proxies in front of the app whose `X-Forwarded-For` entries are
    /// trusted (Cloud Run: 1).
    pub trusted_proxy_hops: usize,
}

pub struct IdTokenSettings {
    pub issuers: Vec<String>,
    pub jwks_url: Url,
    /// Audiences of people's tokens (the extension's OAuth client id).
    pub person_audiences: Vec<String>,
    /// Who may call as a person with an ID token.
    pub people: Option<AccessPolicy>,
    /// Service-account e-mails allowed to call (audience: `APP_URL`).
    pub service_accounts: Vec<String>,
    /// The least time between JWKS fetches caused by an unknown `kid`.
    pub refetch_interval: Duration,
}

/// How handoff tokens reach this app (as configured at the public service).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppDelivery {
    /// The public service sets the cookie (shared parent domain or host).
    Cookie,
    /// One-time codes redeemed at `/auth/handoff`; this app sets its own cookie.
    Code,
}

pub enum KeySettings {
    /// Fetched from the public service, cached, re-fetched on unknown `kid`.
    Remote {
        jwks_url: Url,
        options: RemoteJwksOptions,
    },
    /// A JWKS file shipped with the deployment.
    Static(KeySet),
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        env.check_required(&[
            Required::var(&["APP_URL"], "https://app.example.com"),
            Required::var(&["AUTH_URL"], "https://auth.example.com"),
        ])?;
        let app_url = origin_only("APP_URL", env.url("APP_URL")?)?;
        let auth_url = env.url("AUTH_URL")?;
        let backchannel_url = env
            .optional_url("AUTH_BACKCHANNEL_URL")?
            .unwrap_or_else(|| auth_url.clone());
        Ok(Self {
            backchannel_url,
            bind_address: env
                .optional("BIND_ADDRESS")
                .unwrap_or_else(|| "0.0.0.0".into()),
            port: env.parse_or("PORT", 8080)?,
            keys: key_settings(env, &auth_url)?,
            revocation_poll_interval: revocation_poll_interval(env)?,
            metadata_url: match env
                .optional_url_with("METADATA_URL", service_kit::config::METADATA_SERVER)?
            {
                Some(url) => url,
                None => {
                    Url::parse(handoff_guard::GOOGLE_METADATA_URL).expect("a valid constant URL")
                }
            },
            delivery: match env.optional("HANDOFF_DELIVERY").as_deref() {
                None | Some("cookie") => AppDelivery::Cookie,
                Some("code") => AppDelivery::Code,
                Some(other) => {
                    return Err(ConfigError::new(
                        "HANDOFF_DELIVERY",
                        format!("expected cookie or code, got {other:?}"),
                    ))
                }
            },
            app_url,
            auth_url,
            id_tokens: id_token_settings(env)?,
            cors_origins: cors_origins(env)?,
            workers: env.parse_or("WORKERS", default_workers())?,
            metrics: service_kit::metrics::MetricsAccess::from_env(env)?,
            cookie_domain: env
                .optional("HANDOFF_COOKIE_DOMAIN")
                .filter(|d| !d.is_empty()),
            handoff_per_minute: env.positive_or("RATE_LIMIT_HANDOFF_PER_MINUTE", 60)?,
            trusted_proxy_hops: env.parse_or("TRUSTED_PROXY_HOPS", 0)?,
        })
    }

    /// The audience handoff tokens for this app carry: its origin.
    pub fn audience(&self) -> String {
        self.app_url.origin().ascii_serialization()
    }

    /// The audience of service accounts' ID tokens: this app's URL, as
    /// Cloud Run's callers mint them (no trailing slash).
    pub fn issuer_for_services(&self) -> String {
        self.app_url.as_str().trim_end_matches('/').to_owned()
    }

    pub fn issuer(&self) -> String {
        self.auth_url.as_str().trim_end_matches('/').to_owned()
    }

    pub fn login_url(&self) -> Url {
        self.auth_route("/login")
    }

    /// Where a browser whose handoff token expired gets a new one.
    pub fn renew_url(&self) -> Url {
        self.auth_route("/renew")
    }

    pub fn logout_url(&self) -> Url {
        self.auth_route("/logout")
    }

    /// The public service's page of the person's sessions
    /// (`/account/sessions`), coming back here.
    pub fn sessions_url(&self) -> Url {
        let mut url = self.auth_route("/account/sessions");
        url.query_pairs_mut()
            .append_pair("return_to", self.app_url.as_str());
        url
    }

    pub fn revoked_sessions_url(&self) -> Url {
        let mut url = self.backchannel_url.clone();
        url.set_path("/sessions/revoked");
        url.set_query(None);
        url
    }

    fn auth_route(&self, path: &str) -> Url {
        let mut url = self.auth_url.clone();
        url.set_path(path);
        url.set_query(None);
        url
    }
}

fn origin_only(name: &str, url: Url) -> Result<Url, ConfigError> {
    if url.path() != "/" || url.query().is_some() {
        return Err(ConfigError::new(
            name,
            "must be an origin (scheme, host, port) without a path",
        ));
    }
    Ok(url)
}

fn key_settings(env: &Env, auth_url: &Url) -> Result<KeySettings, ConfigError> {
    if let Some(path) = env.optional("HANDOFF_JWKS_FILE") {
        let json = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::new("HANDOFF_JWKS_FILE", format!("cannot read {path:?}: {e}"))
        })?;
        let keys =
            KeySet::from_json(&json).map_err(|e| ConfigError::new("HANDOFF_JWKS_FILE", e))?;
        if keys.is_empty() {
            return Err(ConfigError::new(
                "HANDOFF_JWKS_FILE",
                "holds no ES256 (P-256) key with a kid",
            ));
        }
        return Ok(KeySettings::Static(keys));
    }
    let jwks_url = match env.optional_url("HANDOFF_JWKS_URL")? {
        Some(url) => url,
        None => auth_url
            .join("/.well-known/jwks.json")
            .map_err(|e| ConfigError::new("AUTH_URL", e))?,
    };
    let defaults = RemoteJwksOptions::default();
    Ok(KeySettings::Remote {
        jwks_url,
        options: RemoteJwksOptions {
            min_refetch_interval: env
                .seconds_or("JWKS_REFETCH_INTERVAL", defaults.min_refetch_interval)?,
            max_age: env.seconds_or("JWKS_MAX_AGE", defaults.max_age)?,
            timeout: env.seconds_or("JWKS_TIMEOUT", defaults.timeout)?,
            ..defaults
        },
    })
}

fn id_token_settings(env: &Env) -> Result<Option<IdTokenSettings>, ConfigError> {
    let person_audiences = service_kit::access::person_id_token_audiences(env)?;
    let service_accounts: Vec<String> = env
        .list("SERVICE_ACCOUNTS")
        .into_iter()
        .map(|e| e.to_ascii_lowercase())
        .collect();
    if person_audiences.is_empty() && service_accounts.is_empty() {
        return Ok(None);
    }
    let people = if person_audiences.is_empty() {
        None
    } else {
        Some(service_kit::access::access_policy(env)?)
    };
    let mut issuers = env.list("ID_TOKEN_ISSUERS");
    if issuers.is_empty() {
        issuers = handoff_guard::GOOGLE_ISSUERS
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
    }
    let jwks_url = match env.optional_url("ID_TOKEN_JWKS_URL")? {
        Some(url) => url,
        None => Url::parse(handoff_guard::GOOGLE_JWKS_URL).expect("a valid constant URL"),
    };
    Ok(Some(IdTokenSettings {
        issuers,
        jwks_url,
        person_audiences,
        people,
        service_accounts,
        refetch_interval: env
            .seconds_or("ID_TOKEN_JWKS_REFETCH_INTERVAL", Duration::from_secs(30))?,
    }))
}

/// Origins a browser may call the API from: an extension's
/// (`chrome-extension://<id>`), an `https` origin, or plain `http` on
/// loopback (a page served locally), each exactly as the browser sends it
/// in `Origin`.
fn cors_origins(env: &Env) -> Result<Vec<String>, ConfigError> {
    env.origin_list("CORS_ALLOWED_ORIGINS")
}

fn revocation_poll_interval(env: &Env) -> Result<Option<Duration>, ConfigError> {
    if env.optional("REVOCATION_POLL_INTERVAL").as_deref() == Some("off") {
        return Ok(None);
    }
    let interval = env.seconds_or("REVOCATION_POLL_INTERVAL", Duration::from_secs(15))?;
    if interval.is_zero() {
        return Err(ConfigError::new(
            "REVOCATION_POLL_INTERVAL",
            "must be positive, or off",
        ));
    }
    Ok(Some(interval))
}

fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every setting of this app whose value is a URL or a list of them.
    /// Each is read through `service_kit::config`'s URL readers, and the
    /// test below fails until a new one is listed here.
    const URL_SETTINGS: [&str; 7] = [
        "APP_URL",
        "AUTH_URL",
        "AUTH_BACKCHANNEL_URL",
        "HANDOFF_JWKS_URL",
        "METADATA_URL",
        "ID_TOKEN_JWKS_URL",
        "CORS_ALLOWED_ORIGINS",
    ];

    /// Names that look like URL settings but are not read as URLs.
    const NOT_URL_SETTINGS: [(&str, &str); 1] = [(
        "ID_TOKEN_ISSUERS",
        "issuer names compared with a token's iss, never fetched (Google's has no scheme)",
    )];

    #[test]
    fn every_url_setting_is_https_or_plain_http_to_loopback() {
        let environment = [
            ("APP_URL", "https://app.example.com"),
            ("AUTH_URL", "https://auth.example.com"),
            ("AUTH_BACKCHANNEL_URL", "https://auth-internal.example.com"),
            ("HANDOFF_JWKS_URL", "https://keys.example.com/jwks.json"),
            ("METADATA_URL", "http://metadata.google.internal"),
            // People's ID tokens on, so their keys' URL is read.
            ("ID_TOKEN_AUDIENCES", "extension-client-id"),
            ("ALLOWED_DOMAINS", "example.com"),
            (
                "ID_TOKEN_JWKS_URL",
                "https://certs.example.org/oauth2/v3/certs",
            ),
            ("CORS_ALLOWED_ORIGINS", "https://console.example.com"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        service_kit::config::testing::UrlSettings {
            environment,
            url_settings: &URL_SETTINGS,
            not_url_settings: &NOT_URL_SETTINGS,
            sources: vec![root.join("src"), root.join("../service-kit/src")],
            // The environment reader, whose own tests use example names.
            skip: &["config.rs"],
            parse: &|env| Settings::from_env(env).map(|_| ()),
        }
        .assert_each_is_checked();
    }

    #[test]
    fn cors_origins_are_written_as_a_browser_sends_them() {
        let parse = |value: &str| {
            Settings::from_env(&Env::from_map([
                ("APP_URL", "https://app.example.com"),
                ("AUTH_URL", "https://auth.example.com"),
                ("CORS_ALLOWED_ORIGINS", value),
            ]))
            .map(|s| s.cors_origins)
        };
        assert_eq!(
            parse("chrome-extension://abcdefgh, https://console.example.com,http://localhost:3000")
                .unwrap(),
            [
                "chrome-extension://abcdefgh",
                "https://console.example.com",
                "http://localhost:3000"
            ]
        );
        for refused in [
            "*",
            "https://console.example.com/",
            "https://console.example.com/page",
            "HTTPS://console.example.com",
            "http://localhost.example.net",
            "http://localhost.example.net:3000",
            "chrome-extension://abcdefgh/page",
        ] {
            match parse(refused) {
                Ok(_) => panic!("{refused} accepted"),
                Err(e) => assert_eq!(e.name, "CORS_ALLOWED_ORIGINS", "{refused}: {e}"),
            }
        }
    }

    #[test]
    fn an_id_token_audience_that_is_not_a_client_id_stops_the_app_at_start() {
        let parse = |value: &str| {
            Settings::from_env(&Env::from_map([
                ("APP_URL", "https://app.example.com"),
                ("AUTH_URL", "https://auth.example.com"),
                ("ALLOWED_DOMAINS", "example.com"),
                ("ID_TOKEN_AUDIENCES", value),
            ]))
        };
        let taken = parse("1234-abc.apps.googleusercontent.com").unwrap();
        let id_tokens = taken.id_tokens.expect("people's ID tokens");
        assert_eq!(
            id_tokens.person_audiences,
            ["1234-abc.apps.googleusercontent.com"]
        );
        // The gate refuses the same values, with the same words.
        for refused in ["https://app.example.com", "client id"] {
            let e = parse(refused).err().expect(refused);
            assert_eq!(e.name, "ID_TOKEN_AUDIENCES", "{refused}");
            assert!(
                e.to_string()
                    .contains("expected something like 1234567890-abc.apps.googleusercontent.com"),
                "{e}"
            );
        }
    }

    #[test]
    fn both_missing_urls_are_named_at_once() {
        let err = Settings::from_env(&Env::from_map(Vec::<(String, String)>::new()))
            .err()
            .expect("refused");
        assert_eq!(err.name, "APP_URL, AUTH_URL");
        let text = err.to_string();
        assert!(
            text.contains("\n    APP_URL=https://app.example.com"),
            "{text}"
        );
        assert!(
            text.contains("\n    AUTH_URL=https://auth.example.com"),
            "{text}"
        );
        assert!(text.contains("cargo run --bin local-stack"), "{text}");
    }
}

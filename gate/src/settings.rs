//! The gate's settings, read once from the environment: one clear error
//! per bad setting, naming it with an example (`service_kit::config`).

use std::time::Duration;

use handoff_guard::{AccessPolicy, Delivery};
use http::HeaderName;
use service_kit::config::{ConfigError, Env, Required};
use url::Url;

use crate::headers::{IdentityHeaders, NOT_IDENTITY_NAMES};
use crate::paths::PublicPaths;

/// The default request body limit: 32 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 32 * 1024 * 1024;

/// Everything the gate is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `BIND_ADDRESS` (default `0.0.0.0`).
    pub bind_address: String,
    /// `PORT` (default 8080; Cloud Run sets it on the ingress container).
    pub port: u16,
    /// `UPSTREAM_URL`: the app, an origin (`http://127.0.0.1:8080` for a
    /// sidecar).
    pub upstream_url: Url,
    /// `APP_URL`: the gate's external origin, the handoff tokens' audience.
    pub app_url: Url,
    /// `AUTH_URL`: the login service, the tokens' issuer.
    pub auth_url: Url,
    /// `AUTH_BACKCHANNEL_URL`: where the gate calls the login service
    /// server to server, if not at `AUTH_URL`.
    pub backchannel_url: Option<Url>,
    /// `METADATA_URL`: where the gate's own ID tokens come from, if not
    /// Google's metadata server.
    pub metadata_url: Option<Url>,
    /// `HANDOFF_DELIVERY` (`code` or `cookie`) with `HANDOFF_COOKIE_DOMAIN`.
    pub delivery: Delivery,
    /// `REVOCATION_POLL_INTERVAL` in seconds, or `off`; `None`: off.
    pub revocation_poll_interval: Option<Duration>,
    /// `SERVICE_ACCOUNTS`: service accounts admitted with Google ID tokens.
    pub service_accounts: Vec<String>,
    /// `ID_TOKEN_AUDIENCES` with the access policy (`ALLOWED_EMAILS`,
    /// `ALLOWED_DOMAINS`, `ALLOWED_HOSTED_DOMAINS`, `ALLOW_ANY_VERIFIED_EMAIL`):
    /// people admitted with a Google ID token for one of these OAuth client
    /// ids (a Chrome extension's), if the policy admits them; `None`: no
    /// people's ID tokens.
    pub person_id_tokens: Option<PersonIdTokens>,
    /// `CORS_ALLOWED_ORIGINS`: the origins a browser may call from
    /// (`chrome-extension://<id>`), exactly as sent in `Origin`; empty: the
    /// gate leaves CORS to the app (see [`crate::cors`]).
    pub cors_origins: Vec<String>,
    /// `PUBLIC_PATHS`: what passes without a sign-in.
    pub public_paths: PublicPaths,
    /// `MAX_BODY_BYTES`: the largest request body forwarded.
    pub max_body_bytes: u64,
    /// The upstream timeouts.
    pub timeouts: Timeouts,
    /// `TRUSTED_PROXY_HOPS` (Cloud Run: 1).
    pub trusted_proxy_hops: usize,
    /// `RATE_LIMIT_HANDOFF_PER_MINUTE` (default 60): visits of
    /// `/auth/handoff` per client address and minute, with a burst of half
    /// that. Each one can cost a call to the login service, which limits
    /// redemptions per app: without a limit here, one client could spend
    /// the whole app's budget and keep everyone else from signing in.
    pub handoff_per_minute: u32,
    /// `IDENTITY_EMAIL_HEADER`, `IDENTITY_USER_HEADER`, `ASSERTION_HEADER`.
    pub identity: IdentityHeaders,
    /// Host names taken as loopback besides `localhost`, for a test harness
    /// whose clients resolve them to 127.0.0.1 (cookie domains need names).
    /// Only code sets it; no variable does.
    pub loopback_names: Vec<String>,
    /// Who issues the ID tokens (service accounts' and people's) and where
    /// their keys are, for a test deployment whose stand-in for Google
    /// mints them; `None`: Google. Only code sets it; no variable does, so
    /// a deployed gate always checks them against Google's keys.
    pub id_token_issuer: Option<(String, Url)>,
}

/// People's Google ID tokens the gate admits (a Chrome extension's).
#[derive(Debug, Clone)]
pub struct PersonIdTokens {
    /// The OAuth client ids their audience may be (`ID_TOKEN_AUDIENCES`).
    pub audiences: Vec<String>,
    /// Who may call with one.
    pub people: AccessPolicy,
}

/// How long the gate waits on the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `UPSTREAM_CONNECT_TIMEOUT` (default 5 s): to open a connection.
    pub connect: Duration,
    /// `UPSTREAM_RESPONSE_TIMEOUT` (default 60 s): from the end of the
    /// request body to the response's head. A streamed response's body
    /// is not timed: a server-sent event stream may be quiet for long.
    pub response: Duration,
    /// `UPSTREAM_IDLE_TIMEOUT` (default 90 s): how long an unused
    /// kept-alive connection to the upstream stays open for reuse.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            response: Duration::from_secs(60),
            idle: Duration::from_secs(90),
        }
    }
}

impl Settings {
    /// Reads every setting; the first bad one is the error.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        env.check_required(&[
            Required::var(&["UPSTREAM_URL"], "http://127.0.0.1:8080"),
            Required::var(&["APP_URL"], "https://app.example.com"),
            Required::var(&["AUTH_URL"], "https://auth.example.com"),
        ])?;
        let upstream_url = origin_only(
            "UPSTREAM_URL",
            env.url("UPSTREAM_URL")?,
            "http://127.0.0.1:8080",
        )?;
        let app_url = origin_only("APP_URL", env.url("APP_URL")?, "https://app.example.com")?;
        let auth_url = origin_only("AUTH_URL", env.url("AUTH_URL")?, "https://auth.example.com")?;
        let defaults = Timeouts::default();
        Ok(Self {
            bind_address: env
                .optional("BIND_ADDRESS")
                .unwrap_or_else(|| "0.0.0.0".into()),
            port: env.parse_or("PORT", 8080)?,
            upstream_url,
            app_url,
            auth_url,
            backchannel_url: env
                .optional_url("AUTH_BACKCHANNEL_URL")?
                .map(|url| origin_only("AUTH_BACKCHANNEL_URL", url, "http://127.0.0.1:8000"))
                .transpose()?,
            metadata_url: env
                .optional_url_with("METADATA_URL", service_kit::config::METADATA_SERVER)?,
            delivery: delivery(env)?,
            revocation_poll_interval: revocation_poll_interval(env)?,
            service_accounts: env
                .list("SERVICE_ACCOUNTS")
                .into_iter()
                .map(|e| e.to_ascii_lowercase())
                .collect(),
            person_id_tokens: person_id_tokens(env)?,
            cors_origins: env.origin_list("CORS_ALLOWED_ORIGINS")?,
            public_paths: PublicPaths::new(&env.list("PUBLIC_PATHS"))
                .map_err(|e| ConfigError::new("PUBLIC_PATHS", e))?,
            max_body_bytes: match env.parse_or("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)? {
                0 => {
                    return Err(ConfigError::new(
                        "MAX_BODY_BYTES",
                        "must be positive, e.g. 33554432 (32 MiB)",
                    ))
                }
                n => n,
            },
            timeouts: Timeouts {
                connect: positive(env, "UPSTREAM_CONNECT_TIMEOUT", defaults.connect)?,
                response: positive(env, "UPSTREAM_RESPONSE_TIMEOUT", defaults.response)?,
                idle: positive(env, "UPSTREAM_IDLE_TIMEOUT", defaults.idle)?,
            },
            trusted_proxy_hops: env.parse_or("TRUSTED_PROXY_HOPS", 0)?,
            handoff_per_minute: env.positive_or("RATE_LIMIT_HANDOFF_PER_MINUTE", 60)?,
            identity: identity_headers(env)?,
            loopback_names: Vec::new(),
            id_token_issuer: None,
        })
    }
}

fn origin_only(name: &str, url: Url, example: &str) -> Result<Url, ConfigError> {
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            name,
            format!("must be an origin (scheme, host, port) without a path, e.g. {example}"),
        ));
    }
    Ok(url)
}

fn positive(env: &Env, name: &str, default: Duration) -> Result<Duration, ConfigError> {
    let value = env.seconds_or(name, default)?;
    if value.is_zero() {
        return Err(ConfigError::new(
            name,
            format!("must be positive, e.g. {}", default.as_secs()),
        ));
    }
    Ok(value)
}

fn delivery(env: &Env) -> Result<Delivery, ConfigError> {
    let cookie_domain = env
        .optional("HANDOFF_COOKIE_DOMAIN")
        .filter(|d| !d.is_empty());
    match env.optional("HANDOFF_DELIVERY").as_deref() {
        None | Some("code") => Ok(Delivery::Code),
        Some("cookie") if cookie_domain.is_some() => Ok(Delivery::ParentDomainCookie),
        Some("cookie") => Ok(Delivery::HostOnlyCookie),
        Some(other) => Err(ConfigError::new(
            "HANDOFF_DELIVERY",
            format!("expected code or cookie (as at the login service), got {other:?}"),
        )),
    }
}

/// `ID_TOKEN_AUDIENCES` and, when it names any, the access policy.
fn person_id_tokens(env: &Env) -> Result<Option<PersonIdTokens>, ConfigError> {
    let audiences = service_kit::access::person_id_token_audiences(env)?;
    if audiences.is_empty() {
        return Ok(None);
    }
    Ok(Some(PersonIdTokens {
        audiences,
        people: service_kit::access::access_policy(env)?,
    }))
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

fn identity_headers(env: &Env) -> Result<IdentityHeaders, ConfigError> {
    let defaults = IdentityHeaders::default();
    let read = |name: &str, default: HeaderName| -> Result<HeaderName, ConfigError> {
        let Some(raw) = env.optional(name) else {
            return Ok(default);
        };
        let header = HeaderName::from_bytes(raw.trim().as_bytes()).map_err(|_| {
            ConfigError::new(
                name,
                format!("{raw:?} is not a header name, e.g. X-Goog-Authenticated-User-Email"),
            )
        })?;
        if NOT_IDENTITY_NAMES.contains(&header.as_str())
            || ["keep-alive", "proxy-connection", "proxy-authorization"].contains(&header.as_str())
        {
            return Err(ConfigError::new(
                name,
                format!("{raw:?} is a header the gate sets or reads itself; choose another, e.g. X-Forwarded-Email"),
            ));
        }
        Ok(header)
    };
    let headers = IdentityHeaders {
        email: read("IDENTITY_EMAIL_HEADER", defaults.email)?,
        user: read("IDENTITY_USER_HEADER", defaults.user)?,
        assertion: read("ASSERTION_HEADER", defaults.assertion)?,
    };
    if headers.email == headers.user
        || headers.email == headers.assertion
        || headers.user == headers.assertion
    {
        return Err(ConfigError::new(
            "IDENTITY_EMAIL_HEADER, IDENTITY_USER_HEADER, ASSERTION_HEADER",
            "must be three different header names",
        ));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRED: [(&str, &str); 3] = [
        ("UPSTREAM_URL", "http://127.0.0.1:8080"),
        ("APP_URL", "https://app.example.com"),
        ("AUTH_URL", "https://auth.example.com"),
    ];

    fn with(extra: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut vars: Vec<(&str, &str)> = REQUIRED.to_vec();
        vars.extend_from_slice(extra);
        Settings::from_env(&Env::from_map(vars))
    }

    /// Every setting of the gate whose value is a URL; the test below
    /// fails until a new one is listed here.
    const URL_SETTINGS: [&str; 6] = [
        "UPSTREAM_URL",
        "APP_URL",
        "AUTH_URL",
        "AUTH_BACKCHANNEL_URL",
        "METADATA_URL",
        "CORS_ALLOWED_ORIGINS",
    ];

    #[test]
    fn every_url_setting_is_https_or_plain_http_to_loopback() {
        let environment = [
            ("UPSTREAM_URL", "https://app-internal.example.com"),
            ("APP_URL", "https://app.example.com"),
            ("AUTH_URL", "https://auth.example.com"),
            ("AUTH_BACKCHANNEL_URL", "https://auth-internal.example.com"),
            ("METADATA_URL", "http://metadata.google.internal"),
            ("CORS_ALLOWED_ORIGINS", "https://console.example.com"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        service_kit::config::testing::UrlSettings {
            environment,
            url_settings: &URL_SETTINGS,
            not_url_settings: &[],
            sources: vec![root.join("src")],
            skip: &[],
            parse: &|env| Settings::from_env(env).map(|_| ()),
        }
        .assert_each_is_checked();
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let settings = with(&[]).unwrap();
        assert_eq!(settings.port, 8080);
        assert_eq!(settings.max_body_bytes, 32 * 1024 * 1024);
        assert_eq!(settings.timeouts, Timeouts::default());
        assert_eq!(settings.delivery, Delivery::Code);
        assert_eq!(settings.identity, IdentityHeaders::default());
        assert_eq!(
            settings.revocation_poll_interval,
            Some(Duration::from_secs(15))
        );
        assert_eq!(settings.trusted_proxy_hops, 0);
        assert_eq!(settings.handoff_per_minute, 60);
    }

    #[test]
    fn a_handoff_rate_limit_of_zero_or_not_a_number_stops_the_gate() {
        for bad in ["0", "-1", "sixty"] {
            let error = with(&[("RATE_LIMIT_HANDOFF_PER_MINUTE", bad)]).unwrap_err();
            assert_eq!(
                error.name, "RATE_LIMIT_HANDOFF_PER_MINUTE",
                "{bad}: {error}"
            );
        }
        let settings = with(&[("RATE_LIMIT_HANDOFF_PER_MINUTE", "600")]).unwrap();
        assert_eq!(settings.handoff_per_minute, 600);
    }

    #[test]
    fn the_upstream_is_an_origin_on_loopback_or_https() {
        assert!(with(&[("UPSTREAM_URL", "http://localhost:3000")]).is_ok());
        assert!(with(&[("UPSTREAM_URL", "https://app-internal.example.com")]).is_ok());
        for bad in [
            "http://app-internal.example.com",
            "http://127.0.0.1:8080/app",
            "ftp://127.0.0.1",
            "127.0.0.1:8080",
        ] {
            let error = with(&[("UPSTREAM_URL", bad)]).expect_err(bad);
            assert_eq!(error.name, "UPSTREAM_URL", "{bad}: {error}");
        }
    }

    #[test]
    fn each_bad_setting_is_named() {
        for (name, value) in [
            ("MAX_BODY_BYTES", "0"),
            ("MAX_BODY_BYTES", "lots"),
            ("UPSTREAM_CONNECT_TIMEOUT", "0"),
            ("UPSTREAM_RESPONSE_TIMEOUT", "soon"),
            ("HANDOFF_DELIVERY", "pigeon"),
            ("PUBLIC_PATHS", "/static/../admin"),
            ("IDENTITY_EMAIL_HEADER", "Cookie"),
            ("ASSERTION_HEADER", "bad header"),
            ("IDENTITY_USER_HEADER", "X-Forwarded-Email"),
            ("CORS_ALLOWED_ORIGINS", "*"),
            ("CORS_ALLOWED_ORIGINS", "chrome-extension://abcdefgh/"),
            ("CORS_ALLOWED_ORIGINS", "https://console.example.com/"),
            ("CORS_ALLOWED_ORIGINS", "http://console.example.com"),
            ("ID_TOKEN_AUDIENCES", "https://app.example.com"),
            ("ID_TOKEN_AUDIENCES", "client id"),
        ] {
            let error = with(&[(name, value)]).expect_err(name);
            assert!(error.name.contains(name), "{name}={value}: {error}");
        }
    }

    #[test]
    fn iap_names_can_be_chosen_and_cookie_delivery_reads_the_domain() {
        let settings = with(&[
            ("IDENTITY_EMAIL_HEADER", "X-Goog-Authenticated-User-Email"),
            ("ASSERTION_HEADER", "X-Goog-IAP-JWT-Assertion"),
            ("HANDOFF_DELIVERY", "cookie"),
            ("HANDOFF_COOKIE_DOMAIN", "example.com"),
            ("PUBLIC_PATHS", "/healthz, /static/"),
        ])
        .unwrap();
        assert_eq!(settings.identity.email, "x-goog-authenticated-user-email");
        assert_eq!(settings.identity.assertion, "x-goog-iap-jwt-assertion");
        assert_eq!(settings.delivery, Delivery::ParentDomainCookie);
        assert!(settings.public_paths.matches("/static/app.js"));
        let host_only = with(&[("HANDOFF_DELIVERY", "cookie")]).unwrap();
        assert_eq!(host_only.delivery, Delivery::HostOnlyCookie);
    }

    #[test]
    fn an_extension_is_admitted_by_its_client_id_and_its_origin() {
        let settings = with(&[
            (
                "ID_TOKEN_AUDIENCES",
                "1234-abc.apps.googleusercontent.com, other-client",
            ),
            ("ALLOWED_DOMAINS", "example.com"),
            (
                "CORS_ALLOWED_ORIGINS",
                "chrome-extension://abcdefghijklmnopabcdefghijklmnop,http://localhost:3000",
            ),
        ])
        .unwrap();
        let people = settings.person_id_tokens.expect("people's ID tokens");
        assert_eq!(
            people.audiences,
            ["1234-abc.apps.googleusercontent.com", "other-client"]
        );
        assert_eq!(
            settings.cors_origins,
            [
                "chrome-extension://abcdefghijklmnopabcdefghijklmnop",
                "http://localhost:3000"
            ]
        );
        let none = with(&[]).unwrap();
        assert!(none.person_id_tokens.is_none() && none.cors_origins.is_empty());
    }

    #[test]
    fn people_s_id_tokens_without_an_access_policy_stop_the_gate_at_start() {
        let error = with(&[("ID_TOKEN_AUDIENCES", "1234-abc.apps.googleusercontent.com")])
            .expect_err("no one could call");
        assert!(error.name.contains("ALLOWED_EMAILS"), "{error}");
        assert!(error.to_string().contains("ALLOWED_DOMAINS"), "{error}");
    }
}

// Over 400 lines: one place reads the whole environment (so every error names its variable); 370 of the lines are its tests.
//! Typed settings of the public service, read once from the environment.
//!
//! Tests build [`Settings`] directly; `from_env` is the only place that
//! knows variable names. Each variable is documented in the README.

use std::time::Duration;

use actix_web::cookie::Key;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use handoff_guard::login_service::SigningKey;
use secrecy::{ExposeSecret, SecretString};
use service_kit::config::{ConfigError, Env, Required, UrlRule};
use url::Url;

use crate::apps::{AppRegistry, Delivery};
use crate::broker_rules::BrokerRules;
pub use crate::delivery::HandoffSettings;
pub use crate::oidc::{ClientAuthMethod, IdTokenAlgorithm, OfflineAccess, ProviderSettings};
use crate::policy::AccessPolicy;
pub use crate::sessions::SessionSettings;
pub use crate::state::SignOutSettings;
pub use crate::token_broker::BrokerSettings;
use crate::token_cipher::TokenCipher;

pub struct Settings {
    pub bind_address: String,
    pub port: u16,
    /// The external URL of this service; the handoff token's issuer.
    pub public_url: Url,
    pub provider: ProviderSettings,
    pub apps: AppRegistry,
    pub policy: AccessPolicy,
    pub handoff: HandoffSettings,
    /// Encrypts the login-transaction cookie (AES-256-GCM, derived key).
    pub cookie_key: Key,
    pub login_timeout: Duration,
    pub database: DatabaseSettings,
    /// Seals provider tokens at rest.
    pub token_cipher: TokenCipher,
    pub sessions: SessionSettings,
    pub sign_out: SignOutSettings,
    pub broker: BrokerSettings,
    pub rate_limits: RateLimits,
    pub dev_mode: bool,
    pub workers: usize,
    /// Who may read `/metrics`.
    pub metrics: service_kit::metrics::MetricsAccess,
}

/// Per-client request rates, each with a burst of half a minute's worth.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// `/login`, `/callback`, `/renew`, per client address.
    pub sign_in_per_minute: u32,
    /// `/handoff/redeem`, per calling app (its service account), and
    /// `/backchannel-logout`, per client address (the provider's).
    pub back_channel_per_minute: u32,
    /// `/broker/token`, per calling service account.
    pub broker_per_minute: u32,
    /// Proxies in front of the service whose `X-Forwarded-For` entries are
    /// trusted (Cloud Run: 1).
    pub trusted_proxy_hops: usize,
}

pub struct DatabaseSettings {
    /// `sqlite:…` or `postgres://…`; may hold a password.
    pub url: SecretString,
    pub max_connections: u32,
    /// The longest a statement waits, connecting included: while the
    /// database is down, requests that need it fail after this long.
    pub timeout: Duration,
}

/// What the service cannot start without, each with an example value;
/// `DEV_MODE=true` makes ephemeral keys and an in-memory database instead.
fn required(dev_mode: bool) -> Vec<Required<'static>> {
    let mut required = vec![
        Required::var(&["PUBLIC_URL"], "https://auth.example.com"),
        Required::var(&["APP_ORIGINS"], "https://app.example.com"),
        Required::var(
            &["OIDC_CLIENT_ID"],
            "1234567890-abc.apps.googleusercontent.com",
        ),
        Required::secret(&["OIDC_CLIENT_SECRET"], "GOCSPX-…"),
        Required::var(
            &[
                "ALLOWED_EMAILS",
                "ALLOWED_DOMAINS",
                "ALLOWED_HOSTED_DOMAINS",
                "ALLOW_ANY_VERIFIED_EMAIL",
            ],
            "alice@example.com,bob@example.com",
        ),
    ];
    if !dev_mode {
        required.extend([
            Required::secret(&["DATABASE_URL"], "sqlite:///var/lib/auth.db"),
            Required::secret(&["TOKEN_ENCRYPTION_KEYS"], "k1:$(openssl rand -base64 32)"),
            Required::secret(&["SIGNING_KEY"], "\"$(openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt)\""),
            Required::secret(&["COOKIE_SECRET"], "$(openssl rand -base64 48)"),
        ]);
    }
    required
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let dev_mode = env.flag_or("DEV_MODE", false)?;
        env.check_required(&required(dev_mode))?;
        let public_url = env.url("PUBLIC_URL")?;
        let delivery = delivery_from_env(env)?;
        // Each origin is an https URL (or plain http to loopback) before
        // the registry checks it is an origin the delivery can reach.
        env.url_list("APP_ORIGINS", UrlRule::default())?;
        let apps = AppRegistry::parse(&env.list("APP_ORIGINS"), &delivery, &public_url)
            .map_err(|e| ConfigError::new("APP_ORIGINS", e))?
            .with_service_accounts(&env.list("APP_SERVICE_ACCOUNTS"))
            .map_err(|e| ConfigError::new("APP_SERVICE_ACCOUNTS", e))?;
        if delivery == Delivery::Code {
            if let Some(app) = apps.apps().iter().find(|a| a.service_account().is_none()) {
                return Err(ConfigError::new(
                    "APP_SERVICE_ACCOUNTS",
                    format!(
                        "{:?} has no service account; with HANDOFF_DELIVERY=code each app redeems its codes as <app origin>=<service account e-mail>",
                        app.audience()
                    ),
                ));
            }
        }
        let policy = service_kit::access::access_policy(env)?;
        let mut provider = provider_from_env(env)?;
        provider.hosted_domain_needed = policy.uses_hosted_domains();
        let issuer = public_url.as_str().trim_end_matches('/').to_owned();
        let broker = broker_from_env(env, issuer, &provider)?;
        Ok(Self {
            bind_address: env
                .optional("BIND_ADDRESS")
                .unwrap_or_else(|| "0.0.0.0".into()),
            port: env.parse_or("PORT", 8080)?,
            provider,
            apps,
            policy,
            handoff: HandoffSettings {
                signing_key: signing_key_from_env(env, dev_mode)?,
                previous_keys: previous_keys_from_env(env)?,
                ttl: handoff_ttl(env)?,
                delivery,
                code_ttl: crate::delivery::CODE_TTL,
            },
            cookie_key: cookie_key_from_env(env, dev_mode)?,
            login_timeout: env.seconds_or("LOGIN_TIMEOUT", Duration::from_secs(600))?,
            database: database_from_env(env, dev_mode)?,
            token_cipher: token_cipher_from_env(env, dev_mode)?,
            sessions: sessions_from_env(env)?,
            sign_out: SignOutSettings {
                revoke_grant: env.flag_or("SIGN_OUT_REVOKES_GRANT", false)?,
                end_provider_session: env.flag_or("SIGN_OUT_AT_PROVIDER", false)?,
            },
            broker,
            rate_limits: RateLimits {
                sign_in_per_minute: positive(env, "RATE_LIMIT_SIGN_IN_PER_MINUTE", 60)?,
                back_channel_per_minute: positive(env, "RATE_LIMIT_BACK_CHANNEL_PER_MINUTE", 600)?,
                broker_per_minute: positive(env, "RATE_LIMIT_BROKER_PER_MINUTE", 600)?,
                trusted_proxy_hops: env.parse_or("TRUSTED_PROXY_HOPS", 0)?,
            },
            dev_mode,
            workers: env.parse_or("WORKERS", default_workers())?,
            metrics: service_kit::metrics::MetricsAccess::from_env(env)?,
            public_url,
        })
    }

    /// The handoff token's `iss`: the public URL without a trailing slash.
    pub fn issuer(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }

    pub fn redirect_url(&self) -> Url {
        let mut url = self.public_url.clone();
        url.set_path("/callback");
        url.set_query(None);
        url
    }
}

pub(crate) fn provider_from_env(env: &Env) -> Result<ProviderSettings, ConfigError> {
    let issuer_url = match env.optional_url("OIDC_ISSUER_URL")? {
        Some(url) => url,
        None => Url::parse("https://accounts.google.com").expect("a valid constant URL"),
    };
    let auth_method = match env.optional("OIDC_CLIENT_AUTH_METHOD").as_deref() {
        None | Some("client_secret_basic") => ClientAuthMethod::ClientSecretBasic,
        Some("client_secret_post") => ClientAuthMethod::ClientSecretPost,
        Some(other) => {
            return Err(ConfigError::new(
                "OIDC_CLIENT_AUTH_METHOD",
                format!("expected client_secret_basic or client_secret_post, got {other:?}"),
            ))
        }
    };
    let mut scopes = vec![
        "openid".to_owned(),
        "email".to_owned(),
        "profile".to_owned(),
    ];
    for extra in env.list("OIDC_SCOPES") {
        // An operator who writes a default in another spelling (Google's
        // long `…/userinfo.email`) names that scope: it is asked for, and
        // answered in, their spelling, once.
        match scopes.iter_mut().find(|s| crate::scopes::same(s, &extra)) {
            Some(default) => *default = extra,
            None => scopes.push(extra),
        }
    }
    let is_google = issuer_url.host_str() == Some("accounts.google.com");
    let offline = match env.optional("OFFLINE_ACCESS").as_deref() {
        None if is_google => OfflineAccess::Google,
        None => OfflineAccess::OfflineAccessScope,
        Some("google") => OfflineAccess::Google,
        Some("offline_access") => OfflineAccess::OfflineAccessScope,
        Some("off") => OfflineAccess::Off,
        Some(other) => {
            return Err(ConfigError::new(
                "OFFLINE_ACCESS",
                format!("expected google, offline_access or off, got {other:?}"),
            ))
        }
    };
    let display_name = env.optional("PROVIDER_NAME").unwrap_or_else(|| {
        if issuer_url.host_str() == Some("accounts.google.com") {
            "Google".to_owned()
        } else {
            issuer_url.host_str().unwrap_or("your provider").to_owned()
        }
    });
    Ok(ProviderSettings {
        display_name,
        issuer_url,
        client_id: env.required("OIDC_CLIENT_ID")?,
        client_secret: env.required_secret("OIDC_CLIENT_SECRET")?,
        auth_method,
        scopes,
        optional_scopes: env.list("OIDC_OPTIONAL_SCOPES"),
        offline,
        extra_auth_params: extra_auth_params(env)?,
        timeout: env.seconds_or("PROVIDER_TIMEOUT", Duration::from_secs(10))?,
        connect_timeout: env.seconds_or("PROVIDER_CONNECT_TIMEOUT", Duration::from_secs(3))?,
        jwks_refetch_interval: env
            .seconds_or("PROVIDER_JWKS_REFETCH_INTERVAL", Duration::from_secs(30))?,
        id_token_algorithms: id_token_algorithms(env)?,
        hosted_domain_needed: false,
        backchannel_logout: backchannel_logout(env)?,
    })
}

/// `BACKCHANNEL_LOGOUT`: `auto` (the default: `POST /backchannel-logout`
/// takes logout tokens when discovery advertises
/// `backchannel_logout_supported`) or `off` (never, whatever it says).
fn backchannel_logout(env: &Env) -> Result<bool, ConfigError> {
    match env.optional("BACKCHANNEL_LOGOUT").as_deref() {
        None | Some("auto") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(ConfigError::new(
            "BACKCHANNEL_LOGOUT",
            format!("expected auto or off (e.g. BACKCHANNEL_LOGOUT=off), got {other:?}"),
        )),
    }
}

fn id_token_algorithms(env: &Env) -> Result<Vec<IdTokenAlgorithm>, ConfigError> {
    const NAME: &str = "OIDC_ID_TOKEN_ALGORITHMS";
    let raw = env.list(NAME);
    if raw.is_empty() {
        return Ok(vec![IdTokenAlgorithm::Rs256]);
    }
    let mut algorithms = Vec::new();
    for name in raw {
        let alg = IdTokenAlgorithm::parse(&name).map_err(|e| ConfigError::new(NAME, e))?;
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }
    Ok(algorithms)
}

/// Parameters the service sets itself may not be overridden.
const RESERVED_AUTH_PARAMS: [&str; 10] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "request",
];

fn extra_auth_params(env: &Env) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(raw) = env.optional("OIDC_EXTRA_AUTH_PARAMS") else {
        return Ok(Vec::new());
    };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    if let Some((name, _)) = params
        .iter()
        .find(|(name, _)| name.is_empty() || RESERVED_AUTH_PARAMS.contains(&name.as_str()))
    {
        return Err(ConfigError::new(
            "OIDC_EXTRA_AUTH_PARAMS",
            format!("{name:?} is set by the service itself and cannot be overridden"),
        ));
    }
    Ok(params)
}

pub(crate) fn database_from_env(
    env: &Env,
    dev_mode: bool,
) -> Result<DatabaseSettings, ConfigError> {
    let url = match env.secret("DATABASE_URL")? {
        Some(url) => url,
        None if dev_mode => SecretString::from("sqlite::memory:"),
        None => {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "is required (sqlite://<file> for one instance, postgres://… for several); DEV_MODE=true uses an in-memory database",
            ))
        }
    };
    let raw = url.expose_secret();
    let known = ["sqlite:", "postgres://", "postgresql://"];
    if !known.iter().any(|prefix| raw.starts_with(prefix)) {
        return Err(ConfigError::new(
            "DATABASE_URL",
            "must start with sqlite:, postgres:// or postgresql://",
        ));
    }
    if let Err(reason) = crate::store::check_url(raw) {
        return Err(ConfigError::new(
            "DATABASE_URL",
            format!("cannot be opened ({reason}); for example postgres://USER:PASSWORD@localhost/DB?host=/cloudsql/PROJECT:REGION:INSTANCE for Cloud SQL, or sqlite:///var/lib/auth.db"),
        ));
    }
    let max_connections = env.parse_or("DATABASE_MAX_CONNECTIONS", 5u32)?;
    if max_connections == 0 {
        return Err(ConfigError::new(
            "DATABASE_MAX_CONNECTIONS",
            "must be at least 1",
        ));
    }
    let timeout = env.seconds_or("DATABASE_TIMEOUT", Duration::from_secs(5))?;
    if timeout.is_zero() {
        return Err(ConfigError::new("DATABASE_TIMEOUT", "must be at least 1s"));
    }
    Ok(DatabaseSettings {
        url,
        max_connections,
        timeout,
    })
}

pub(crate) fn token_cipher_from_env(env: &Env, dev_mode: bool) -> Result<TokenCipher, ConfigError> {
    match env.secret("TOKEN_ENCRYPTION_KEYS")? {
        Some(ring) => TokenCipher::from_key_ring(&ring)
            .map_err(|e| ConfigError::new("TOKEN_ENCRYPTION_KEYS", e)),
        None if dev_mode => Ok(TokenCipher::ephemeral()),
        None => Err(ConfigError::new(
            "TOKEN_ENCRYPTION_KEYS",
            "is required (<key id>:<base64 of 32 random bytes>, newest first; e.g. k1:$(openssl rand -base64 32))",
        )),
    }
}

fn sessions_from_env(env: &Env) -> Result<SessionSettings, ConfigError> {
    let idle_timeout = env.seconds_or("SESSION_IDLE_TIMEOUT", Duration::from_secs(7 * 86_400))?;
    let max_lifetime = env.seconds_or("SESSION_MAX_LIFETIME", Duration::from_secs(30 * 86_400))?;
    if idle_timeout.is_zero() {
        return Err(ConfigError::new("SESSION_IDLE_TIMEOUT", "must be positive"));
    }
    if max_lifetime < idle_timeout {
        return Err(ConfigError::new(
            "SESSION_MAX_LIFETIME",
            "must be at least SESSION_IDLE_TIMEOUT",
        ));
    }
    Ok(SessionSettings {
        idle_timeout,
        max_lifetime,
        renewal_checks_grant: env.flag_or("RENEWAL_CHECKS_GRANT", false)?,
        place_header: place_header_from_env(env)?,
        signed_out_notice: env.flag_or("SIGNED_OUT_NOTICE", false)?,
    })
}

/// `SESSION_PLACE_HEADER`: off unless set. The header is trusted only
/// because the operator says their load balancer sets it (and overwrites
/// any a client sent); e.g. Google's external Application Load Balancer
/// with a custom request header `X-Client-Geo-Location:
/// {client_region_subdivision},{client_city}`
/// (https://cloud.google.com/load-balancing/docs/https/custom-headers).
fn place_header_from_env(
    env: &Env,
) -> Result<Option<actix_web::http::header::HeaderName>, ConfigError> {
    let Some(raw) = env.optional("SESSION_PLACE_HEADER") else {
        return Ok(None);
    };
    actix_web::http::header::HeaderName::from_bytes(raw.trim().as_bytes())
        .map(Some)
        .map_err(|_| {
            ConfigError::new(
                "SESSION_PLACE_HEADER",
                "must be a header name, e.g. X-Client-Geo-Location",
            )
        })
}

fn broker_from_env(
    env: &Env,
    issuer: String,
    provider: &ProviderSettings,
) -> Result<BrokerSettings, ConfigError> {
    let mut caller_issuers = env.list("CALLER_TOKEN_ISSUERS");
    if caller_issuers.is_empty() {
        caller_issuers = handoff_guard::GOOGLE_ISSUERS
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
    }
    let caller_jwks_url = match env.optional_url("CALLER_TOKEN_JWKS_URL")? {
        Some(url) => url,
        None => Url::parse(handoff_guard::GOOGLE_JWKS_URL).expect("a valid constant URL"),
    };
    let allowed_callers = env.list("BROKER_ALLOWED_CALLERS");
    let mut known_scopes = provider.scopes.clone();
    for scope in &provider.optional_scopes {
        if !known_scopes.iter().any(|k| crate::scopes::same(k, scope)) {
            known_scopes.push(scope.clone());
        }
    }
    let rules = BrokerRules::parse(
        &allowed_callers,
        &env.list(crate::broker_rules::SCOPES_VAR),
        &env.list(crate::broker_rules::USERS_VAR),
        &env.list(crate::broker_rules::WHOLE_GRANT_VAR),
        &known_scopes,
    )?;
    Ok(BrokerSettings {
        allowed_callers,
        caller_issuers,
        caller_jwks_url,
        caller_audience: env.optional("CALLER_TOKEN_AUDIENCE").unwrap_or(issuer),
        rules,
        requires_session: env.flag_or("BROKER_REQUIRES_SESSION", false)?,
        narrows_scopes: env.flag_or("BROKER_NARROWS_SCOPES", true)?,
    })
}

fn delivery_from_env(env: &Env) -> Result<Delivery, ConfigError> {
    let domain = env
        .optional("HANDOFF_COOKIE_DOMAIN")
        .map(|d| d.trim_start_matches('.').to_ascii_lowercase());
    match env.optional("HANDOFF_DELIVERY").as_deref() {
        None | Some("cookie") => Ok(Delivery::Cookie { domain }),
        Some("code") if domain.is_some() => Err(ConfigError::new(
            "HANDOFF_COOKIE_DOMAIN",
            "is for HANDOFF_DELIVERY=cookie; with code delivery each app sets its own host-only cookie",
        )),
        Some("code") => Ok(Delivery::Code),
        Some(other) => Err(ConfigError::new(
            "HANDOFF_DELIVERY",
            format!("expected cookie or code, got {other:?}"),
        )),
    }
}

fn positive(env: &Env, name: &str, default: u32) -> Result<u32, ConfigError> {
    let value = env.parse_or(name, default)?;
    if value == 0 {
        return Err(ConfigError::new(name, "must be at least 1"));
    }
    Ok(value)
}

fn handoff_ttl(env: &Env) -> Result<Duration, ConfigError> {
    let ttl = env.seconds_or("HANDOFF_TTL", Duration::from_secs(600))?;
    if ttl < Duration::from_secs(30) || ttl > Duration::from_secs(3600) {
        return Err(ConfigError::new(
            "HANDOFF_TTL",
            "must be between 30s and 60m: handoff tokens are short-lived",
        ));
    }
    Ok(ttl)
}

pub(crate) fn signing_key_from_env(env: &Env, dev_mode: bool) -> Result<SigningKey, ConfigError> {
    match env.secret("SIGNING_KEY")? {
        Some(pem) => SigningKey::from_pem(&pem).map_err(|e| ConfigError::new("SIGNING_KEY", e)),
        None if dev_mode => Ok(SigningKey::generate()),
        None => Err(ConfigError::new(
            "SIGNING_KEY",
            "is required (a P-256 private key PEM, or SIGNING_KEY_FILE); DEV_MODE=true uses an ephemeral key",
        )),
    }
}

/// Keys that no longer sign but stay in the JWKS until tokens they signed expire.
pub(crate) fn previous_keys_from_env(env: &Env) -> Result<Vec<SigningKey>, ConfigError> {
    let Some(pems) = env.secret("PREVIOUS_SIGNING_KEYS")? else {
        return Ok(Vec::new());
    };
    split_pems(pems.expose_secret())
        .into_iter()
        .map(|pem| SigningKey::from_pem(&SecretString::from(pem)))
        .collect::<Result<_, _>>()
        .map_err(|e| ConfigError::new("PREVIOUS_SIGNING_KEYS", e))
}

/// Concatenated PEM blocks, one per key.
fn split_pems(all: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in all.lines().map(str::trim).filter(|l| !l.is_empty()) {
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END") {
            blocks.push(std::mem::take(&mut current));
        }
    }
    blocks
}

fn cookie_key_from_env(env: &Env, dev_mode: bool) -> Result<Key, ConfigError> {
    let Some(secret) = env.secret("COOKIE_SECRET")? else {
        if dev_mode {
            return Ok(Key::generate());
        }
        return Err(ConfigError::new(
            "COOKIE_SECRET",
            "is required (at least 32 random bytes, base64; e.g. `openssl rand -base64 48`)",
        ));
    };
    let bytes = STANDARD
        .decode(secret.expose_secret().as_bytes())
        .map_err(|_| ConfigError::new("COOKIE_SECRET", "is not valid base64"))?;
    if bytes.len() < 32 {
        return Err(ConfigError::new(
            "COOKIE_SECRET",
            "must decode to at least 32 bytes",
        ));
    }
    Ok(Key::derive_from(&bytes))
}

fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::{EncodePrivateKey, LineEnding};

    fn pem() -> String {
        p256::SecretKey::random(&mut rand::rngs::OsRng)
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap()
            .to_string()
    }

    fn base() -> Vec<(&'static str, String)> {
        vec![
            ("PUBLIC_URL", "https://auth.example.com".into()),
            ("OIDC_CLIENT_ID", "id".into()),
            ("OIDC_CLIENT_SECRET", "secret".into()),
            ("APP_ORIGINS", "https://app.example.com".into()),
            ("HANDOFF_COOKIE_DOMAIN", "example.com".into()),
            ("ALLOWED_DOMAINS", "example.com".into()),
            ("SIGNING_KEY", pem()),
            ("COOKIE_SECRET", STANDARD.encode([7u8; 32])),
            ("DATABASE_URL", "postgres://auth@db/auth".into()),
            (
                "TOKEN_ENCRYPTION_KEYS",
                format!("k1:{}", STANDARD.encode([9u8; 32])),
            ),
        ]
    }

    fn error_for(overrides: &[(&'static str, &str)]) -> ConfigError {
        let mut vars = base();
        vars.retain(|(k, _)| !overrides.iter().any(|(o, _)| o == k));
        vars.extend(
            overrides
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (*k, v.to_string())),
        );
        match Settings::from_env(&Env::from_map(vars)) {
            Ok(_) => panic!("{overrides:?} was accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_complete_environment_parses_with_google_defaults() {
        let settings = Settings::from_env(&Env::from_map(base())).unwrap();
        assert_eq!(settings.port, 8080);
        assert_eq!(settings.issuer(), "https://auth.example.com");
        assert_eq!(
            settings.redirect_url().as_str(),
            "https://auth.example.com/callback"
        );
        assert_eq!(settings.provider.display_name, "Google");
        assert_eq!(settings.handoff.ttl, Duration::from_secs(600));
        assert_eq!(settings.provider.offline, OfflineAccess::Google);
        assert_eq!(settings.broker.caller_audience, "https://auth.example.com");
        assert_eq!(settings.broker.caller_issuers.len(), 2);
        assert!(settings.broker.allowed_callers.is_empty());
        assert!(!settings.broker.requires_session);
        assert_eq!(settings.token_cipher.sealing_key_id(), "k1");
    }

    #[test]
    fn broker_callers_need_their_scopes_listed_and_get_only_those() {
        let caller = "backend@p.iam.gserviceaccount.com";
        let e = error_for(&[("BROKER_ALLOWED_CALLERS", caller)]);
        assert_eq!(e.name, "BROKER_CALLER_SCOPES");
        assert!(e.problem.contains(&format!("{caller}=email")), "{e}");
        let e = error_for(&[
            ("BROKER_ALLOWED_CALLERS", caller),
            ("BROKER_CALLER_SCOPES", "email"),
        ]);
        assert_eq!(e.name, "BROKER_CALLER_SCOPES");
        assert!(e.problem.contains("e.g."), "{e}");

        let mut vars = base();
        vars.extend([
            ("BROKER_ALLOWED_CALLERS", caller.to_owned()),
            (
                "OIDC_OPTIONAL_SCOPES",
                "https://www.googleapis.com/auth/drive.readonly".to_owned(),
            ),
            (
                "BROKER_CALLER_SCOPES",
                format!("{caller}=email https://www.googleapis.com/auth/drive.readonly"),
            ),
            ("BROKER_CALLER_USERS", format!("{caller}=@example.com")),
            ("BROKER_REQUIRES_SESSION", "true".to_owned()),
        ]);
        let settings = Settings::from_env(&Env::from_map(vars.clone())).unwrap();
        let rules = settings.broker.rules.for_caller(caller).unwrap();
        assert!(rules.allows_scope("email") && !rules.allows_scope("profile"));
        assert!(rules.admits_user("a@example.com") && !rules.admits_user("a@example.org"));
        assert!(settings.broker.requires_session);
        assert!(settings.broker.narrows_scopes);
        let whole_grant = ["openid".to_owned(), "profile".to_owned()];
        assert_eq!(
            rules.scopes_beyond(&whole_grant),
            whole_grant,
            "no caller accepts the whole grant unless listed"
        );

        vars.push(("BROKER_WHOLE_GRANT_CALLERS", caller.to_owned()));
        let settings = Settings::from_env(&Env::from_map(vars.clone())).unwrap();
        let rules = settings.broker.rules.for_caller(caller).unwrap();
        assert!(rules.scopes_beyond(&whole_grant).is_empty());
        assert!(!rules.allows_scope("profile"), "nor may it ask for more");
        vars.push((
            "BROKER_WHOLE_GRANT_CALLERS",
            "other@p.iam.gserviceaccount.com".to_owned(),
        ));
        let e = Settings::from_env(&Env::from_map(vars))
            .err()
            .expect("refused");
        assert_eq!(e.name, "BROKER_WHOLE_GRANT_CALLERS");
    }

    #[test]
    fn another_provider_gets_the_offline_access_scope_and_extra_parameters() {
        let mut vars = base();
        vars.push((
            "OIDC_ISSUER_URL",
            "https://login.example.org/realms/x".into(),
        ));
        vars.push((
            "OIDC_EXTRA_AUTH_PARAMS",
            "prompt=consent&audience=api".into(),
        ));
        let settings = Settings::from_env(&Env::from_map(vars)).unwrap();
        assert_eq!(settings.provider.offline, OfflineAccess::OfflineAccessScope);
        assert_eq!(
            settings.provider.extra_auth_params,
            [
                ("prompt".into(), "consent".into()),
                ("audience".into(), "api".into())
            ]
        );
    }

    #[test]
    fn a_default_scope_in_another_spelling_is_asked_once_in_the_operators() {
        let mut vars = base();
        vars.push((
            "OIDC_SCOPES",
            format!("{},calendar,profile", crate::scopes::GOOGLE_EMAIL),
        ));
        let settings = Settings::from_env(&Env::from_map(vars)).unwrap();
        assert_eq!(
            settings.provider.scopes,
            ["openid", crate::scopes::GOOGLE_EMAIL, "profile", "calendar"]
        );
    }

    #[test]
    fn an_empty_environment_is_told_every_missing_variable_at_once() {
        let err = Settings::from_env(&Env::from_map(Vec::<(String, String)>::new()))
            .err()
            .expect("refused");
        let text = err.to_string();
        for name in [
            "PUBLIC_URL=https://",
            "APP_ORIGINS=https://",
            "OIDC_CLIENT_ID=",
            "OIDC_CLIENT_SECRET=",
            "ALLOWED_EMAILS=",
            "DATABASE_URL=sqlite:",
            "TOKEN_ENCRYPTION_KEYS=k1:",
            "SIGNING_KEY=",
            "COOKIE_SECRET=",
        ] {
            assert!(text.contains(&format!("\n    {name}")), "{name}: {text}");
        }
        assert!(text.contains("cargo run --bin local-stack"), "{text}");
        // DEV_MODE needs neither keys nor a database.
        let dev = Settings::from_env(&Env::from_map([("DEV_MODE", "true")]))
            .err()
            .expect("refused");
        assert!(!dev.to_string().contains("SIGNING_KEY"), "{dev}");
        assert!(dev.to_string().contains("PUBLIC_URL"), "{dev}");
    }

    #[test]
    fn each_bad_setting_is_named() {
        assert_eq!(error_for(&[("PUBLIC_URL", "")]).name, "PUBLIC_URL");
        assert_eq!(error_for(&[("PORT", "eighty")]).name, "PORT");
        assert_eq!(
            error_for(&[("APP_ORIGINS", "https://app.elsewhere.org")]).name,
            "APP_ORIGINS"
        );
        assert!(error_for(&[("ALLOWED_DOMAINS", "")])
            .name
            .starts_with("ALLOWED_EMAILS or ALLOWED_DOMAINS"));
        assert_eq!(
            error_for(&[("SIGNING_KEY", "not a pem")]).name,
            "SIGNING_KEY"
        );
        assert_eq!(
            error_for(&[("COOKIE_SECRET", "c2hvcnQ=")]).name,
            "COOKIE_SECRET"
        );
        assert_eq!(error_for(&[("HANDOFF_TTL", "1d")]).name, "HANDOFF_TTL");
        assert_eq!(
            error_for(&[("OIDC_CLIENT_AUTH_METHOD", "private_key_jwt")]).name,
            "OIDC_CLIENT_AUTH_METHOD"
        );
        assert_eq!(error_for(&[("DATABASE_URL", "")]).name, "DATABASE_URL");
        assert_eq!(
            error_for(&[("DATABASE_URL", "mysql://x/y")]).name,
            "DATABASE_URL"
        );
        assert_eq!(
            error_for(&[("TOKEN_ENCRYPTION_KEYS", "k1:c2hvcnQ=")]).name,
            "TOKEN_ENCRYPTION_KEYS"
        );
        assert_eq!(
            error_for(&[
                ("SESSION_MAX_LIFETIME", "1h"),
                ("SESSION_IDLE_TIMEOUT", "2h")
            ])
            .name,
            "SESSION_MAX_LIFETIME"
        );
        assert_eq!(
            error_for(&[(
                "OIDC_EXTRA_AUTH_PARAMS",
                "redirect_uri=https://evil.example"
            )])
            .name,
            "OIDC_EXTRA_AUTH_PARAMS"
        );
        assert_eq!(
            error_for(&[("OFFLINE_ACCESS", "sometimes")]).name,
            "OFFLINE_ACCESS"
        );
        assert_eq!(
            error_for(&[("BACKCHANNEL_LOGOUT", "on")]).name,
            "BACKCHANNEL_LOGOUT"
        );
    }

    /// Every setting of this service whose value is a URL or a list of
    /// them. Each is read through `service_kit::config`'s URL readers, and
    /// the test below fails until a new one is listed here.
    const URL_SETTINGS: [&str; 4] = [
        "PUBLIC_URL",
        "APP_ORIGINS",
        "OIDC_ISSUER_URL",
        "CALLER_TOKEN_JWKS_URL",
    ];

    /// Names that look like URL settings but are not read as URLs.
    const NOT_URL_SETTINGS: [(&str, &str); 3] = [
        (
            "DATABASE_URL",
            "a sqlite: or postgres:// connection string, checked by store::check_url",
        ),
        (
            "TEST_DATABASE_URL",
            "the storage conformance tests' PostgreSQL server; tests only, never the service",
        ),
        (
            "CALLER_TOKEN_ISSUERS",
            "issuer names compared with a token's iss, never fetched (Google's has no scheme)",
        ),
    ];

    #[test]
    fn every_url_setting_is_https_or_plain_http_to_loopback() {
        let mut environment: Vec<(String, String)> = base()
            .into_iter()
            .filter(|(k, _)| *k != "HANDOFF_COOKIE_DOMAIN")
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        // Code delivery: apps may be anywhere, so an app origin can move
        // to loopback alone.
        for (name, value) in [
            ("HANDOFF_DELIVERY", "code"),
            (
                "APP_SERVICE_ACCOUNTS",
                "https://app.example.com=app@p.iam.gserviceaccount.com",
            ),
            ("OIDC_ISSUER_URL", "https://login.example.org/realms/x"),
            ("CALLER_TOKEN_JWKS_URL", "https://keys.example.org/certs"),
        ] {
            environment.push((name.to_owned(), value.to_owned()));
        }
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
    fn apps_sharing_a_host_under_a_host_only_cookie_are_refused() {
        // Cookie delivery without a domain: the public service sets
        // `__Host-handoff` on its own host, where both apps are.
        let e = error_for(&[
            ("HANDOFF_COOKIE_DOMAIN", ""),
            (
                "APP_ORIGINS",
                "https://auth.example.com:8443,https://auth.example.com:9443",
            ),
        ]);
        assert_eq!(e.name, "APP_ORIGINS");
        assert!(
            e.problem.contains("are on one host, auth.example.com")
                && e.problem.contains("HANDOFF_COOKIE_DOMAIN"),
            "{e}"
        );
        // One app there is the one-host setup.
        let mut vars = base();
        vars.retain(|(k, _)| !["HANDOFF_COOKIE_DOMAIN", "APP_ORIGINS"].contains(k));
        vars.push(("APP_ORIGINS", "https://auth.example.com:8443".into()));
        Settings::from_env(&Env::from_map(vars)).unwrap();
    }

    #[test]
    fn backchannel_logout_follows_discovery_unless_turned_off() {
        let settings = Settings::from_env(&Env::from_map(base())).unwrap();
        assert!(settings.provider.backchannel_logout);
        let mut vars = base();
        vars.push(("BACKCHANNEL_LOGOUT", "off".into()));
        let settings = Settings::from_env(&Env::from_map(vars)).unwrap();
        assert!(!settings.provider.backchannel_logout);
    }

    #[test]
    fn id_token_algorithms_default_to_rs256_and_refuse_none_and_hmac() {
        let settings = Settings::from_env(&Env::from_map(base())).unwrap();
        assert_eq!(
            settings.provider.id_token_algorithms,
            [IdTokenAlgorithm::Rs256]
        );
        let mut vars = base();
        vars.push((
            "OIDC_ID_TOKEN_ALGORITHMS",
            "ES256, RS256,PS256,EdDSA".into(),
        ));
        let settings = Settings::from_env(&Env::from_map(vars)).unwrap();
        assert_eq!(
            settings.provider.id_token_algorithms,
            [
                IdTokenAlgorithm::Es256,
                IdTokenAlgorithm::Rs256,
                IdTokenAlgorithm::Ps256,
                IdTokenAlgorithm::EdDsa
            ]
        );
        for bad in ["none", "HS256", "RS256,HS512", "rs256", "ES384"] {
            let e = error_for(&[("OIDC_ID_TOKEN_ALGORITHMS", bad)]);
            assert_eq!(e.name, "OIDC_ID_TOKEN_ALGORITHMS", "{bad}");
            assert!(e.to_string().contains("RS256,ES256"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_configuration_error_never_quotes_a_secret() {
        let e = error_for(&[("TOKEN_ENCRYPTION_KEYS", "k1:c2VjcmV0LXZhbHVlLXNob3J0")]);
        assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
        let e = error_for(&[("DATABASE_URL", "mysql://user:hunter2@db/x")]);
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn dev_mode_makes_keys_optional() {
        let mut vars = base();
        vars.retain(|(k, _)| {
            ![
                "SIGNING_KEY",
                "COOKIE_SECRET",
                "DATABASE_URL",
                "TOKEN_ENCRYPTION_KEYS",
            ]
            .contains(k)
        });
        assert!(Settings::from_env(&Env::from_map(vars.clone())).is_err());
        vars.push(("DEV_MODE", "true".into()));
        assert!(Settings::from_env(&Env::from_map(vars)).unwrap().dev_mode);
    }

    #[test]
    fn previous_signing_keys_are_read_from_concatenated_pems() {
        let mut vars = base();
        vars.push(("PREVIOUS_SIGNING_KEYS", format!("{}\n{}", pem(), pem())));
        let settings = Settings::from_env(&Env::from_map(vars)).unwrap();
        assert_eq!(settings.handoff.previous_keys.len(), 2);
    }
}

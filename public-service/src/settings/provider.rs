//! The OpenID provider: `OIDC_ISSUER_URL` (Google unless set),
//! `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET`, `OIDC_CLIENT_AUTH_METHOD`,
//! `OIDC_SCOPES`, `OIDC_OPTIONAL_SCOPES`, `OFFLINE_ACCESS`,
//! `PROVIDER_NAME`, `OIDC_EXTRA_AUTH_PARAMS`, `PROVIDER_TIMEOUT`,
//! `PROVIDER_CONNECT_TIMEOUT`, `PROVIDER_JWKS_REFETCH_INTERVAL`,
//! `OIDC_ID_TOKEN_ALGORITHMS` and `BACKCHANNEL_LOGOUT`.

use std::time::Duration;

use service_kit::config::{ConfigError, Env};
use url::Url;

use crate::oidc::{ClientAuthMethod, IdTokenAlgorithm, OfflineAccess, ProviderSettings};

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

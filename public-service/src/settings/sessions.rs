//! Sessions: `SESSION_IDLE_TIMEOUT`, `SESSION_MAX_LIFETIME`,
//! `RENEWAL_CHECKS_GRANT`, `SESSION_PLACE_HEADER` and `SIGNED_OUT_NOTICE`.

use std::time::Duration;

use service_kit::config::{ConfigError, Env};

use crate::sessions::SessionSettings;

pub(super) fn sessions_from_env(env: &Env) -> Result<SessionSettings, ConfigError> {
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

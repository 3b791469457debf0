//! Who may sign in, read from the environment: `ALLOWED_EMAILS`,
//! `ALLOWED_DOMAINS`, `ALLOWED_HOSTED_DOMAINS`, `ALLOW_ANY_VERIFIED_EMAIL`.
//! The rule itself is the library's [`AccessPolicy`]; the names are ours.

use handoff_guard::policy::AccessPolicy;

use crate::config::{ConfigError, Env};

/// The access policy the environment describes; an error when it would
/// admit no one. Its warnings are logged.
pub fn access_policy(env: &Env) -> Result<AccessPolicy, ConfigError> {
    let policy = AccessPolicy::new(
        env.list("ALLOWED_EMAILS"),
        env.list("ALLOWED_DOMAINS"),
        env.list("ALLOWED_HOSTED_DOMAINS"),
        env.flag_or("ALLOW_ANY_VERIFIED_EMAIL", false)?,
    );
    if policy.admits_no_one() {
        return Err(ConfigError::new(
            "ALLOWED_EMAILS",
            "no one could sign in: set ALLOWED_EMAILS, ALLOWED_DOMAINS or ALLOWED_HOSTED_DOMAINS, or ALLOW_ANY_VERIFIED_EMAIL=true",
        ));
    }
    for warning in policy.warnings() {
        tracing::warn!("{warning}");
    }
    Ok(policy)
}

//! Who may sign in, read from the environment: `ALLOWED_EMAILS`,
//! `ALLOWED_DOMAINS`, `ALLOWED_HOSTED_DOMAINS`, `ALLOW_ANY_VERIFIED_EMAIL`.
//! The rule itself is the library's [`AccessPolicy`]; the names are ours.

use handoff_guard::AccessPolicy;

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
    for warning in warnings(&policy) {
        tracing::warn!("{warning}");
    }
    Ok(policy)
}

/// What a security reviewer would want to know about `policy`, in the
/// words of its variables.
pub fn warnings(policy: &AccessPolicy) -> Vec<String> {
    let mut warnings = Vec::new();
    if policy.admits_by_address_domain() {
        warnings.push(
            "ALLOWED_DOMAINS admits any verified account whose address ends in the domain, consumer accounts made with a work address included; to admit only accounts the organisation's Google Workspace manages, use ALLOWED_HOSTED_DOMAINS".to_owned(),
        );
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_domains_come_with_a_warning_and_hosted_domains_without() {
        let by_address = AccessPolicy::new([], ["corp.example".into()], [], false);
        let said = warnings(&by_address);
        assert_eq!(said.len(), 1);
        assert!(said[0].contains("ALLOWED_HOSTED_DOMAINS"));
        let hosted = AccessPolicy::new([], [], ["corp.example".into()], false);
        assert!(warnings(&hosted).is_empty());
    }

    #[test]
    fn a_policy_that_admits_no_one_is_a_configuration_error() {
        let env = Env::from_map(Vec::<(String, String)>::new());
        let e = access_policy(&env).unwrap_err();
        assert!(e.to_string().contains("ALLOWED_EMAILS"), "{e}");
    }
}

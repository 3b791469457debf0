//! Who may sign in, read from the environment: `ALLOWED_EMAILS`,
//! `ALLOWED_DOMAINS`, `ALLOWED_HOSTED_DOMAINS`, `ALLOW_ANY_VERIFIED_EMAIL`.
//! The rule itself is the library's [`AccessPolicy`]; the names are ours.
//! And `ID_TOKEN_AUDIENCES`, the OAuth clients (a Chrome extension's) whose
//! ID tokens a person may call an app with, read alike by every app that
//! takes them (the gate, the demo app).

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

/// `ID_TOKEN_AUDIENCES`: the OAuth client ids people's ID tokens may be
/// for, comma-separated; empty when unset. Each entry must look like a
/// client id: a URL there would be a service's audience (an app's own URL
/// already is one, for service accounts only), and a typo must stop the
/// service at start rather than refuse every caller.
pub fn person_id_token_audiences(env: &Env) -> Result<Vec<String>, ConfigError> {
    const NAME: &str = "ID_TOKEN_AUDIENCES";
    let audiences = env.list(NAME);
    for audience in &audiences {
        let client_id = !audience.is_empty()
            && audience
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        if !client_id {
            return Err(ConfigError::new(
                NAME,
                format!("{audience:?} is not an OAuth client id; expected something like 1234567890-abc.apps.googleusercontent.com (the extension's client, comma-separated)"),
            ));
        }
    }
    Ok(audiences)
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
    fn id_token_audiences_are_client_ids_and_anything_else_is_named() {
        let read = |value: &str| {
            person_id_token_audiences(&Env::from_map([("ID_TOKEN_AUDIENCES", value)]))
        };
        assert_eq!(
            read("1234-abc.apps.googleusercontent.com, other_client").unwrap(),
            ["1234-abc.apps.googleusercontent.com", "other_client"]
        );
        for refused in ["https://app.example.com", "client id", "id/1", "é"] {
            let e = read(refused).expect_err(refused);
            assert_eq!(e.name, "ID_TOKEN_AUDIENCES", "{refused}");
            assert!(e.to_string().contains(".apps.googleusercontent.com"), "{e}");
        }
        let unset = Env::from_map(Vec::<(String, String)>::new());
        assert!(person_id_token_audiences(&unset).unwrap().is_empty());
    }

    #[test]
    fn a_policy_that_admits_no_one_is_a_configuration_error() {
        let env = Env::from_map(Vec::<(String, String)>::new());
        let e = access_policy(&env).unwrap_err();
        assert!(e.to_string().contains("ALLOWED_EMAILS"), "{e}");
    }
}

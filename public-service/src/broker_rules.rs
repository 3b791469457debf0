//! What each caller of the token broker may get: the scopes listed for it
//! (`BROKER_CALLER_SCOPES`) and, optionally, only some users
//! (`BROKER_CALLER_USERS`).
//!
//! Its scopes bound both what a caller may ask for and what the token it
//! is handed may carry ([`CallerRules::scopes_beyond`]): a provider that
//! does not narrow a refreshed token to the scopes asked for answers with
//! every scope the user granted, and such a token goes only to a caller
//! allowed all of them, or to one listed on `BROKER_WHOLE_GRANT_CALLERS`,
//! which accepts, knowingly, tokens carrying the whole grant.
//!
//! Every caller on `BROKER_ALLOWED_CALLERS` must have its scopes listed:
//! a caller without rules would otherwise get every scope any user ever
//! granted, so a list without them stops the service at start. `*` is the
//! explicit way to allow every configured and optional scope. A caller
//! without a user filter may act for anyone the access policy admits.
//!
//! Scopes are written, and answered, in the operator's names; they compare
//! in any spelling ([`crate::scopes`]). Users compare like the access
//! policy: ASCII lower-case, exact address or exact `@domain`.

use std::collections::{HashMap, HashSet};

use service_kit::config::ConfigError;

use crate::scopes::{self, ScopeSet};

pub const SCOPES_VAR: &str = "BROKER_CALLER_SCOPES";
pub const USERS_VAR: &str = "BROKER_CALLER_USERS";
pub const WHOLE_GRANT_VAR: &str = "BROKER_WHOLE_GRANT_CALLERS";
const SCOPES_EXAMPLE: &str =
    "backend@my-project.iam.gserviceaccount.com=email https://www.googleapis.com/auth/drive.readonly";
const USERS_EXAMPLE: &str =
    "backend@my-project.iam.gserviceaccount.com=@example.com alice@example.org";

/// The rules of every allowed caller.
#[derive(Debug, Clone, Default)]
pub struct BrokerRules {
    callers: HashMap<String, CallerRules>,
}

#[derive(Debug, Clone)]
pub struct CallerRules {
    /// In the operator's names, as listed (`*` expanded).
    scopes: Vec<String>,
    users: Option<UserFilter>,
    /// Accepts tokens carrying every scope of the user's grant, beyond
    /// `scopes` (`BROKER_WHOLE_GRANT_CALLERS`).
    whole_grant: bool,
}

#[derive(Debug, Clone, Default)]
struct UserFilter {
    emails: HashSet<String>,
    domains: HashSet<String>,
}

impl BrokerRules {
    /// `callers`: `BROKER_ALLOWED_CALLERS`; `scope_entries` and
    /// `user_entries`: the two variables' comma-separated entries;
    /// `whole_grant`: `BROKER_WHOLE_GRANT_CALLERS`; `known_scopes`: the
    /// configured and optional scopes.
    pub fn parse(
        callers: &[String],
        scope_entries: &[String],
        user_entries: &[String],
        whole_grant: &[String],
        known_scopes: &[String],
    ) -> Result<Self, ConfigError> {
        let callers: Vec<String> = callers.iter().map(|c| c.to_ascii_lowercase()).collect();
        let mut rules = HashMap::new();
        for entry in scope_entries {
            let (account, listed) = split_entry(entry, &callers, SCOPES_VAR, SCOPES_EXAMPLE)?;
            let scopes = listed_scopes(&account, listed, known_scopes)?;
            let rule = CallerRules {
                scopes,
                users: None,
                whole_grant: false,
            };
            if rules.insert(account.clone(), rule).is_some() {
                return Err(ConfigError::new(
                    SCOPES_VAR,
                    format!("{account} has two entries; list all its scopes in one"),
                ));
            }
        }
        if let Some(missing) = callers.iter().find(|c| !rules.contains_key(*c)) {
            return Err(ConfigError::new(
                SCOPES_VAR,
                format!(
                    "{missing} is on BROKER_ALLOWED_CALLERS but has no scopes listed: each caller gets only the scopes listed for it, as <service account>=<scope> <scope>…, e.g. {missing}=email (or {missing}=* for every configured and optional scope)"
                ),
            ));
        }
        for entry in user_entries {
            let (account, listed) = split_entry(entry, &callers, USERS_VAR, USERS_EXAMPLE)?;
            let filter = user_filter(&account, listed)?;
            let rule = rules.get_mut(&account).expect("every caller has scopes");
            if rule.users.replace(filter).is_some() {
                return Err(ConfigError::new(
                    USERS_VAR,
                    format!("{account} has two entries; list all its users in one"),
                ));
            }
        }
        for account in whole_grant {
            let account = account.trim().to_ascii_lowercase();
            let Some(rule) = rules.get_mut(&account) else {
                return Err(ConfigError::new(
                    WHOLE_GRANT_VAR,
                    format!("{account} is not on BROKER_ALLOWED_CALLERS"),
                ));
            };
            rule.whole_grant = true;
        }
        Ok(Self { callers: rules })
    }

    /// The rules of `caller` (an authenticated, allowed service account).
    pub fn for_caller(&self, caller: &str) -> Option<&CallerRules> {
        self.callers.get(&caller.to_ascii_lowercase())
    }
}

impl CallerRules {
    /// The scopes this caller may ask for, in the operator's names.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    pub fn allows_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| scopes::same(s, scope))
    }

    pub fn allowed_set(&self) -> ScopeSet {
        self.scopes.iter().collect()
    }

    /// The scopes a token carrying `carried` has that this caller may not
    /// have, as spelt in `carried`; empty when the token may be handed to
    /// it. A caller on `BROKER_WHOLE_GRANT_CALLERS` may have them all.
    pub fn scopes_beyond(&self, carried: &[String]) -> Vec<String> {
        if self.whole_grant {
            return Vec::new();
        }
        self.allowed_set().missing(carried)
    }

    /// Whether the caller may act for the user with this e-mail address.
    pub fn admits_user(&self, email: &str) -> bool {
        let Some(filter) = &self.users else {
            return true;
        };
        let email = email.to_ascii_lowercase();
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        filter.emails.contains(&email) || filter.domains.contains(domain)
    }
}

/// `<account>=<rest>`, the account being an allowed caller.
fn split_entry<'a>(
    entry: &'a str,
    callers: &[String],
    var: &str,
    example: &str,
) -> Result<(String, &'a str), ConfigError> {
    let malformed = || {
        ConfigError::new(
            var,
            format!("{entry:?} is not <service account>=<value> <value>…, e.g. {example}"),
        )
    };
    let (account, rest) = entry.split_once('=').ok_or_else(malformed)?;
    let account = account.trim().to_ascii_lowercase();
    if !account.contains('@') || rest.trim().is_empty() {
        return Err(malformed());
    }
    if !callers.contains(&account) {
        return Err(ConfigError::new(
            var,
            format!("{account} is not on BROKER_ALLOWED_CALLERS"),
        ));
    }
    Ok((account, rest))
}

fn listed_scopes(
    account: &str,
    listed: &str,
    known: &[String],
) -> Result<Vec<String>, ConfigError> {
    let listed: Vec<&str> = listed.split_whitespace().collect();
    if listed == ["*"] {
        return Ok(known.to_vec());
    }
    let mut scopes: Vec<String> = Vec::new();
    for scope in listed {
        let Some(name) = known.iter().find(|k| scopes::same(k, scope)) else {
            return Err(ConfigError::new(
                SCOPES_VAR,
                format!(
                    "{scope:?} (listed for {account}) is not a scope sign-ins ask for: neither openid, email, profile, nor in OIDC_SCOPES or OIDC_OPTIONAL_SCOPES (`*` alone means all of those)"
                ),
            ));
        };
        if !scopes.iter().any(|s| s == name) {
            scopes.push(name.clone());
        }
    }
    Ok(scopes)
}

fn user_filter(account: &str, listed: &str) -> Result<UserFilter, ConfigError> {
    let mut filter = UserFilter::default();
    for user in listed.split_whitespace() {
        let user = user.to_ascii_lowercase();
        match user.split_once('@') {
            Some(("", domain)) if !domain.is_empty() && !domain.contains('@') => {
                filter.domains.insert(domain.to_owned());
            }
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
                filter.emails.insert(user.clone());
            }
            _ => {
                return Err(ConfigError::new(
                    USERS_VAR,
                    format!(
                        "{user:?} (listed for {account}) is neither an e-mail address nor @<domain>, e.g. {USERS_EXAMPLE}"
                    ),
                ))
            }
        }
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DRIVE: &str = "https://www.googleapis.com/auth/drive.readonly";
    const CALLER: &str = "backend@p.iam.gserviceaccount.com";

    fn known() -> Vec<String> {
        ["openid", "email", "profile", DRIVE]
            .map(str::to_owned)
            .to_vec()
    }

    fn parse(scopes: &[&str], users: &[&str]) -> Result<BrokerRules, ConfigError> {
        parse_with(scopes, users, &[])
    }

    fn parse_with(
        scopes: &[&str],
        users: &[&str],
        whole_grant: &[&str],
    ) -> Result<BrokerRules, ConfigError> {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        BrokerRules::parse(
            &[
                CALLER.to_ascii_uppercase(),
                "other@p.iam.gserviceaccount.com".into(),
            ],
            &owned(scopes),
            &owned(users),
            &owned(whole_grant),
            &known(),
        )
    }

    fn carried(scopes: &[&str]) -> Vec<String> {
        scopes.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_token_carrying_more_than_the_callers_scopes_is_not_for_it() {
        let rules = parse(
            &[
                &format!("{CALLER}=email"),
                &format!("other@p.iam.gserviceaccount.com=openid email profile {DRIVE}"),
            ],
            &[],
        )
        .unwrap();
        let caller = rules.for_caller(CALLER).unwrap();
        assert!(caller.scopes_beyond(&carried(&["email"])).is_empty());
        assert!(
            caller
                .scopes_beyond(&carried(&[
                    "https://www.googleapis.com/auth/userinfo.email"
                ]))
                .is_empty(),
            "in any spelling"
        );
        assert_eq!(
            caller.scopes_beyond(&carried(&["openid", "email", "profile", DRIVE])),
            ["openid", "profile", DRIVE],
            "a token the provider did not narrow names what is beyond"
        );
        let other = rules.for_caller("other@p.iam.gserviceaccount.com").unwrap();
        assert!(other
            .scopes_beyond(&carried(&["openid", "email", "profile", DRIVE]))
            .is_empty());
        assert_eq!(
            other.scopes_beyond(&carried(&["email", "https://mail.google.com/"])),
            ["https://mail.google.com/"],
            "a scope no sign-in asked for is beyond every list"
        );
    }

    #[test]
    fn only_a_caller_marked_for_it_accepts_the_whole_grant() {
        let rules = parse_with(
            &[
                &format!("{CALLER}=email"),
                "other@p.iam.gserviceaccount.com=email",
            ],
            &[],
            &[&format!(" {} ", CALLER.to_ascii_uppercase())],
        )
        .unwrap();
        let whole = carried(&["openid", "email", "profile", DRIVE]);
        assert!(rules
            .for_caller(CALLER)
            .unwrap()
            .scopes_beyond(&whole)
            .is_empty());
        assert_eq!(
            rules
                .for_caller("other@p.iam.gserviceaccount.com")
                .unwrap()
                .scopes_beyond(&whole),
            ["openid", "profile", DRIVE]
        );
        // What it may ask for does not change.
        assert!(!rules.for_caller(CALLER).unwrap().allows_scope(DRIVE));
        let stranger = parse_with(
            &[
                &format!("{CALLER}=email"),
                "other@p.iam.gserviceaccount.com=email",
            ],
            &[],
            &["stranger@p.iam.gserviceaccount.com"],
        )
        .unwrap_err();
        assert_eq!(stranger.name, WHOLE_GRANT_VAR);
        assert!(
            stranger.problem.contains("not on BROKER_ALLOWED_CALLERS"),
            "{stranger}"
        );
    }

    #[test]
    fn a_caller_gets_its_listed_scopes_in_any_spelling_and_its_listed_users() {
        let rules = parse(
            &[
                &format!("{CALLER}=https://www.googleapis.com/auth/userinfo.email {DRIVE}"),
                "other@p.iam.gserviceaccount.com=*",
            ],
            &[&format!("{CALLER}=@Corp.example alice@example.org")],
        )
        .unwrap();
        let caller = rules.for_caller(&CALLER.to_ascii_uppercase()).unwrap();
        // The operator's name for `email` is the configured one.
        assert_eq!(caller.scopes(), ["email", DRIVE]);
        assert!(caller.allows_scope("email") && caller.allows_scope(DRIVE));
        assert!(!caller.allows_scope("profile") && !caller.allows_scope("openid"));
        assert!(caller.admits_user("bob@corp.example"));
        assert!(caller.admits_user("ALICE@example.org"));
        assert!(!caller.admits_user("bob@sub.corp.example"));
        assert!(!caller.admits_user("bob@corp.example.evil"));
        assert!(!caller.admits_user("carol@example.org"));
        let other = rules.for_caller("other@p.iam.gserviceaccount.com").unwrap();
        assert_eq!(other.scopes(), known());
        assert!(other.admits_user("anyone@anywhere.example"));
        assert!(rules
            .for_caller("stranger@p.iam.gserviceaccount.com")
            .is_none());
    }

    #[test]
    fn a_caller_without_scopes_stops_the_service_with_an_example() {
        let e = parse(&[&format!("{CALLER}=email")], &[]).unwrap_err();
        assert_eq!(e.name, SCOPES_VAR);
        assert!(
            e.problem.contains("other@p.iam.gserviceaccount.com=email"),
            "{e}"
        );
    }

    #[test]
    fn malformed_rules_name_the_setting_and_give_an_example() {
        let other = "other@p.iam.gserviceaccount.com=*".to_owned();
        let mine = |rest: &str| format!("{CALLER}={rest}");
        let cases: Vec<(Vec<String>, Vec<String>, &str, &str)> = vec![
            (
                vec!["email".into(), other.clone()],
                vec![],
                SCOPES_VAR,
                "e.g. backend@",
            ),
            (vec![mine(""), other.clone()], vec![], SCOPES_VAR, "e.g."),
            (
                vec![mine("https://mail.google.com/"), other.clone()],
                vec![],
                SCOPES_VAR,
                "https://mail.google.com/",
            ),
            (
                vec![
                    "nobody@p.iam.gserviceaccount.com=email".into(),
                    other.clone(),
                ],
                vec![],
                SCOPES_VAR,
                "not on BROKER_ALLOWED_CALLERS",
            ),
            (
                vec![mine("email"), mine("profile"), other.clone()],
                vec![],
                SCOPES_VAR,
                "two entries",
            ),
            (
                vec![mine("email"), other.clone()],
                vec![mine("corp.example")],
                USERS_VAR,
                "e.g. backend@",
            ),
            (
                vec![mine("email"), other.clone()],
                vec!["@corp.example".into()],
                USERS_VAR,
                "e.g.",
            ),
        ];
        for (scopes, users, var, says) in cases {
            let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let users: Vec<&str> = users.iter().map(String::as_str).collect();
            let e = parse(&scopes, &users).unwrap_err();
            assert_eq!(e.name, var, "{scopes:?} {users:?}: {e}");
            assert!(e.problem.contains(says), "{scopes:?} {users:?}: {e}");
        }
    }
}

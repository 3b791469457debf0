//! Who may sign in: a verified e-mail, on an allowlist of addresses, e-mail
//! domains or Google Workspace hosted domains (`hd`).
//!
//! Comparison is exact after ASCII lower-casing only: no Unicode case
//! folding (which maps look-alikes such as the Kelvin sign onto ASCII), no
//! trimming of trailing dots, no stripping of `+` tags.

use std::collections::HashSet;

/// The identity the provider vouched for, from a verified id_token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's identifier of the account (`sub`); the policy does
    /// not read it.
    pub subject: String,
    /// The e-mail address, if the provider shared one, in any case: the
    /// policy compares it ASCII-lower-cased.
    pub email: Option<String>,
    /// Whether the provider verified `email`. An unverified address admits
    /// no one, even one on the list: anyone can type an address.
    pub email_verified: bool,
    /// The display name, if any; the policy does not read it.
    pub name: Option<String>,
    /// The Google Workspace domain that manages the account (`hd`), if any.
    pub hosted_domain: Option<String>,
}

/// Why the policy refused someone. The messages name no address, so they
/// may be shown to the person and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denial {
    /// The identity has no e-mail address (the sign-in must ask for the
    /// `email` scope).
    #[error("the provider did not share an e-mail address")]
    NoEmail,
    /// The provider has not verified the address.
    #[error("the e-mail address is not verified")]
    EmailNotVerified,
    /// The address matches no listed address or domain, and the account's
    /// `hd` no listed hosted domain.
    #[error("the account is not on the allowlist")]
    NotAllowed,
}

/// Who may sign in, or call as a person: a verified e-mail address that is
/// listed, at a listed domain, or of an account in a listed Workspace
/// hosted domain; or any verified address, when so configured. The default
/// admits no one.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    emails: HashSet<String>,
    domains: HashSet<String>,
    hosted_domains: HashSet<String>,
    allow_any_verified: bool,
}

impl AccessPolicy {
    /// `emails`: addresses admitted; `domains`: e-mail domains whose every
    /// address is admitted, unless the account's `hd` names another domain;
    /// `hosted_domains`: Workspace domains (`hd`) whose accounts are
    /// admitted; `allow_any_verified`: every verified address is admitted,
    /// whatever the lists say. Everything is compared after ASCII
    /// lower-casing only, so give domains bare (`example.com`, without `@`
    /// or a leading dot).
    pub fn new(
        emails: impl IntoIterator<Item = String>,
        domains: impl IntoIterator<Item = String>,
        hosted_domains: impl IntoIterator<Item = String>,
        allow_any_verified: bool,
    ) -> Self {
        let lower = |v: String| v.to_ascii_lowercase();
        Self {
            emails: emails.into_iter().map(lower).collect(),
            domains: domains.into_iter().map(lower).collect(),
            hosted_domains: hosted_domains.into_iter().map(lower).collect(),
            allow_any_verified,
        }
    }

    /// Whether no one at all could sign in under this policy.
    pub fn admits_no_one(&self) -> bool {
        self.emails.is_empty()
            && self.domains.is_empty()
            && self.hosted_domains.is_empty()
            && !self.allow_any_verified
    }

    /// Whether an e-mail domain alone admits people. A consumer Google
    /// account can be made with any address the person can receive mail
    /// at; only `hd` says the organisation manages it
    /// (<https://developers.google.com/identity/openid-connect/openid-connect#an-id-tokens-payload>),
    /// so a host should warn about this.
    pub fn admits_by_address_domain(&self) -> bool {
        !self.domains.is_empty()
    }

    /// Whether the decision can rest on `hd` (Workspace hosted domains).
    pub fn uses_hosted_domains(&self) -> bool {
        !self.hosted_domains.is_empty()
    }

    /// `Ok` when `identity` is admitted, or why not. The address must be
    /// present and verified even with `allow_any_verified`.
    pub fn check(&self, identity: &Identity) -> Result<(), Denial> {
        let email = identity.email.as_deref().ok_or(Denial::NoEmail)?;
        if !identity.email_verified {
            return Err(Denial::EmailNotVerified);
        }
        if self.allow_any_verified {
            return Ok(());
        }
        let email = email.to_ascii_lowercase();
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        let hosted = identity
            .hosted_domain
            .as_deref()
            .map(str::to_ascii_lowercase);
        // An `hd` that names another domain means the address is not the
        // Workspace account's own domain: the e-mail domain alone does not
        // vouch for it then.
        let domain_vouched = hosted.as_deref().is_none_or(|hd| hd == domain);
        let allowed = self.emails.contains(&email)
            || (domain_vouched && self.domains.contains(domain))
            || hosted.is_some_and(|hd| self.hosted_domains.contains(&hd));
        if allowed {
            Ok(())
        } else {
            Err(Denial::NotAllowed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(email: &str) -> Identity {
        Identity {
            subject: "1".into(),
            email: Some(email.into()),
            email_verified: true,
            name: None,
            hosted_domain: None,
        }
    }

    fn policy() -> AccessPolicy {
        AccessPolicy::new(
            ["Alice@Example.com".to_owned()],
            ["corp.example".to_owned()],
            ["workspace.example".to_owned()],
            false,
        )
    }

    #[test]
    fn listed_addresses_and_domains_get_in_whatever_their_ascii_case() {
        assert_eq!(policy().check(&person("alice@example.com")), Ok(()));
        assert_eq!(policy().check(&person("ALICE@EXAMPLE.COM")), Ok(()));
        assert_eq!(policy().check(&person("bob@corp.example")), Ok(()));
    }

    #[test]
    fn near_misses_stay_out() {
        for email in [
            "alice+tag@example.com",
            "alice@example.com.",
            "alice@sub.example.com",
            "bob@corp.example.",
            "bob@evilcorp.example",
            "bob@corp.example.evil",
            "alice@exampl\u{0435}.com", // Cyrillic e
            "bob@corp.exampl\u{0435}",
            "bob@\u{0441}orp.example", // Cyrillic es
            "nobody",
        ] {
            assert_eq!(
                policy().check(&person(email)),
                Err(Denial::NotAllowed),
                "{email}"
            );
        }
    }

    #[test]
    fn only_address_domains_admit_by_address_domain() {
        let by_address = AccessPolicy::new([], ["corp.example".into()], [], false);
        assert!(by_address.admits_by_address_domain());
        let hosted = AccessPolicy::new([], [], ["corp.example".into()], false);
        assert!(!hosted.admits_by_address_domain());
    }

    #[test]
    fn an_unverified_or_missing_email_is_refused_even_when_listed() {
        let mut p = person("alice@example.com");
        p.email_verified = false;
        assert_eq!(policy().check(&p), Err(Denial::EmailNotVerified));
        p.email = None;
        assert_eq!(policy().check(&p), Err(Denial::NoEmail));
    }

    #[test]
    fn an_hd_naming_another_domain_does_not_let_the_address_domain_vouch() {
        let mut p = person("bob@corp.example");
        p.hosted_domain = Some("elsewhere.example".into());
        assert_eq!(policy().check(&p), Err(Denial::NotAllowed));
        p.hosted_domain = Some("CORP.example".into());
        assert_eq!(policy().check(&p), Ok(()));
    }

    #[test]
    fn a_hosted_domain_is_taken_from_hd_not_from_the_address() {
        let mut p = person("carol@workspace.example");
        assert_eq!(policy().check(&p), Err(Denial::NotAllowed));
        p.hosted_domain = Some("workspace.example".into());
        assert_eq!(policy().check(&p), Ok(()));
    }
}

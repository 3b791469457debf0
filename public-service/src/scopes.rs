//! Scope names that match however the provider spells them.
//!
//! Google documents `email` and `profile` as the same scopes as
//! `https://www.googleapis.com/auth/userinfo.email` and
//! `https://www.googleapis.com/auth/userinfo.profile`, and its token
//! endpoint reports them back in the long form whichever was asked for
//! (<https://developers.google.com/identity/protocols/oauth2/scopes#oauth2>,
//! "Google OAuth2 API, v2"; and the `scope` of the token response in
//! <https://developers.google.com/identity/protocols/oauth2/web-server#exchange-authorization-code>).
//! Grants therefore store scopes in one canonical (short) spelling, and
//! every comparison goes through [`canonical`]; what is shown to callers
//! and sent to `/login` stays in the names the operator wrote.

use std::collections::BTreeSet;

/// Google's long name of the `email` scope.
pub const GOOGLE_EMAIL: &str = "https://www.googleapis.com/auth/userinfo.email";
/// Google's long name of the `profile` scope.
pub const GOOGLE_PROFILE: &str = "https://www.googleapis.com/auth/userinfo.profile";

/// The one spelling a scope is stored and compared in.
pub fn canonical(scope: &str) -> &str {
    match scope {
        GOOGLE_EMAIL => "email",
        GOOGLE_PROFILE => "profile",
        other => other,
    }
}

/// Whether two names denote the same scope.
pub fn same(a: &str, b: &str) -> bool {
    canonical(a) == canonical(b)
}

/// A set of scopes in canonical spelling.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    /// Whether `scope`, in any spelling, is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(canonical(scope))
    }

    pub fn contains_all<S: AsRef<str>>(&self, wanted: &[S]) -> bool {
        wanted.iter().all(|s| self.contains(s.as_ref()))
    }

    /// The `wanted` scopes the set lacks, spelled as in `wanted`.
    pub fn missing<S: AsRef<str>>(&self, wanted: &[S]) -> Vec<String> {
        wanted
            .iter()
            .map(AsRef::as_ref)
            .filter(|s| !self.contains(s))
            .map(str::to_owned)
            .collect()
    }

    pub fn insert(&mut self, scope: &str) {
        self.0.insert(canonical(scope).to_owned());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The canonical names, in a stable order.
    pub fn to_vec(&self) -> Vec<String> {
        self.0.iter().cloned().collect()
    }

    /// Space-separated, as an OAuth `scope` value.
    pub fn to_scope_string(&self) -> String {
        self.to_vec().join(" ")
    }
}

impl<S: AsRef<str>> FromIterator<S> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut set = Self::default();
        for scope in iter {
            set.insert(scope.as_ref());
        }
        set
    }
}

/// `scopes` in canonical spelling, duplicates dropped, order kept.
pub fn canonicalised<S: AsRef<str>>(scopes: &[S]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for scope in scopes {
        let scope = canonical(scope.as_ref());
        if !out.iter().any(|s| s == scope) {
            out.push(scope.to_owned());
        }
    }
    out
}

/// The name `operator_names` uses for `scope`, if any (else `scope`).
pub fn as_written<'a>(scope: &'a str, operator_names: &'a [String]) -> &'a str {
    operator_names
        .iter()
        .find(|name| same(name, scope))
        .map(String::as_str)
        .unwrap_or(scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_google_grant_in_long_form_carries_the_short_names() {
        let grant: ScopeSet = ["openid", GOOGLE_EMAIL, GOOGLE_PROFILE]
            .into_iter()
            .collect();
        assert!(grant.contains_all(&["email"]));
        assert!(grant.contains_all(&["openid", "email", "profile"]));
        assert!(grant.contains(GOOGLE_EMAIL));
        assert_eq!(grant.to_scope_string(), "email openid profile");
        assert!(
            grant.missing(&["email", "https://www.googleapis.com/auth/drive.readonly"])
                == ["https://www.googleapis.com/auth/drive.readonly"]
        );
    }

    #[test]
    fn other_scopes_are_compared_exactly() {
        let grant: ScopeSet = ["openid", "email"].into_iter().collect();
        assert!(!grant.contains("Email"));
        assert!(!grant.contains("https://www.googleapis.com/auth/userinfo.email/"));
        assert!(!grant.contains("profile"));
        assert_eq!(grant.missing(&[GOOGLE_PROFILE]), [GOOGLE_PROFILE]);
    }

    #[test]
    fn canonicalised_keeps_order_and_drops_spelling_duplicates() {
        assert_eq!(
            canonicalised(&["openid", GOOGLE_EMAIL, "email", "x"]),
            ["openid", "email", "x"]
        );
    }

    #[test]
    fn the_operator_spelling_is_kept_for_links() {
        let written = vec![GOOGLE_EMAIL.to_owned(), "x".to_owned()];
        assert_eq!(as_written("email", &written), GOOGLE_EMAIL);
        assert_eq!(as_written("y", &written), "y");
    }
}

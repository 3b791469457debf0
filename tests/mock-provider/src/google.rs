//! Where Google differs from a plain OpenID provider, each behaviour with
//! the Google page that documents it. The routes ask these functions when
//! the provider runs in [`Dialect::Google`] (the default).
//!
//! Documented and imitated elsewhere in this crate, in both dialects:
//! - a refresh token only with `access_type=offline` and a consent screen,
//!   which Google shows on the first grant, for new scopes, or with
//!   `prompt=consent` (`routes::authorize::approve`):
//!   <https://developers.google.com/identity/protocols/oauth2/web-server#offline>
//!   and `prompt` in
//!   <https://developers.google.com/identity/protocols/oauth2/web-server#creatingclient>;
//! - `include_granted_scopes=true` merges every scope the user granted the
//!   client into the new grant (`routes::authorize::approve`):
//!   <https://developers.google.com/identity/protocols/oauth2/web-server#incrementalAuth>;
//! - `invalid_grant` for a refresh token that was revoked
//!   (`routes::token::refresh`):
//!   <https://developers.google.com/identity/protocols/oauth2#expiration>;
//! - ID token claims (`tokens::claims`): `email_verified` a boolean, `azp`
//!   the client id, `at_hash` whenever an access token comes with the ID
//!   token, `hd` only for Google Workspace accounts ([`MockUser::workspace`]):
//!   <https://developers.google.com/identity/openid-connect/openid-connect#an-id-tokens-payload>.
//!
//! - the implicit flow a Chrome extension signs in with
//!   ([`extension_redirect_uri`], [`ImplicitRefusal`],
//!   `routes::authorize`): `response_type=id_token` answers in the
//!   redirect URI's fragment, `nonce` is required, the redirect URI must
//!   match a registered one exactly; the "Authentication URI parameters" of
//!   <https://developers.google.com/identity/openid-connect/openid-connect#authenticationuriparameters>,
//!   after OpenID Connect Core 1.0, sections 3.2.2.1 (`nonce` REQUIRED),
//!   3.2.2.5 and 3.2.2.6 (success and errors in the fragment):
//!   <https://openid.net/specs/openid-connect-core-1_0.html#ImplicitAuthRequest>.
//!
//! [`MockUser::workspace`]: crate::state::MockUser::workspace

use std::time::Duration;

/// Which provider the mock imitates where providers differ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dialect {
    /// Google exactly as it documents itself (see this module).
    #[default]
    Google,
    /// A plain OpenID provider: short scope names, an end-session
    /// endpoint, RFC 7009 revocation of one token at a time.
    Generic,
}

/// Google's long names of `email` and `profile`.
pub const USERINFO_EMAIL: &str = "https://www.googleapis.com/auth/userinfo.email";
pub const USERINFO_PROFILE: &str = "https://www.googleapis.com/auth/userinfo.profile";

/// Whether two scope names are the same scope: `email` and `profile` are
/// their long names' aliases (same page as [`reported_scope`]).
pub fn same_scope(a: &str, b: &str) -> bool {
    let long = |s: &str| match s {
        "email" => USERINFO_EMAIL.to_owned(),
        "profile" => USERINFO_PROFILE.to_owned(),
        other => other.to_owned(),
    };
    long(a) == long(b)
}

/// "A Google Cloud Platform project with an OAuth consent screen configured
/// for an external user type and a publishing status of 'Testing' is issued
/// a refresh token expiring in 7 days":
/// <https://developers.google.com/identity/protocols/oauth2#expiration>.
pub const TESTING_APP_REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 86_400);

/// The `scope` of a token response. Google answers with the long names of
/// `email` and `profile` whichever was asked for: the two are the same
/// scopes (<https://developers.google.com/identity/protocols/oauth2/scopes#oauth2>,
/// "Google OAuth2 API, v2"), and the token response's `scope` lists "the
/// scopes of access granted by the access_token"
/// (<https://developers.google.com/identity/protocols/oauth2/web-server#exchange-authorization-code>).
pub fn reported_scope(dialect: Dialect, scopes: &[String]) -> String {
    let spelled = |scope: &str| -> String {
        match (dialect, scope) {
            (Dialect::Google, "email") => USERINFO_EMAIL.to_owned(),
            (Dialect::Google, "profile") => USERINFO_PROFILE.to_owned(),
            (_, other) => other.to_owned(),
        }
    };
    let mut reported: Vec<String> = Vec::new();
    for scope in scopes.iter().map(|s| spelled(s)) {
        if !reported.contains(&scope) {
            reported.push(scope);
        }
    }
    reported.join(" ")
}

/// Whether a refresh token consented at `issued_at` is dead at `now`.
pub fn refresh_token_expired(testing_app: bool, issued_at: u64, now: u64) -> bool {
    testing_app && now >= issued_at + TESTING_APP_REFRESH_TOKEN_LIFETIME.as_secs()
}

/// Google's discovery document has no `end_session_endpoint`: Google
/// offers no RP-initiated logout
/// (<https://developers.google.com/identity/openid-connect/openid-connect#discovery>,
/// the document itself at `https://accounts.google.com/.well-known/openid-configuration`).
pub fn has_end_session_endpoint(dialect: Dialect) -> bool {
    dialect != Dialect::Google
}

/// Google's discovery document does not advertise
/// `backchannel_logout_supported`, and its ID tokens carry no `sid`: Google
/// implements no OpenID Connect Back-Channel Logout
/// (<https://developers.google.com/identity/openid-connect/openid-connect#discovery>
/// lists the document's fields). A generic provider here does, as
/// <https://openid.net/specs/openid-connect-backchannel-1_0.html> section 2.1 has it.
pub fn has_backchannel_logout(dialect: Dialect) -> bool {
    dialect != Dialect::Google
}

/// Revoking at Google: `POST https://oauth2.googleapis.com/revoke` with the
/// form parameter `token` (an access or a refresh token); "if the token is an
/// access token and it has a corresponding refresh token, the refresh token
/// will also be revoked"; success is `200`, an error `400`
/// (<https://developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke>).
/// Removing access in the account revokes the whole grant, which is what
/// the mock does for either token in this dialect.
pub fn revocation_ends_the_grant(dialect: Dialect) -> bool {
    dialect == Dialect::Google
}

/// The redirect URI of the Chrome extension `extension_id`, as
/// `chrome.identity.getRedirectURL()` gives it: `https://<id>.chromiumapp.org/`.
/// `launchWebAuthFlow` ends when the flow is redirected to a URL of that
/// host and hands the URL, fragment and all, to the extension
/// (<https://developer.chrome.com/docs/extensions/reference/api/identity#method-getRedirectURL>,
/// <https://developer.chrome.com/docs/extensions/reference/api/identity#method-launchWebAuthFlow>).
pub fn extension_redirect_uri(extension_id: &str) -> String {
    format!("https://{extension_id}.chromiumapp.org/")
}

/// Why an implicit-flow request is refused, once its client and redirect
/// URI are known to match (before that, nothing is redirected to): the
/// `error` of the fragment (OpenID Connect Core 1.0, 3.2.2.6; RFC 6749,
/// 4.2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImplicitRefusal {
    /// No `nonce`: required in the implicit flow (OpenID Connect Core
    /// 1.0, 3.2.2.1; Google's `nonce` parameter).
    MissingNonce,
    /// `openid` not among the scopes.
    NoOpenIdScope,
    /// The client is not registered for the implicit flow (in the mock:
    /// not an extension's client).
    NotAnImplicitClient,
}

impl ImplicitRefusal {
    /// The `error` code sent back.
    pub fn error(self) -> &'static str {
        match self {
            Self::MissingNonce => "invalid_request",
            Self::NoOpenIdScope => "invalid_scope",
            Self::NotAnImplicitClient => "unauthorized_client",
        }
    }
}

/// Whether an authorization response for `response_type` goes in the
/// redirect URI's fragment: whenever a token is in it (OAuth 2.0 Multiple
/// Response Type Encoding Practices, 2.1: the default response mode of
/// `id_token` and `token` is `fragment`), errors included.
pub fn answers_in_fragment(response_type: &str) -> bool {
    response_type
        .split(' ')
        .any(|t| t == "id_token" || t == "token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_reports_long_names_and_a_generic_provider_the_asked_ones() {
        let asked = ["openid".to_owned(), "email".into(), "profile".into()];
        assert_eq!(
            reported_scope(Dialect::Google, &asked),
            format!("openid {USERINFO_EMAIL} {USERINFO_PROFILE}")
        );
        assert_eq!(
            reported_scope(Dialect::Generic, &asked),
            "openid email profile"
        );
    }

    #[test]
    fn a_testing_app_loses_its_refresh_tokens_after_seven_days() {
        let week = 7 * 86_400;
        assert!(!refresh_token_expired(true, 1000, 1000 + week - 1));
        assert!(refresh_token_expired(true, 1000, 1000 + week));
        assert!(!refresh_token_expired(false, 1000, 1000 + 10 * week));
    }
}

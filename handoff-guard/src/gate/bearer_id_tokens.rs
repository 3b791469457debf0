//! Which provider-signed ID tokens an app takes as Bearer tokens: people's
//! (a Chrome extension's) and listed service accounts'.

use url::Url;

use crate::id_token::IdTokenVerifier;
use crate::policy::AccessPolicy;

/// Which provider-signed ID tokens an app accepts as Bearer tokens.
pub struct BearerIdTokens {
    /// Verifies signature, issuer, expiry, and that the audience is one of
    /// `person_audiences` or `service_audience`.
    pub verifier: IdTokenVerifier,
    /// Audiences of people's tokens (a Chrome extension's OAuth client id).
    pub person_audiences: Vec<String>,
    /// Who may call as a person; `None`: no person ID tokens.
    pub people: Option<AccessPolicy>,
    /// The audience of service accounts' tokens: this app's URL.
    pub service_audience: String,
    /// Service-account e-mails allowed to call.
    pub service_accounts: Vec<String>,
}

impl BearerIdTokens {
    /// Google-signed ID tokens of `service_accounts` for `app_url` (what
    /// Cloud Tasks, Cloud Scheduler and other Cloud Run services send); no
    /// people's ID tokens.
    pub fn google_service_accounts(app_url: &Url, service_accounts: &[String]) -> Self {
        let (issuers, keys) = crate::id_token::google_issuer_and_keys();
        Self::of(&issuers, keys, app_url, service_accounts, None)
    }

    /// ID tokens of `issuers` (keys at `jwks_url`): of `service_accounts`
    /// for `app_url`, and with `people` of the people it admits for one of
    /// its audiences (a Chrome extension's OAuth client id).
    pub(crate) fn of(
        issuers: &[String],
        jwks_url: Url,
        app_url: &Url,
        service_accounts: &[String],
        people: Option<(Vec<String>, AccessPolicy)>,
    ) -> Self {
        let service_audience = app_url.as_str().trim_end_matches('/').to_owned();
        let (person_audiences, people) = match people {
            Some((audiences, policy)) => (audiences, Some(policy)),
            None => (Vec::new(), None),
        };
        let audiences: Vec<String> = person_audiences
            .iter()
            .cloned()
            .chain([service_audience.clone()])
            .collect();
        let verifier = IdTokenVerifier::remote(issuers, &audiences, jwks_url, Default::default());
        Self {
            verifier,
            person_audiences,
            people,
            service_audience,
            service_accounts: service_accounts
                .iter()
                .map(|e| e.to_ascii_lowercase())
                .collect(),
        }
    }
}

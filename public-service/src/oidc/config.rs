//! The relying party's configuration: the provider, the client and what
//! it asks for. `settings` fills it from the environment.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

pub struct ProviderSettings {
    pub issuer_url: Url,
    /// Shown on the start page's button ("Sign in with Google").
    pub display_name: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub auth_method: ClientAuthMethod,
    pub scopes: Vec<String>,
    /// Scopes a sign-in may add with `/login?scope=…` (incremental
    /// authorization); anything else is refused.
    pub optional_scopes: Vec<String>,
    pub offline: OfflineAccess,
    /// Extra authorization-request parameters for providers that need them.
    pub extra_auth_params: Vec<(String, String)>,
    /// Whole-request timeout of every back-channel call to the provider.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// The least time between two JWKS fetches caused by an unknown `kid`.
    pub jwks_refetch_interval: Duration,
    /// `OIDC_ID_TOKEN_ALGORITHMS`: the algorithms an ID token may be
    /// signed with (of those the provider advertises).
    pub id_token_algorithms: Vec<IdTokenAlgorithm>,
    /// The access policy decides on `hd`: fetch UserInfo when the ID token
    /// lacks it (set from the policy, not a variable of its own).
    pub hosted_domain_needed: bool,
    /// `BACKCHANNEL_LOGOUT` (`auto`, the default, or `off`): take logout
    /// tokens when the provider advertises back-channel logout.
    pub backchannel_logout: bool,
}

/// An asymmetric JWS algorithm an ID token may be signed with. Never
/// `none`, never an HMAC: anyone holding the client secret could mint one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokenAlgorithm {
    Rs256,
    Es256,
    Ps256,
    EdDsa,
}

impl IdTokenAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::Ps256 => "PS256",
            Self::EdDsa => "EdDSA",
        }
    }

    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "RS256" => Ok(Self::Rs256),
            "ES256" => Ok(Self::Es256),
            "PS256" => Ok(Self::Ps256),
            "EdDSA" => Ok(Self::EdDsa),
            "none" | "HS256" | "HS384" | "HS512" => Err(format!(
                "{raw} is never accepted for ID tokens; use asymmetric ones, e.g. RS256,ES256"
            )),
            other => Err(format!(
                "{other:?} is not one of RS256, ES256, PS256, EdDSA (e.g. RS256,ES256)"
            )),
        }
    }
}

/// How offline access (a refresh token) is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfflineAccess {
    /// `access_type=offline` and `include_granted_scopes=true`; Google
    /// sends a refresh token only with a consent screen.
    Google,
    /// The standard `offline_access` scope.
    OfflineAccessScope,
    /// Sign-in only.
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
}

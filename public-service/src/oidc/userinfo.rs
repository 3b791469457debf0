//! UserInfo, asked only when the ID token lacks what the access policy
//! needs. OpenID Connect Core 5.4: "The Claims requested by the profile,
//! email, address, and phone scope values are returned from the UserInfo
//! Endpoint [...] when a response_type value is used that results in an
//! Access Token being issued"; certified providers do exactly that.
//!
//! The answer must be about the ID token's subject (Core 5.3.2: "the sub
//! Claim in the UserInfo Response MUST be verified to exactly match the sub
//! Claim in the ID Token"), or the sign-in is refused. It only fills gaps:
//! an answer that contradicts a claim the ID token has is not used at all.
//! The call goes through the same HTTP client as the other provider calls
//! (no redirects, `PROVIDER_TIMEOUT`), and any unexpected answer is a
//! [`ProviderError::BadResponse`], shown as the same page as a bad token
//! response.

use openidconnect::core::CoreGenderClaim;
use openidconnect::{
    AccessToken, AdditionalClaims, AsyncHttpClient, SubjectIdentifier, UserInfoClaims,
};
use serde::{Deserialize, Serialize};

use super::errors::describe_http_error;
use super::{DiscoveredClient, Present, ProviderError};
use crate::policy::Identity;

/// Google's `hd`, the one non-standard claim the policy reads.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct HostedDomain {
    #[serde(default)]
    hd: Option<String>,
}
impl AdditionalClaims for HostedDomain {}

/// What UserInfo said, of what the policy reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub hosted_domain: Option<String>,
}

/// How a call to UserInfo can fail on the way (reqwest's, as for every
/// other provider call).
pub type TransportError = openidconnect::HttpClientError<reqwest::Error>;

/// Asks UserInfo about `identity`'s subject and reads the answer: JSON, or
/// a JWT signed with the provider's keys (`application/jwt`), as
/// `openidconnect` reads either. `http` is the service's client; public
/// (and generic) so the fuzz targets hand it any answer.
pub async fn fetch<'c, C>(
    client: &'c DiscoveredClient,
    http: &'c C,
    access_token: &AccessToken,
    identity: &Identity,
) -> Result<UserInfo, ProviderError>
where
    C: AsyncHttpClient<'c, Error = TransportError>,
{
    let expected = SubjectIdentifier::new(identity.subject.clone());
    let request = client
        .user_info(access_token.clone(), Some(expected))
        .map_err(|_| ProviderError::BadResponse("no UserInfo endpoint".into()))?;
    let claims: UserInfoClaims<HostedDomain, CoreGenderClaim> =
        request.request_async(http).await.map_err(classify)?;
    Ok(UserInfo {
        email: claims.email().map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified(),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned()),
        hosted_domain: claims.additional_claims().hd.clone(),
    })
}

/// The ID token's identity with the gaps UserInfo fills; nothing from an
/// answer that contradicts the ID token.
pub fn merge(mut identity: Identity, present: Present, info: UserInfo) -> Identity {
    let differs = |ours: &Option<String>, theirs: &Option<String>| match (ours, theirs) {
        (Some(a), Some(b)) => !a.eq_ignore_ascii_case(b),
        _ => false,
    };
    let contradicts = (present.email && differs(&identity.email, &info.email))
        || (present.email_verified
            && info
                .email_verified
                .is_some_and(|v| v != identity.email_verified))
        || (present.hosted_domain && differs(&identity.hosted_domain, &info.hosted_domain));
    if contradicts {
        tracing::warn!("UserInfo contradicts the ID token; its claims are not used");
        return identity;
    }
    if !present.email {
        identity.email = info.email;
    }
    if !present.email_verified {
        identity.email_verified = info.email_verified.unwrap_or(false);
    }
    if !present.name {
        identity.name = info.name;
    }
    if !present.hosted_domain {
        identity.hosted_domain = info.hosted_domain;
    }
    identity
}

type UserInfoError = openidconnect::UserInfoError<TransportError>;

/// The body of an answer is never quoted: it may hold personal data.
fn classify(e: UserInfoError) -> ProviderError {
    match e {
        UserInfoError::ClaimsVerification(
            openidconnect::ClaimsVerificationError::InvalidSubject(_),
        ) => ProviderError::BadResponse("UserInfo is about another subject".into()),
        UserInfoError::Request(inner) => {
            ProviderError::Unreachable(format!("UserInfo: {}", describe_http_error(&inner)))
        }
        UserInfoError::Response(status, _, _) if status.is_server_error() => {
            ProviderError::Unreachable(format!("UserInfo answered {}", status.as_u16()))
        }
        UserInfoError::Response(status, _, _) => {
            ProviderError::BadResponse(format!("UserInfo answered {}", status.as_u16()))
        }
        UserInfoError::Parse(_) => ProviderError::BadResponse("unparsable UserInfo".into()),
        _ => ProviderError::BadResponse("unexpected UserInfo answer".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bare() -> Identity {
        Identity {
            subject: "1".into(),
            email: None,
            email_verified: false,
            name: None,
            hosted_domain: None,
        }
    }

    fn info() -> UserInfo {
        UserInfo {
            email: Some("alice@example.com".into()),
            email_verified: Some(true),
            name: Some("Alice".into()),
            hosted_domain: Some("example.com".into()),
        }
    }

    #[test]
    fn userinfo_fills_what_the_id_token_lacks() {
        let merged = merge(bare(), Present::default(), info());
        assert_eq!(merged.email.as_deref(), Some("alice@example.com"));
        assert!(merged.email_verified);
        assert_eq!(merged.name.as_deref(), Some("Alice"));
        assert_eq!(merged.hosted_domain.as_deref(), Some("example.com"));
    }

    #[test]
    fn an_answer_contradicting_the_id_token_is_not_used() {
        let id_token = Identity {
            email: Some("bob@example.com".into()),
            ..bare()
        };
        let present = Present {
            email: true,
            ..Present::default()
        };
        let merged = merge(id_token.clone(), present, info());
        assert_eq!(
            merged, id_token,
            "the other address's verification is not taken"
        );

        let unverified = Identity {
            email: Some("alice@example.com".into()),
            email_verified: false,
            ..bare()
        };
        let present = Present {
            email: true,
            email_verified: true,
            ..Present::default()
        };
        assert_eq!(merge(unverified.clone(), present, info()), unverified);
    }

    #[test]
    fn the_id_tokens_own_claims_win_when_both_agree() {
        let id_token = Identity {
            email: Some("Alice@Example.com".into()),
            name: Some("Alice A.".into()),
            ..bare()
        };
        let present = Present {
            email: true,
            name: true,
            ..Present::default()
        };
        let merged = merge(id_token, present, info());
        assert_eq!(merged.email.as_deref(), Some("Alice@Example.com"));
        assert_eq!(merged.name.as_deref(), Some("Alice A."));
        assert!(merged.email_verified);
    }
}

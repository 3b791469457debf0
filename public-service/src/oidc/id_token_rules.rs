//! The ID token rules, without I/O: given the token response, the
//! provider's keys and what we expect, is the ID token ours, and what does
//! it say?
//!
//! `openidconnect` checks the signature, `iss`, `aud`, `exp` and the
//! nonce. What its 4.0 leaves to the caller is done here:
//!
//! - The algorithm is one both on `OIDC_ID_TOKEN_ALGORITHMS` (RS256 by
//!   default; never `none` or an HMAC, which anyone holding the client
//!   secret could mint) and advertised by the provider
//!   ([`allowed_algorithms`]); never the one the token names alone.
//! - `iat` is not further in the future than [`IAT_FUTURE_LEEWAY`].
//! - `azp` is our client id when present, and present when there are
//!   several audiences (OpenID Connect Core 3.1.3.7,
//!   [`check_authorized_party`]; logout tokens share the rule).
//! - `at_hash` matches the access token when present (Core 3.2.2.9).
//!
//! Google's `hd` and the provider's session id `sid` are read from the
//! verified payload, as `openidconnect`'s core claims do not carry them.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreTokenResponse,
};
use openidconnect::{
    AccessToken, AccessTokenHash, ClientId, ClientSecret, IssuerUrl, Nonce, OAuth2TokenResponse,
    TokenResponse,
};
use serde::Deserialize;

use super::errors::describe_claims_error;
use super::{IdTokenAlgorithm, Present};
use crate::policy::Identity;

/// Tolerated clock skew for `iat` in the future (ID and logout tokens).
pub(super) const IAT_FUTURE_LEEWAY: Duration = Duration::from_secs(60);

/// The longest `sid` kept: the column holds what a logout token may name.
const MAX_SID_LEN: usize = 255;

/// What an ID token must be checked against.
pub(super) struct Expected<'a> {
    pub client_id: &'a ClientId,
    pub client_secret: &'a ClientSecret,
    pub issuer: &'a IssuerUrl,
    /// [`allowed_algorithms`]: configured and advertised.
    pub algorithms: Vec<CoreJwsSigningAlgorithm>,
    pub nonce: &'a Nonce,
    pub now: DateTime<Utc>,
    /// The access policy decides on `hd`: without it the claims are not
    /// enough.
    pub hosted_domain_needed: bool,
}

/// What a valid ID token says.
#[derive(Debug)]
pub(super) struct Verified {
    pub identity: Identity,
    /// The provider's session id, which its back-channel logout tokens name.
    pub provider_sid: Option<String>,
    /// Whether the token carries all the access policy reads.
    pub for_policy: ForPolicy,
}

/// Whether the ID token is enough for the access policy.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ForPolicy {
    Complete,
    /// UserInfo may fill in what is not present.
    Lacking(Present),
}

/// Checks the ID token of `response` against `keys` and `expected`; the
/// error is the reason, for the log ([`super::errors::NO_MATCHING_KEY`]
/// when no key of `keys` matches).
pub(super) fn verify(
    response: &CoreTokenResponse,
    keys: &CoreJsonWebKeySet,
    expected: &Expected<'_>,
) -> Result<Verified, String> {
    let id_token = response
        .id_token()
        .ok_or_else(|| "the token response has no id_token".to_owned())?;
    let now = expected.now;
    let verifier = CoreIdTokenVerifier::new_confidential_client(
        expected.client_id.clone(),
        expected.client_secret.clone(),
        expected.issuer.clone(),
        keys.clone(),
    )
    .set_allowed_algs(expected.algorithms.clone())
    .set_time_fn(move || now)
    .set_issue_time_verifier_fn(move |iat| check_issued_at(iat, now));
    let claims = id_token
        .claims(&verifier, expected.nonce)
        .map_err(|e| describe_claims_error(&e))?;
    let azp = claims.authorized_party().map(|azp| azp.as_str());
    check_authorized_party(expected.client_id.as_str(), azp, claims.audiences().len())?;
    let alg = id_token
        .signing_alg()
        .map_err(|_| "no signing algorithm".to_owned())?;
    let key = id_token
        .signing_key(&verifier)
        .map_err(|_| "no signing key".to_owned())?;
    check_access_token_hash(
        claims.access_token_hash(),
        response.access_token(),
        alg,
        key,
    )?;
    let identity = Identity {
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified().unwrap_or(false),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned()),
        hosted_domain: hosted_domain(id_token),
    };
    let present = Present {
        email: identity.email.is_some(),
        email_verified: claims.email_verified().is_some(),
        name: identity.name.is_some(),
        hosted_domain: identity.hosted_domain.is_some(),
    };
    Ok(Verified {
        provider_sid: provider_session_id(id_token),
        for_policy: for_policy(present, expected.hosted_domain_needed),
        identity,
    })
}

/// The configured algorithms the provider advertises
/// (`id_token_signing_alg_values_supported`), in the configured order.
/// Empty when they share none: then no ID token verifies.
pub(super) fn allowed_algorithms(
    configured: &[IdTokenAlgorithm],
    advertised: &[CoreJwsSigningAlgorithm],
) -> Vec<CoreJwsSigningAlgorithm> {
    configured
        .iter()
        .map(|alg| core_algorithm(*alg))
        .filter(|alg| advertised.contains(alg))
        .collect()
}

fn core_algorithm(alg: IdTokenAlgorithm) -> CoreJwsSigningAlgorithm {
    match alg {
        IdTokenAlgorithm::Rs256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        IdTokenAlgorithm::Es256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        IdTokenAlgorithm::Ps256 => CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        IdTokenAlgorithm::EdDsa => CoreJwsSigningAlgorithm::EdDsa,
    }
}

/// The `azp` rule (OpenID Connect Core 3.1.3.7): when present it must be
/// our client id, and with several audiences it must be present. Logout
/// tokens share it: Back-Channel Logout 1.0 section 2.6 validates their
/// `aud` as an ID token's.
pub(super) fn check_authorized_party(
    client_id: &str,
    azp: Option<&str>,
    audiences: usize,
) -> Result<(), &'static str> {
    match azp {
        Some(azp) if azp != client_id => Err("azp is another client"),
        None if audiences > 1 => Err("several audiences and no azp"),
        _ => Ok(()),
    }
}

/// `iat` no further ahead of `now` than [`IAT_FUTURE_LEEWAY`].
pub(super) fn check_issued_at(iat: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), String> {
    let leeway = chrono::Duration::seconds(IAT_FUTURE_LEEWAY.as_secs() as i64);
    if iat > now + leeway {
        Err(format!("issued in the future ({iat})"))
    } else {
        Ok(())
    }
}

/// `at_hash`, when the token has one, must be the hash of the access token
/// that came with it: otherwise the access token was swapped.
fn check_access_token_hash(
    claimed: Option<&AccessTokenHash>,
    access_token: &AccessToken,
    alg: &CoreJwsSigningAlgorithm,
    key: &CoreJsonWebKey,
) -> Result<(), &'static str> {
    let Some(claimed) = claimed else {
        return Ok(());
    };
    let actual = AccessTokenHash::from_token(access_token, alg, key)
        .map_err(|_| "at_hash cannot be computed")?;
    if actual != *claimed {
        return Err("at_hash does not match the access token");
    }
    Ok(())
}

fn for_policy(present: Present, hosted_domain_needed: bool) -> ForPolicy {
    let complete =
        present.email && present.email_verified && (present.hosted_domain || !hosted_domain_needed);
    match complete {
        true => ForPolicy::Complete,
        false => ForPolicy::Lacking(present),
    }
}

/// Google's `hd`, from the payload of an ID token already verified.
fn hosted_domain(id_token: &CoreIdToken) -> Option<String> {
    payload_claims::<HostedDomainClaim>(id_token)?.hd
}

/// The `sid` (Back-Channel Logout 1.0 section 2.1) of an ID token already
/// verified; one that could not be stored is left out.
fn provider_session_id(id_token: &CoreIdToken) -> Option<String> {
    let sid = payload_claims::<SessionIdClaim>(id_token)?.sid?;
    (!sid.is_empty() && sid.len() <= MAX_SID_LEN).then_some(sid)
}

#[derive(Deserialize)]
struct HostedDomainClaim {
    hd: Option<String>,
}

#[derive(Deserialize)]
struct SessionIdClaim {
    sid: Option<String>,
}

fn payload_claims<T: for<'de> Deserialize<'de>>(id_token: &CoreIdToken) -> Option<T> {
    let jwt = id_token.to_string();
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests;

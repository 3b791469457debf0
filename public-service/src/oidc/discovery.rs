//! Discovery and the provider's keys.
//!
//! Discovery happens at start when the provider answers, otherwise on first
//! use (a provider outage at boot must not crash-loop the service); one
//! caller discovers while the others wait for it, and a failure leaves the
//! next caller to try again. The metadata is kept for the life of the
//! process. Discovery is `openidconnect`'s: it checks the document's
//! `issuer` against ours and fetches the JWKS it names, so a provider
//! whose keys cannot be had is not discovered either.
//!
//! The keys are then kept by the library's JWKS cache
//! ([`handoff_guard::login_service::JwksCache`], the one the apps' verifiers
//! use), read into `openidconnect`'s key set: fresh for the JWKS answer's
//! `Cache-Control: max-age` held within [`JWKS_MIN_FRESH`]..[`JWKS_MAX_FRESH`]
//! ([`JWKS_DEFAULT_FRESH`] without one), counted on the service's clock;
//! fetched again before use once stale (a failed fetch leaves the stale copy
//! in use), and on a `kid` the copy lacks; one fetch at a time, and at most
//! one per `PROVIDER_JWKS_REFETCH_INTERVAL`. Discovery's copy came without
//! its headers: it counts as fresh for [`JWKS_MIN_FRESH`].

use std::sync::{Arc, RwLock};
use std::time::Duration;

use handoff_guard::login_service::{JwksCache, JwksFreshness};
use handoff_guard::{JwksError, SharedClock};
use openidconnect::core::{CoreClient, CoreJsonWebKeySet};
use openidconnect::{AuthType, ClientId, ClientSecret, IssuerUrl, RedirectUrl};

use super::errors::{describe_discovery_error, ProviderError};
use super::{ClientAuthMethod, DiscoveredClient, Metadata};

/// The least time a fetched JWKS counts as fresh, whatever its headers
/// say (`no-store` included): the provider's keys are not fetched for
/// every sign-in.
pub const JWKS_MIN_FRESH: Duration = Duration::from_secs(60);
/// How long a JWKS answer without `max-age` counts as fresh.
pub const JWKS_DEFAULT_FRESH: Duration = Duration::from_secs(3600);
/// The longest, whatever its headers say (Google sends a few hours; its
/// <https://developers.google.com/identity/openid-connect/openid-connect#validatinganidtoken>
/// guide says the keys may be cached per the cache directives of the
/// response).
pub const JWKS_MAX_FRESH: Duration = Duration::from_secs(86_400);

const FRESHNESS: JwksFreshness = JwksFreshness {
    without_max_age: JWKS_DEFAULT_FRESH,
    at_least: JWKS_MIN_FRESH,
    at_most: JWKS_MAX_FRESH,
};

/// Who we are at the provider: what the client is built with.
pub(super) struct Registration {
    pub client_id: ClientId,
    pub client_secret: ClientSecret,
    pub redirect_url: RedirectUrl,
    pub auth_method: ClientAuthMethod,
}

/// A discovered provider: its metadata and its keys.
pub(super) struct Discovered {
    /// The discovery document; its `jwks` is empty: the keys are in `keys`.
    pub metadata: Arc<Metadata>,
    pub keys: JwksCache<CoreJsonWebKeySet>,
    /// The client built for a copy of the keys (it checks UserInfo JWTs
    /// with them), with that copy.
    client: RwLock<Option<(Arc<CoreJsonWebKeySet>, Arc<DiscoveredClient>)>>,
}

/// Fetches the provider's discovery document and its JWKS.
pub(super) async fn discover(
    issuer: &IssuerUrl,
    http: &reqwest::Client,
    refetch_interval: Duration,
    clock: SharedClock,
) -> Result<Discovered, ProviderError> {
    let metadata = Metadata::discover_async(issuer.clone(), http)
        .await
        .map_err(|e| ProviderError::Discovery(describe_discovery_error(&e)))?;
    let keys = JwksCache::new(
        metadata.jwks_uri().url().clone(),
        http.clone(),
        refetch_interval,
        FRESHNESS,
        clock,
        read_keys,
    );
    let discovered_keys = without_short_rsa_keys(metadata.jwks());
    tracing::info!(issuer = %issuer.as_str(), keys = discovered_keys.keys().len(), "provider discovered");
    keys.prime(discovered_keys, JWKS_MIN_FRESH);
    Ok(Discovered {
        metadata: Arc::new(metadata.set_jwks(CoreJsonWebKeySet::new(Vec::new()))),
        keys,
        client: RwLock::new(None),
    })
}

impl Discovered {
    /// The client for `keys`, built once per copy of the keys: building it
    /// clones the whole document, which is too much work for every sign-in.
    pub fn client(
        &self,
        keys: &Arc<CoreJsonWebKeySet>,
        registration: &Registration,
    ) -> Arc<DiscoveredClient> {
        if let Some((built_for, client)) = self
            .client
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
        {
            if Arc::ptr_eq(built_for, keys) {
                return client.clone();
            }
        }
        let metadata = Metadata::clone(&self.metadata).set_jwks(CoreJsonWebKeySet::clone(keys));
        let client = CoreClient::from_provider_metadata(
            metadata,
            registration.client_id.clone(),
            Some(registration.client_secret.clone()),
        )
        .set_redirect_uri(registration.redirect_url.clone());
        let client = Arc::new(match registration.auth_method {
            ClientAuthMethod::ClientSecretBasic => client.set_auth_type(AuthType::BasicAuth),
            ClientAuthMethod::ClientSecretPost => client.set_auth_type(AuthType::RequestBody),
        });
        *self
            .client
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Some((keys.clone(), client.clone()));
        client
    }

    /// The client for the keys held now (for calls that check no token).
    pub fn any_client(&self, registration: &Registration) -> Arc<DiscoveredClient> {
        let keys = self
            .keys
            .held()
            .unwrap_or_else(|| Arc::new(CoreJsonWebKeySet::new(Vec::new())));
        self.client(&keys, registration)
    }
}

/// A fetched JWKS document, as the provider's keys.
fn read_keys(
    json: &str,
    _previous: Option<&CoreJsonWebKeySet>,
) -> Result<CoreJsonWebKeySet, JwksError> {
    let keys: CoreJsonWebKeySet = serde_json::from_str(json).map_err(|_| JwksError::Malformed)?;
    let keys = without_short_rsa_keys(&keys);
    tracing::info!(keys = keys.keys().len(), "provider JWKS fetched");
    Ok(keys)
}

/// The provider's keys less every RSA key whose modulus is under 2048 bits
/// or cannot be read, each named in a warning. `openidconnect` checks RSA
/// signatures with RustCrypto, which takes any length, and the same key set
/// checks logout tokens: dropped here, a 1024-bit key the provider
/// publishes verifies no token (docs/security.md, "RSA keys under 2048
/// bits"), as in `handoff_guard::KeySet`.
pub(super) fn without_short_rsa_keys(jwks: &CoreJsonWebKeySet) -> CoreJsonWebKeySet {
    let keys = jwks
        .keys()
        .iter()
        .filter(|key| {
            let Ok(serde_json::Value::Object(jwk)) = serde_json::to_value(key) else {
                return true;
            };
            if jwk.get("kty").and_then(serde_json::Value::as_str) != Some("RSA") {
                return true;
            }
            let bits = jwk
                .get("n")
                .and_then(serde_json::Value::as_str)
                .and_then(handoff_guard::login_service::rsa_modulus_bits_of_jwk);
            if bits.is_some_and(|bits| bits >= handoff_guard::login_service::MIN_RSA_MODULUS_BITS) {
                return true;
            }
            tracing::warn!(
                kid = jwk
                    .get("kid")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("(none)"),
                bits = bits.unwrap_or(0),
                "a provider key was left out: RSA keys under 2048 bits verify nothing"
            );
            false
        })
        .cloned()
        .collect();
    CoreJsonWebKeySet::new(keys)
}

#[cfg(test)]
mod tests;

//! ID tokens of this service's own service account, for back-channel calls
//! to the public service, from the metadata server (on Cloud Run:
//! `http://metadata.google.internal`; in tests and the local stack, the
//! mock provider serves the same path).
//!
//! A token is reused until five minutes before it expires; one fetch at a
//! time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// Google Cloud's metadata server (Cloud Run's too), reachable only from
/// inside an instance: the usual `base` of [`IdTokenSource::new`].
pub const GOOGLE_METADATA_URL: &str = "http://metadata.google.internal";

/// Tokens are renewed this long before they expire.
const RENEW_BEFORE: Duration = Duration::from_secs(300);
const MAX_TOKEN_LEN: usize = 8192;

/// Why no ID token could be had. The next call tries again; nothing is
/// cached from a failure.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The request failed or timed out (5 s); the text says which kind and
    /// quotes no URL. Outside Google Cloud there is no metadata server to
    /// reach unless one is configured.
    #[error("the metadata server could not be reached: {0}")]
    Unreachable(String),
    /// The server answered this HTTP status instead of a token (a redirect
    /// included: none is followed).
    #[error("the metadata server answered status {0}")]
    Status(u16),
    /// The body could not be read, is longer than 8192 bytes, or is not a
    /// JWT with a numeric `exp`.
    #[error("the metadata server answered something that is not an ID token")]
    Malformed,
}

struct Cached {
    token: SecretString,
    expires_at: u64,
}

/// This instance's service-account ID tokens for one audience, fetched
/// from the metadata server and reused until five minutes before they
/// expire. Share one per audience: the cached token is in it.
pub struct IdTokenSource {
    identity_url: Url,
    http: reqwest::Client,
    cached: tokio::sync::Mutex<Option<Cached>>,
}

impl IdTokenSource {
    /// Tokens with audience `audience` from the metadata server at `base`.
    pub fn new(base: &Url, audience: &str) -> Self {
        let mut identity_url = base.clone();
        let base_path = base.path().trim_end_matches('/').to_owned();
        identity_url.set_path(&format!(
            "{base_path}/computeMetadata/v1/instance/service-accounts/default/identity"
        ));
        identity_url.set_query(None);
        identity_url
            .query_pairs_mut()
            .append_pair("audience", audience)
            .append_pair("format", "full");
        let http = crate::back_channel::client(Duration::from_secs(5));
        Self {
            identity_url,
            http,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// A token for the audience, fetched only when none is cached or the
    /// cached one expires within five minutes. Concurrent callers wait for
    /// one fetch. The token is not verified here (the receiver does that),
    /// and it is a credential: keep it out of logs.
    pub async fn token(&self) -> Result<SecretString, MetadataError> {
        let mut cached = self.cached.lock().await;
        let now = unix_now();
        if let Some(c) = cached.as_ref() {
            if c.expires_at > now + RENEW_BEFORE.as_secs() {
                return Ok(c.token.clone());
            }
        }
        let response = self
            .http
            .get(self.identity_url.clone())
            .header("Metadata-Flavor", "Google")
            .send()
            .await
            .map_err(|e| MetadataError::Unreachable(crate::back_channel::describe(&e)))?;
        if !response.status().is_success() {
            return Err(MetadataError::Status(response.status().as_u16()));
        }
        let body = response
            .text()
            .await
            .map_err(|_| MetadataError::Malformed)?;
        let token = body.trim();
        if token.len() > MAX_TOKEN_LEN {
            return Err(MetadataError::Malformed);
        }
        let expires_at = expiry(token).ok_or(MetadataError::Malformed)?;
        let token = SecretString::from(token.to_owned());
        *cached = Some(Cached {
            token: token.clone(),
            expires_at,
        });
        Ok(token)
    }

    /// The token's value, for an `Authorization: Bearer` header.
    pub async fn bearer(&self) -> Result<String, MetadataError> {
        Ok(format!("Bearer {}", self.token().await?.expose_secret()))
    }
}

/// `exp` of a JWT from a trusted source (the metadata server); the receiver
/// verifies the signature, this only decides when to fetch a new one.
fn expiry(jwt: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Exp {
        exp: u64,
    }
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Exp>(&bytes).ok().map(|e| e.exp)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

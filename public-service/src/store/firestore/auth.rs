//! The `Authorization` header of each Firestore call.
//!
//! On Cloud Run: an OAuth access token of the service's account, from the
//! metadata server
//! (<https://cloud.google.com/run/docs/container-contract#metadata-server>),
//! reused until shortly before the `expires_in` it came with. Against the
//! emulator: `Bearer owner`, which it accepts as an administrator
//! (<https://firebase.google.com/docs/emulator-suite/connect_firestore>).
//! A token is a credential: it is never logged or put in an error.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use handoff_guard::login_service::describe_http_error as describe;

use crate::store::StoreError;

/// Tokens are renewed this long before they expire (or at half their
/// life, when that is shorter).
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// The longest token answer read.
const MAX_BODY: usize = 16 * 1024;

pub(super) enum Auth {
    Emulator,
    Metadata(MetadataTokens),
}

impl Auth {
    pub(super) async fn header(&self) -> Result<SecretString, StoreError> {
        match self {
            Auth::Emulator => Ok(SecretString::from("Bearer owner")),
            Auth::Metadata(tokens) => {
                let token = tokens.token().await?;
                Ok(SecretString::from(format!(
                    "Bearer {}",
                    token.expose_secret()
                )))
            }
        }
    }
}

struct Cached {
    token: SecretString,
    renew_at: Instant,
}

/// Access tokens from the metadata server at a base URL (Google's on
/// Cloud Run; a local one in tests).
pub(super) struct MetadataTokens {
    url: Url,
    http: reqwest::Client,
    cached: tokio::sync::Mutex<Option<Cached>>,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

impl MetadataTokens {
    pub(super) fn new(base: &Url, http: reqwest::Client) -> Self {
        let mut url = base.clone();
        let base_path = base.path().trim_end_matches('/').to_owned();
        url.set_path(&format!(
            "{base_path}/computeMetadata/v1/instance/service-accounts/default/token"
        ));
        url.set_query(None);
        Self {
            url,
            http,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// The cached token, or a new one; concurrent callers wait for one fetch.
    async fn token(&self) -> Result<SecretString, StoreError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok(c.token.clone());
        }
        let answer = self.fetch().await?;
        let life = Duration::from_secs(answer.expires_in);
        let renew_at = Instant::now() + life.saturating_sub(RENEW_BEFORE.min(life / 2));
        let token = SecretString::from(answer.access_token);
        *cached = Some(Cached {
            token: token.clone(),
            renew_at,
        });
        Ok(token)
    }

    async fn fetch(&self) -> Result<TokenAnswer, StoreError> {
        let unavailable = |what: &str| {
            StoreError::Unavailable(format!("no access token from the metadata server ({what})"))
        };
        let response = self
            .http
            .get(self.url.clone())
            .header("Metadata-Flavor", "Google")
            .send()
            .await
            .map_err(|e| unavailable(&describe(&e)))?;
        if !response.status().is_success() {
            return Err(unavailable(&format!(
                "status {}",
                response.status().as_u16()
            )));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable(&describe(&e)))?;
        if body.len() > MAX_BODY {
            return Err(unavailable("answer too long"));
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|_| unavailable("not a token answer"))?;
        if answer.access_token.is_empty() {
            return Err(unavailable("empty token"));
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A metadata server on loopback that answers every token request
    /// with `body`, counting the requests that carried `Metadata-Flavor`.
    async fn metadata_server(body: &'static str) -> (Url, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = vec![0u8; 4096];
                let n = socket.read(&mut request).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&request[..n]).to_lowercase();
                let proper = head.starts_with(
                    "get /computemetadata/v1/instance/service-accounts/default/token ",
                ) && head.contains("metadata-flavor: google");
                if proper {
                    count.fetch_add(1, Ordering::SeqCst);
                }
                let (status, body) = if proper {
                    ("200 OK", body)
                } else {
                    ("403 Forbidden", "")
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        (url, served)
    }

    #[tokio::test]
    async fn a_token_is_fetched_once_and_reused_until_near_its_expiry() {
        let (url, served) = metadata_server(
            r#"{"access_token":"ya29.test","expires_in":3599,"token_type":"Bearer"}"#,
        )
        .await;
        let auth = Auth::Metadata(MetadataTokens::new(&url, reqwest::Client::new()));
        for _ in 0..3 {
            let header = auth.header().await.unwrap();
            assert_eq!(header.expose_secret(), "Bearer ya29.test");
        }
        assert_eq!(
            served.load(Ordering::SeqCst),
            1,
            "one fetch, then the cache"
        );
    }

    #[tokio::test]
    async fn a_short_lived_token_is_fetched_again() {
        let (url, served) = metadata_server(r#"{"access_token":"short","expires_in":0}"#).await;
        let auth = Auth::Metadata(MetadataTokens::new(&url, reqwest::Client::new()));
        auth.header().await.unwrap();
        auth.header().await.unwrap();
        assert_eq!(served.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refusal_or_a_malformed_answer_is_an_error_without_the_body() {
        let (url, _) = metadata_server(r#"{"secret-looking":"x"}"#).await;
        let auth = Auth::Metadata(MetadataTokens::new(&url, reqwest::Client::new()));
        let e = auth.header().await.unwrap_err().to_string();
        assert!(
            e.contains("not a token answer") && !e.contains("secret-looking"),
            "{e}"
        );
        assert_eq!(
            Auth::Emulator.header().await.unwrap().expose_secret(),
            "Bearer owner"
        );
    }
}

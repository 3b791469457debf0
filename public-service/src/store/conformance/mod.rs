//! The storage contracts' test suite: every backend runs it.
//!
//! Each function checks one trait of [`super::contracts`] against a store
//! of its own, empty at the start, and panics naming the broken promise.
//! The races are run for real: concurrent calls through one store, which a
//! backend must serve on several connections (a single connection would
//! serialise them and prove little). [`run_all`] runs every function, each
//! on a fresh store; a backend's tests call it, or the functions one by one.

mod codes;
mod feed;
mod grants;
mod leases;
#[cfg(test)]
mod runs;
mod sessions;
mod users;

use std::future::Future;
use std::sync::Arc;

use super::{NewSession, SignInGrant, Storage};
use crate::token_cipher::Sealed;

pub use codes::{codes, logout_tokens};
pub use feed::revocation_feed;
pub use grants::grants;
pub use leases::leases;
pub use sessions::sessions;
pub use users::{reseal, users};

/// Runs every function of the suite, each on a store `fresh` makes empty.
pub async fn run_all<F, Fut>(mut fresh: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn Storage>>,
{
    grants(&*fresh().await).await;
    leases(&*fresh().await).await;
    sessions(&*fresh().await).await;
    revocation_feed(&*fresh().await).await;
    codes(&*fresh().await).await;
    logout_tokens(&*fresh().await).await;
    users(&*fresh().await).await;
    reseal(&*fresh().await).await;
}

/// A time the suite starts at (Unix seconds); every step is relative to it.
const NOW: u64 = 1_700_000_000;

/// A sealed token standing for `text`, under key `key_id` (stores never
/// open what they keep, so any bytes do).
fn sealed(text: &str, key_id: &str) -> Sealed {
    Sealed {
        key_id: key_id.to_owned(),
        bytes: text.as_bytes().to_vec(),
    }
}

fn sign_in(subject: &str, refresh_token: Option<&str>) -> SignInGrant {
    SignInGrant {
        subject: subject.to_owned(),
        email: format!("{subject}@example.com"),
        hosted_domain: Some("example.com".to_owned()),
        scopes: vec!["openid".to_owned(), "email".to_owned()],
        refresh_token: refresh_token.map(|t| sealed(t, "k1")),
        access_token: Some((sealed("access", "k1"), NOW + 3600)),
    }
}

fn new_session(id: &str, subject: &str, created_at: u64) -> NewSession {
    NewSession {
        id: id.to_owned(),
        secret_hash: vec![7; 32],
        subject: subject.to_owned(),
        email: format!("{subject}@example.com"),
        name: None,
        hosted_domain: None,
        created_at,
        expires_at: created_at + 86_400,
        provider_sid: None,
        device: None,
        place: None,
    }
}

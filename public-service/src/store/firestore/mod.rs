//! The Firestore (Native mode) backend, over its REST API.
//!
//! `DATABASE_URL=firestore://PROJECT[/DATABASE]` ([`config`]). On Cloud Run
//! the calls carry the service account's access token from the metadata
//! server (`auth`); with `FIRESTORE_EMULATOR_HOST` they go to the
//! emulator in plain HTTP.
//!
//! # Documents
//! - `grants/{subject}`: one per person, with the lease and `version`.
//! - `sessions/{session id}`: `subject`, `email_lower` (the user
//!   directory), `revoked_at` absent until revoked, `apps` (the apps it was
//!   handed to, each with its last time), `delete_after` (= `expires_at`).
//! - `handoff_codes/{hex of the code's hash}`, `delete_after` = `expires_at`.
//! - `logout_jtis/{hex of SHA-256 of the jti}`, `delete_after` =
//!   `remember_until`.
//!
//! `delete_after` is a Timestamp for a TTL policy; TTL deletion is only
//! eventual (<https://cloud.google.com/firestore/docs/ttl>), so the purge
//! methods still delete exactly what their contract says. Other times are
//! integers (Unix seconds), compared and ordered exactly.
//!
//! # Concurrency
//! Where the SQL store writes `UPDATE … WHERE version = …`, this one reads
//! the document and writes it back with the precondition that its
//! `updateTime` is still the one read (or that it does not exist), retrying
//! a bounded number of times (`ops`): of two writers that read one state,
//! exactly one writes (a redemption, a lease, a compare-and-swap). A
//! logout token (its `jti` created if absent, and the sessions it names
//! revoked) is one atomic `commit` whose every write carries such a
//! precondition: it applies whole only if nothing it read has changed, and
//! is read and tried again otherwise. That is optimistic concurrency
//! without a server transaction: Firestore's emulator serialises
//! read-write transactions (a read in one waits while another is open, and
//! contention stalls for its lock timeout,
//! <https://github.com/firebase/firebase-tools/issues/2452>), while a commit's
//! preconditions behave the same in production and in the emulator
//! (<https://cloud.google.com/firestore/docs/reference/rest/v1/Precondition>).
//! Revoking every session of a person revokes each with its own
//! precondition and counts those written: a person may have more sessions
//! than one commit takes, and each session is still reported revoked by
//! exactly one call.
//!
//! # Queries and the index each uses
//! Only Firestore's automatic single-field indexes
//! (<https://cloud.google.com/firestore/docs/query-data/index-overview>):
//! an equality on one field, or a range on one field ordered by that field
//! and then `__name__`. What else a call needs is filtered or sorted here,
//! on sets that are small (one person's sessions).
//!
//! | query | index |
//! |---|---|
//! | `sessions` where `subject ==` | `subject` ascending |
//! | `sessions` where `provider_sid ==` | `provider_sid` ascending |
//! | `sessions` where `email_lower ==`, `grants` where `email_lower ==` | `email_lower` ascending |
//! | `sessions` where `revoked_at >=` order by `revoked_at`, `__name__` (the feed) | `revoked_at` ascending |
//! | `sessions` where `revoked_at <`, where `expires_at <` (purge) | `revoked_at`, `expires_at` ascending |
//! | `handoff_codes` where `expires_at <` (purge) | `expires_at` ascending |
//! | `logout_jtis` where `remember_until <=` (purge) | `remember_until` ascending |
//! | `grants` order by `__name__` (admin: re-seal, key usage) | none (the collection's names) |
//!
//! `deploy/firestore-indexes.md` lists the same.

mod auth;
mod client;
pub mod config;
#[cfg(test)]
mod costs;
mod grants;
mod logout;
mod ops;
mod readiness;
mod records;
mod sessions;
mod value;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use url::Url;

use super::contracts::{BackendUsage, Operations};
use super::{StoreError, StoreOptions};
use auth::{Auth, MetadataTokens};
use client::Client;

/// Where the store gets its credentials, besides the URL.
#[derive(Debug, Clone)]
pub struct FirestoreAccess {
    /// `FIRESTORE_EMULATOR_HOST` (`host:port`): plain HTTP to the emulator,
    /// no metadata server.
    pub emulator_host: Option<String>,
    /// The metadata server's base URL (Google's on Cloud Run).
    pub metadata_url: Url,
}

impl Default for FirestoreAccess {
    fn default() -> Self {
        Self {
            emulator_host: None,
            metadata_url: Url::parse(handoff_guard::GOOGLE_METADATA_URL)
                .expect("a valid constant URL"),
        }
    }
}

/// Every contract of [`super::contracts`] on Firestore.
#[derive(Clone)]
pub struct FirestoreStore {
    client: Arc<Client>,
    /// Set while a background readiness probe runs: one at a time.
    probing: Arc<AtomicBool>,
}

impl FirestoreStore {
    /// A store for `url` (`firestore://…`). Nothing is sent yet: readiness
    /// reports when Firestore first answers.
    pub fn open(
        url: &str,
        options: &StoreOptions,
        access: &FirestoreAccess,
    ) -> Result<Self, StoreError> {
        let target = config::parse(url).map_err(|_| StoreError::MalformedUrl)?;
        let emulator = access.emulator_host.as_deref();
        if let Some(host) = emulator {
            config::check_emulator_host(host).map_err(|_| StoreError::MalformedUrl)?;
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .pool_max_idle_per_host(options.max_connections.max(1) as usize)
            .build()
            .map_err(|_| StoreError::Unavailable("the HTTP client cannot start".into()))?;
        let auth = match emulator {
            Some(_) => Auth::Emulator,
            None => Auth::Metadata(MetadataTokens::new(&access.metadata_url, http.clone())),
        };
        let client = Client::new(
            http,
            auth,
            config::documents_url(&target, emulator),
            &target.database_path(),
            options.timeout,
        );
        Ok(Self {
            client: Arc::new(client),
            probing: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Document reads, writes and deletes made so far, as Firestore bills
    /// them (<https://cloud.google.com/firestore/pricing>).
    pub fn operations(&self) -> Operations {
        self.client.operations()
    }
}

impl BackendUsage for FirestoreStore {
    fn billed_operations(&self) -> Option<Operations> {
        Some(self.operations())
    }
}

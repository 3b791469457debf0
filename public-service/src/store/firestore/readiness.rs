//! [`BackendReadiness`]: Firestore has no schema to prepare, so the store
//! is prepared once the API has answered a call with a success or a "not
//! found" (the network path and the credentials work).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;

use super::FirestoreStore;
use crate::store::contracts::{BackendReadiness, StoreFuture};

/// A document that is never written: reading it is the cheapest round
/// trip (one read, billed as such).
const PROBE: (&str, &str) = ("readiness", "probe");

impl BackendReadiness for FirestoreStore {
    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.client.get(PROBE.0, PROBE.1).await?;
            Ok(())
        })
    }

    fn is_prepared(&self) -> bool {
        self.client.has_answered()
    }

    /// Probes in the background until Firestore first answers, one probe
    /// at a time however many requests ask.
    fn prepare_if_due(&self) {
        if self.is_prepared() || self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            let _ = store.ping().await;
            store.probing.store(false, Ordering::Release);
        });
    }

    fn try_prepare(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async move { self.is_prepared() || self.ping().await.is_ok() })
    }
}

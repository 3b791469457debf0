//! The refresh lease as a value: whoever holds a [`Lease`] is the one
//! caller, on any instance, refreshing that grant at the provider.
//!
//! Its only ways out are [`Lease::commit`] (store the new tokens, which
//! frees it in the same write) and [`Lease::release`]; both consume it. A
//! lease dropped without either (an early `?`, a cancelled request) is
//! released by a task spawned on the runtime; outside a runtime it is left
//! to its expiry, which the holder set to the provider's timeout and a
//! margin. Either way it never outlives that expiry, and dropping never
//! panics.

use std::sync::Arc;

use crate::store::{FreshTokens, GrantRecord, GrantStore, StoreError};

#[must_use = "a lease holds the grant until it is committed or released"]
pub struct Lease {
    store: Arc<dyn GrantStore>,
    /// The grant as it was when the lease was taken.
    grant: GrantRecord,
    id: String,
    /// Committed or released: nothing left for `Drop` to do.
    settled: bool,
}

impl Lease {
    pub(super) fn new(store: Arc<dyn GrantStore>, grant: GrantRecord, id: String) -> Self {
        Self {
            store,
            grant,
            id,
            settled: false,
        }
    }

    /// The grant as it was when the lease was taken.
    pub fn grant(&self) -> &GrantRecord {
        &self.grant
    }

    /// Stores the result of the refresh and frees the lease, in one write:
    /// the refresh token only if the grant's version is still the one
    /// leased. `Ok(false)`: the lease had run out (another caller may hold
    /// it now) and nothing was written. On an error the lease is released
    /// as if dropped.
    pub async fn commit(mut self, fresh: &FreshTokens, now: u64) -> Result<bool, StoreError> {
        let committed = self
            .store
            .finish_refresh(
                &self.grant.subject,
                &self.id,
                self.grant.version,
                fresh,
                now,
            )
            .await?;
        self.settled = true;
        Ok(committed)
    }

    /// Frees the lease without writing anything. A failure is logged: the
    /// lease then frees itself when its time is over.
    pub async fn release(mut self) {
        if let Err(e) = self
            .store
            .release_lease(&self.grant.subject, &self.id)
            .await
        {
            tracing::warn!(reason = %e, "refresh lease not released; it will expire");
        }
        self.settled = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                until = self.grant.lease_until,
                "a refresh lease was dropped outside the runtime; it frees itself when its time is over"
            );
            return;
        };
        let store = self.store.clone();
        let subject = std::mem::take(&mut self.grant.subject);
        let id = std::mem::take(&mut self.id);
        runtime.spawn(async move {
            if let Err(e) = store.release_lease(&subject, &id).await {
                tracing::warn!(reason = %e, "refresh lease not released; it will expire");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use handoff_guard::{Clock, SharedClock};

    use super::Lease;
    use crate::grants::Grants;
    use crate::store::{FreshTokens, GrantStore, SignInGrant, Store, StoreError, StoreOptions};
    use crate::token_cipher::{Sealed, TokenCipher};

    const TTL: Duration = Duration::from_secs(30);

    struct Fixed(u64);
    impl Clock for Fixed {
        fn now(&self) -> std::time::SystemTime {
            std::time::UNIX_EPOCH + Duration::from_secs(self.0)
        }
    }

    async fn grants_of_one_user() -> (Grants, Arc<dyn GrantStore>) {
        let store = Store::connect("sqlite::memory:", StoreOptions::default())
            .await
            .unwrap();
        let store: Arc<dyn GrantStore> = Arc::new(store);
        let sealed = |text: &str| Sealed {
            key_id: "k".into(),
            bytes: text.as_bytes().to_vec(),
        };
        let grant = SignInGrant {
            subject: "ada".into(),
            email: "ada@example.com".into(),
            hosted_domain: None,
            scopes: vec!["openid".into()],
            refresh_token: Some(sealed("refresh")),
            access_token: None,
        };
        store.record_sign_in(&grant, 1_000).await.unwrap();
        let clock: SharedClock = Arc::new(Fixed(1_000));
        let grants = Grants::new(store.clone(), TokenCipher::ephemeral(), clock);
        (grants, store)
    }

    async fn is_free(grants: &Grants) -> bool {
        match grants.lease("ada", TTL).await.unwrap() {
            Some(lease) => {
                lease.release().await;
                true
            }
            None => false,
        }
    }

    /// The lease freed by a task the drop spawned: wait for it, boundedly.
    async fn freed_soon(grants: &Grants) -> bool {
        for _ in 0..1000 {
            if is_free(grants).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_held_lease_refuses_a_second_holder_and_a_commit_frees_it() {
        let (grants, store) = grants_of_one_user().await;
        let lease = grants.lease("ada", TTL).await.unwrap().expect("free");
        assert!(grants.lease("ada", TTL).await.unwrap().is_none(), "held");
        let fresh = FreshTokens {
            access_token: None,
            scopes: None,
            refresh_token: Some(Sealed {
                key_id: "k".into(),
                bytes: b"rotated".to_vec(),
            }),
        };
        let version = lease.grant().version;
        assert!(lease.commit(&fresh, 1_001).await.unwrap());
        let stored = store.grant("ada").await.unwrap().unwrap();
        assert_eq!(stored.refresh_token, fresh.refresh_token);
        assert_eq!(stored.version, version + 1);
        assert!(is_free(&grants).await, "the commit freed it");
    }

    #[tokio::test]
    async fn a_released_lease_is_free_at_once() {
        let (grants, store) = grants_of_one_user().await;
        let lease = grants.lease("ada", TTL).await.unwrap().expect("free");
        lease.release().await;
        assert!(is_free(&grants).await);
        let stored = store.grant("ada").await.unwrap().unwrap();
        assert_eq!(stored.lease_until, None);
    }

    #[tokio::test]
    async fn a_path_that_fails_while_holding_the_lease_frees_it() {
        let (grants, _store) = grants_of_one_user().await;
        // Anything in between that fails, as a provider call may.
        fn step_that_fails() -> Result<(), StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        async fn fails_half_way(grants: &Grants) -> Result<(), StoreError> {
            let lease = grants.lease("ada", TTL).await?.expect("free");
            step_that_fails()?;
            lease.release().await;
            Ok(())
        }
        assert!(fails_half_way(&grants).await.is_err());
        assert!(freed_soon(&grants).await, "the lease did not stay taken");
    }

    #[tokio::test]
    async fn a_dropped_lease_is_released_without_a_panic() {
        let (grants, _store) = grants_of_one_user().await;
        let lease: Lease = grants.lease("ada", TTL).await.unwrap().expect("free");
        drop(lease);
        assert!(freed_soon(&grants).await);
    }

    #[test]
    fn a_lease_dropped_outside_the_runtime_is_left_to_expire_without_a_panic() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (grants, store) = runtime.block_on(grants_of_one_user());
        let lease = runtime.block_on(grants.lease("ada", TTL)).unwrap().unwrap();
        drop(lease);
        let stored = runtime.block_on(store.grant("ada")).unwrap().unwrap();
        assert_eq!(
            stored.lease_until,
            Some(1_000 + TTL.as_secs()),
            "held until it expires"
        );
    }
}

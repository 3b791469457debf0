//! The broker over a SQLite store and a provider that answers as each test
//! says (and counts what it was asked).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use handoff_guard::{Clock, Identity, SharedClock};
use secrecy::{ExposeSecret, SecretString};

use super::provider::Answer;
use super::{BrokerError, TokenBroker, TokenProvider, TokenRequest, Wanted};
use crate::grants::{access_context, refresh_context};
use crate::oidc::{ProviderError, ProviderTokens, RefreshError};
use crate::store::{FreshTokens, GrantStore, LeasePurpose, Store, StoreOptions};
use crate::token_cipher::TokenCipher;

const NOW: u64 = 1_700_000_000;
const RING: &str = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

struct Fixed;
impl Clock for Fixed {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }
}

/// Answers refreshes from a queue; none queued: a failure.
#[derive(Default)]
struct Provider {
    answers: Mutex<VecDeque<Result<ProviderTokens, RefreshError>>>,
    refreshes: AtomicUsize,
    revoked: Mutex<Vec<String>>,
}

impl TokenProvider for Provider {
    fn refresh<'a>(
        &'a self,
        _refresh_token: &'a SecretString,
        _narrowed_to: Option<&'a [String]>,
        _granted_scopes: &'a [String],
    ) -> Answer<'a, Result<ProviderTokens, RefreshError>> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let answer = self.answers.lock().unwrap().pop_front();
        Box::pin(async move {
            answer.unwrap_or_else(|| Err(ProviderError::Unreachable("no answer".into()).into()))
        })
    }

    fn revoke_refresh_token<'a>(
        &'a self,
        refresh_token: &'a SecretString,
    ) -> Answer<'a, Result<bool, ProviderError>> {
        let token = refresh_token.expose_secret().to_owned();
        self.revoked.lock().unwrap().push(token);
        Box::pin(async { Ok(true) })
    }
}

fn tokens(access: &str, refresh: Option<&str>) -> ProviderTokens {
    ProviderTokens {
        access_token: SecretString::from(access),
        expires_in: Some(3600),
        refresh_token: refresh.map(SecretString::from),
        scopes: vec!["openid".into(), "email".into()],
    }
}

fn cipher() -> TokenCipher {
    TokenCipher::from_key_ring(&SecretString::from(RING)).unwrap()
}

struct Setup {
    broker: TokenBroker,
    store: Arc<dyn GrantStore>,
    provider: Arc<Provider>,
}

/// Ada signed in with `signed_in` (her access token expired at once).
async fn setup(signed_in: ProviderTokens) -> Setup {
    let store = Store::connect("sqlite::memory:", StoreOptions::default())
        .await
        .unwrap();
    let store: Arc<dyn GrantStore> = Arc::new(store);
    let provider = Arc::new(Provider::default());
    let clock: SharedClock = Arc::new(Fixed);
    let broker = TokenBroker::new(
        store.clone(),
        provider.clone(),
        cipher(),
        clock,
        Duration::ZERO,
        true,
    );
    let identity = Identity {
        subject: "ada".into(),
        email: Some("ada@example.com".into()),
        email_verified: true,
        name: None,
        hosted_domain: None,
    };
    let signed_in = ProviderTokens {
        expires_in: Some(0),
        ..signed_in
    };
    broker
        .record_sign_in(&identity, "ada@example.com", &signed_in)
        .await
        .unwrap();
    Setup {
        broker,
        store,
        provider,
    }
}

fn whole(subject: &str) -> TokenRequest<'_> {
    TokenRequest {
        subject,
        wanted: Wanted::Whole,
        admit: &|_| Ok(()),
        handed_to: None,
    }
}

async fn lease_is_free(store: &dyn GrantStore) -> bool {
    let taken = store
        .take_lease("ada", "probe", LeasePurpose::Refresh, NOW, NOW + 1)
        .await
        .unwrap();
    store.release_lease("ada", "probe").await.unwrap();
    taken.is_some()
}

#[tokio::test]
async fn a_refresh_stores_the_rotated_token_and_frees_the_lease() {
    let s = setup(tokens("a0", Some("r0"))).await;
    s.provider
        .answers
        .lock()
        .unwrap()
        .push_back(Ok(tokens("a1", Some("r1"))));
    let token = s.broker.access_token(&whole("ada")).await.unwrap();
    assert_eq!(token.token.expose_secret(), "a1");
    let stored = s.store.grant("ada").await.unwrap().unwrap();
    let sealed = stored.refresh_token.unwrap();
    let opened = cipher().open(&sealed, &refresh_context("ada")).unwrap();
    assert_eq!(opened.expose_secret(), "r1", "the rotated token is stored");
    let (access, _) = stored.access_token.unwrap();
    assert_eq!(
        cipher()
            .open(&access, &access_context("ada"))
            .unwrap()
            .expose_secret(),
        "a1"
    );
    assert!(lease_is_free(&*s.store).await);
    // Served from memory now: the provider is not asked again.
    s.broker.access_token(&whole("ada")).await.unwrap();
    assert_eq!(s.provider.refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_caller_waits_for_the_lease_holder_and_uses_its_result() {
    let s = setup(tokens("a0", Some("r0"))).await;
    // Another instance holds the lease and is refreshing.
    let other = s
        .store
        .take_lease("ada", "other", LeasePurpose::Refresh, NOW, NOW + 30);
    let leased = other.await.unwrap().expect("free");
    let theirs = FreshTokens {
        access_token: Some((cipher().seal("theirs", &access_context("ada")), NOW + 3600)),
        scopes: None,
        refresh_token: None,
    };
    let request = whole("ada");
    let (token, committed) = tokio::join!(s.broker.access_token(&request), async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        s.store
            .finish_refresh("ada", "other", leased.version, &theirs, NOW)
            .await
    });
    assert!(committed.unwrap());
    assert_eq!(token.unwrap().token.expose_secret(), "theirs");
    assert_eq!(
        s.provider.refreshes.load(Ordering::SeqCst),
        0,
        "no second refresh"
    );
}

#[tokio::test]
async fn a_lease_never_committed_makes_the_caller_give_up_without_a_refresh() {
    let s = setup(tokens("a0", Some("r0"))).await;
    let other = s
        .store
        .take_lease("ada", "stuck", LeasePurpose::Refresh, NOW, NOW + 30);
    assert!(other.await.unwrap().is_some());
    let answer = s.broker.access_token(&whole("ada")).await;
    assert!(
        matches!(answer, Err(BrokerError::Unavailable(_))),
        "{:?}",
        answer.err()
    );
    assert_eq!(s.provider.refreshes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn consent_is_required_without_a_grant_or_for_scopes_it_lacks() {
    let s = setup(tokens("a0", Some("r0"))).await;
    let nobody = s.broker.access_token(&whole("nobody")).await;
    assert!(matches!(nobody, Err(BrokerError::ConsentRequired { .. })));
    let drive = TokenRequest {
        subject: "ada",
        wanted: Wanted::All(vec!["drive".into()]),
        admit: &|_| Ok(()),
        handed_to: None,
    };
    match s.broker.access_token(&drive).await {
        Err(BrokerError::ConsentRequired { missing_scopes }) => {
            assert_eq!(missing_scopes, ["drive"])
        }
        other => panic!("expected consent, got {:?}", other.err()),
    }
    assert_eq!(s.provider.refreshes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn invalid_grant_revokes_the_grant_and_frees_the_lease() {
    let s = setup(tokens("a0", Some("r0"))).await;
    s.provider
        .answers
        .lock()
        .unwrap()
        .push_back(Err(RefreshError::InvalidGrant));
    let answer = s.broker.access_token(&whole("ada")).await;
    assert!(matches!(answer, Err(BrokerError::ConsentRequired { .. })));
    let stored = s.store.grant("ada").await.unwrap().unwrap();
    assert!(stored.revoked_at.is_some() && stored.refresh_token.is_none());
    assert_eq!(stored.lease_until, None);
    assert!(!s.broker.has_usable_grant("ada").await.unwrap());
    let again = s.broker.access_token(&whole("ada")).await;
    assert!(matches!(again, Err(BrokerError::ConsentRequired { .. })));
    assert_eq!(
        s.provider.refreshes.load(Ordering::SeqCst),
        1,
        "not asked again"
    );
}

#[tokio::test]
async fn a_provider_failure_frees_the_lease_for_the_next_caller() {
    let s = setup(tokens("a0", Some("r0"))).await;
    let answer = s.broker.access_token(&whole("ada")).await;
    assert!(matches!(answer, Err(BrokerError::Unavailable(_))));
    assert!(lease_is_free(&*s.store).await);
    assert!(
        s.broker.has_usable_grant("ada").await.unwrap(),
        "a failure revokes nothing"
    );
}

#[tokio::test]
async fn revoke_revokes_at_the_provider_and_forgets_the_grant() {
    let s = setup(tokens("a0", Some("r0"))).await;
    s.provider
        .answers
        .lock()
        .unwrap()
        .push_back(Ok(tokens("a1", None)));
    s.broker.access_token(&whole("ada")).await.unwrap();
    s.broker.revoke("ada").await.unwrap();
    assert_eq!(*s.provider.revoked.lock().unwrap(), ["r0"]);
    let stored = s.store.grant("ada").await.unwrap().unwrap();
    assert!(stored.revoked_at.is_some());
    // Not served from memory after a revocation.
    let after = s.broker.access_token(&whole("ada")).await;
    assert!(matches!(after, Err(BrokerError::ConsentRequired { .. })));
}

//! The token broker refreshing while the provider's token endpoint
//! refuses connections, is slow, fails or answers garbage: the caller is
//! told to retry, the grant is kept as it was, and the next call after the
//! provider recovers refreshes. Only `invalid_grant` revokes a grant (the
//! offline suite proves that side).

use std::time::Duration;

use integration_tests::db::Backend;
use integration_tests::{on_both_backends, TestApp, TestOptions};
use mock_provider::{Misbehaviour, MockUser};

use super::{assert_nothing_leaked, within_bound, PROVIDER_TIMEOUT, SLOW};

const ALICE: &str = "alice@example.com";
/// Past the access token's lifetime (an hour), so the next call refreshes.
const PAST_EXPIRY: Duration = Duration::from_secs(3600);

#[derive(Clone, Copy)]
enum Fault {
    Refused,
    Slow,
    Failing,
    Garbage,
}

impl Fault {
    async fn start(self, app: &TestApp) {
        match self {
            Fault::Refused => app.provider_proxy().cut().await,
            Fault::Slow => app
                .provider
                .misbehave(Misbehaviour::TokenEndpointDelay(SLOW)),
            Fault::Failing => app
                .provider
                .misbehave(Misbehaviour::TokenEndpointStatus(500)),
            Fault::Garbage => app.provider.misbehave(Misbehaviour::TokenEndpointGarbage),
        }
    }

    async fn end(self, app: &TestApp) {
        app.provider_proxy().restore().await;
        app.provider.behave();
    }
}

async fn a_refresh_during_a_token_endpoint_fault_keeps_the_grant(backend: Backend, fault: Fault) {
    let Some(app) = TestApp::try_spawn_with(TestOptions {
        backend,
        provider_behind_proxy: true,
        provider_timeout: PROVIDER_TIMEOUT,
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    let browser = app.browser();
    let hops = app.sign_in(&browser, ALICE).await;
    assert_eq!(hops.last().unwrap().status, 200);
    // One call while all is well: the caller's key set is fetched.
    let first = app.broker_token_for(ALICE, &[]).await;
    assert_eq!(first.status, 200, "{first:?}");
    let subject = MockUser::new(ALICE).sub;
    let refresh_token = app.stored_refresh_token(ALICE).await;
    assert!(refresh_token.is_some());
    let version = app
        .store()
        .await
        .grant(&subject)
        .await
        .unwrap()
        .unwrap()
        .version;

    app.advance_time(PAST_EXPIRY);
    fault.start(&app).await;
    let answer = within_bound("a broker call", app.broker_token_for(ALICE, &[])).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.error(), "temporarily_unavailable");
    assert!(answer.json.get("access_token").is_none());

    let grant = app.store().await.grant(&subject).await.unwrap().unwrap();
    assert!(grant.is_usable(), "the grant was not revoked");
    assert_eq!(grant.version, version, "the grant was not rewritten");
    assert_eq!(grant.lease_until, None, "the refresh lease was released");
    assert_eq!(app.stored_refresh_token(ALICE).await, refresh_token);

    fault.end(&app).await;
    let again = app.broker_token_for(ALICE, &[]).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_ne!(again.access_token(), first.access_token(), "a fresh token");
    assert_nothing_leaked(&app, &[&browser]);
}

async fn a_token_endpoint_refusing_connections_during_a_refresh_keeps_the_grant(backend: Backend) {
    a_refresh_during_a_token_endpoint_fault_keeps_the_grant(backend, Fault::Refused).await;
}

async fn a_slow_token_endpoint_during_a_refresh_keeps_the_grant(backend: Backend) {
    a_refresh_during_a_token_endpoint_fault_keeps_the_grant(backend, Fault::Slow).await;
}

async fn a_token_endpoint_answering_500_during_a_refresh_keeps_the_grant(backend: Backend) {
    a_refresh_during_a_token_endpoint_fault_keeps_the_grant(backend, Fault::Failing).await;
}

async fn a_token_endpoint_answering_garbage_during_a_refresh_keeps_the_grant(backend: Backend) {
    a_refresh_during_a_token_endpoint_fault_keeps_the_grant(backend, Fault::Garbage).await;
}

on_both_backends!(
    a_token_endpoint_refusing_connections_during_a_refresh_keeps_the_grant,
    a_slow_token_endpoint_during_a_refresh_keeps_the_grant,
    a_token_endpoint_answering_500_during_a_refresh_keeps_the_grant,
    a_token_endpoint_answering_garbage_during_a_refresh_keeps_the_grant,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_whose_keys_cannot_be_fetched_is_told_to_retry_not_refused() {
    let app = TestApp::spawn_with(TestOptions {
        provider_timeout: PROVIDER_TIMEOUT,
        ..TestOptions::default()
    })
    .await;
    let browser = app.browser();
    let hops = app.sign_in(&browser, ALICE).await;
    assert_eq!(hops.last().unwrap().status, 200);
    // The broker has not checked a caller yet: it holds no keys for them.
    app.provider.misbehave(Misbehaviour::JwksStatus(500));
    let answer = within_bound("a broker call", app.broker_token_for(ALICE, &[])).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.error(), "temporarily_unavailable");

    app.provider.behave();
    // Key fetches for callers happen at most once per interval (1 s here).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let answer = app.broker_token_for(ALICE, &[]).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_nothing_leaked(&app, &[&browser]);
}

//! The sign-in and renewal flows against a fake provider, over the real
//! sessions and grants on in-memory SQLite.

use std::cell::RefCell;

use actix_web::test::TestRequest;
use openidconnect::{CsrfToken, Nonce, PkceCodeVerifier};
use secrecy::SecretString;
use url::Url;

use crate::flows::fixture::{self, identity, Fixture, APP};
use crate::flows::renew::{renew, Renewal};
use crate::flows::sign_in::{finish, Callback, Finished, Provider, SignInError};
use crate::login_transaction::LoginTransaction;
use crate::oidc::{
    AuthorizationOptions, AuthorizationRequest, OfflineAccess, ProviderError, ProviderTokens,
    SignIn,
};
use crate::policy::Denial;
use crate::store::SessionRecord;

/// A provider that signs in whoever the test says, with or without a
/// refresh token, and counts its code exchanges.
struct FakeProvider {
    person: RefCell<String>,
    refresh_token: bool,
    exchanges: RefCell<u32>,
}

impl FakeProvider {
    fn signing_in(email: &str, refresh_token: bool) -> Self {
        Self {
            person: RefCell::new(email.to_owned()),
            refresh_token,
            exchanges: RefCell::new(0),
        }
    }
}

impl Provider for FakeProvider {
    fn offline_access(&self) -> OfflineAccess {
        OfflineAccess::Google
    }
    fn requested_scopes(&self, extra: &[String]) -> Vec<String> {
        let mut scopes = vec!["openid".to_owned(), "email".to_owned()];
        scopes.extend(extra.iter().cloned());
        scopes
    }
    async fn authorization_request(
        &self,
        _: &AuthorizationOptions,
    ) -> Result<AuthorizationRequest, ProviderError> {
        Ok(AuthorizationRequest {
            url: Url::parse("https://provider.example/authorize").unwrap(),
            state: CsrfToken::new("state".into()),
            nonce: Nonce::new("nonce".into()),
            pkce_verifier: PkceCodeVerifier::new("v".repeat(43)),
        })
    }
    async fn check_response_issuer(&self, iss: Option<&str>) -> Result<(), ProviderError> {
        match iss {
            Some(iss) if iss != "https://provider.example" => {
                Err(ProviderError::WrongResponseIssuer("another issuer"))
            }
            _ => Ok(()),
        }
    }
    async fn exchange(
        &self,
        _: String,
        _: PkceCodeVerifier,
        _: &Nonce,
        requested_scopes: &[String],
    ) -> Result<SignIn, ProviderError> {
        *self.exchanges.borrow_mut() += 1;
        Ok(SignIn {
            identity: identity(&self.person.borrow()),
            tokens: ProviderTokens {
                access_token: SecretString::from("access".to_owned()),
                expires_in: Some(3600),
                refresh_token: self
                    .refresh_token
                    .then(|| SecretString::from("refresh".to_owned())),
                scopes: requested_scopes.to_vec(),
            },
            provider_sid: Some("provider-session".to_owned()),
        })
    }
}

fn callback(f: &Fixture, consent_forced: bool) -> Callback {
    Callback {
        transaction: LoginTransaction {
            state: CsrfToken::new("state".into()),
            nonce: Nonce::new("nonce".into()),
            pkce_verifier: PkceCodeVerifier::new("v".repeat(43)),
            return_to: format!("{APP}/page"),
            created_at: f.state.clock.unix_seconds(),
            extra_scopes: Vec::new(),
            consent_forced,
            binding: None,
            to_sessions_page: false,
        },
        iss: None,
        error: None,
        code: Some("code".into()),
    }
}

async fn finished(
    f: &Fixture,
    provider: &FakeProvider,
    callback: Callback,
    current: Option<SessionRecord>,
) -> Result<Finished, SignInError> {
    let req = TestRequest::default().to_http_request();
    finish(&f.state.sign_in_with(provider), &req, callback, current).await
}

#[actix_web::test]
async fn without_a_refresh_token_sent_or_stored_the_provider_is_asked_once_more_with_consent() {
    let f = fixture::with_code_delivery().await;
    let provider = FakeProvider::signing_in("alice@example.com", false);
    let Finished::AskConsent(request) = finished(&f, &provider, callback(&f, false), None)
        .await
        .expect("finished")
    else {
        panic!("signed in without a refresh token")
    };
    assert!(request.force_consent);
    assert_eq!(request.login_hint.as_deref(), Some("alice@example.com"));
    assert_eq!(request.return_to.as_str(), format!("{APP}/page"));
    // The second pass, already with consent, signs in whatever comes back:
    // the person is not sent round again.
    let second = finished(&f, &provider, callback(&f, true), None).await;
    assert!(matches!(second, Ok(Finished::SignedIn(_))));
}

#[actix_web::test]
async fn a_returning_person_keeps_their_session_and_another_person_replaces_it() {
    let f = fixture::with_code_delivery().await;
    let alice = FakeProvider::signing_in("alice@example.com", true);
    let Ok(Finished::SignedIn(first)) = finished(&f, &alice, callback(&f, false), None).await
    else {
        panic!("alice signed in")
    };
    assert!(first.new_cookie.is_some(), "a session starts with a cookie");
    assert!(f
        .state
        .broker
        .has_usable_grant(&first.identity.subject)
        .await
        .unwrap());

    let Ok(Finished::SignedIn(again)) =
        finished(&f, &alice, callback(&f, false), Some(first.session.clone())).await
    else {
        panic!("alice signed in again")
    };
    assert_eq!(
        again.session.id, first.session.id,
        "the same session goes on"
    );
    assert!(again.new_cookie.is_none());

    let bob = FakeProvider::signing_in("bob@example.com", true);
    let Ok(Finished::SignedIn(replaced)) =
        finished(&f, &bob, callback(&f, false), Some(again.session.clone())).await
    else {
        panic!("bob signed in")
    };
    assert_ne!(replaced.session.id, first.session.id);
    assert!(replaced.new_cookie.is_some());
    let alices = f
        .state
        .store
        .session(&first.session.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        alices.revoked_at.is_some(),
        "the other person's session ended"
    );
}

#[actix_web::test]
async fn a_refused_sign_in_stores_nothing_and_says_why() {
    let f = fixture::with_code_delivery().await;
    let provider = FakeProvider::signing_in("mallory@elsewhere.test", true);
    let denied = finished(&f, &provider, callback(&f, false), None).await;
    assert!(
        matches!(denied, Err(SignInError::Denied(Denial::NotAllowed))),
        "{:?}",
        denied.err()
    );
    let subject = identity("mallory@elsewhere.test").subject;
    assert!(!f.state.broker.has_usable_grant(&subject).await.unwrap());
    assert!(f
        .state
        .sessions
        .live_sessions_of(&subject)
        .await
        .unwrap()
        .is_empty());

    let mut declined = callback(&f, false);
    declined.error = Some("access_denied".into());
    assert!(matches!(
        finished(&f, &provider, declined, None).await,
        Err(SignInError::Declined)
    ));
    let mut failed = callback(&f, false);
    failed.error = Some("server_error".into());
    assert!(matches!(
        finished(&f, &provider, failed, None).await,
        Err(SignInError::ProviderReported)
    ));
    let mut forged = callback(&f, false);
    forged.iss = Some("https://attacker.example".into());
    assert!(matches!(
        finished(&f, &provider, forged, None).await,
        Err(SignInError::Provider(ProviderError::WrongResponseIssuer(_)))
    ));
    let mut codeless = callback(&f, false);
    codeless.code = None;
    assert!(matches!(
        finished(&f, &provider, codeless, None).await,
        Err(SignInError::MissingCode)
    ));
    assert_eq!(
        *provider.exchanges.borrow(),
        1,
        "only the denied one reached the code exchange"
    );
}

#[actix_web::test]
async fn renewal_hands_off_a_live_session_and_ends_one_the_policy_no_longer_admits() {
    let f = fixture::with_code_delivery().await;
    let provider = FakeProvider::signing_in("alice@example.com", true);
    let deps = f.state.sign_in_with(&provider);
    let return_to = || f.state.apps.return_to(APP).unwrap();

    let Ok(Renewal::SignIn(request)) = renew(&deps, None, return_to(), None).await else {
        panic!("no session: a sign-in")
    };
    assert!(!request.force_consent);

    let alice = f.signed_in("alice@example.com").await;
    let Ok(Renewal::Renewed { session, .. }) =
        renew(&deps, Some(alice.clone()), return_to(), None).await
    else {
        panic!("a live session renews")
    };
    assert_eq!(session.id, alice.id);

    // A person the operator has since removed from the policy.
    let mallory = f.signed_in("mallory@elsewhere.test").await;
    let Ok(Renewal::Denied) = renew(&deps, Some(mallory.clone()), return_to(), None).await else {
        panic!("the policy no longer admits them")
    };
    let stored = f.state.store.session(&mallory.id).await.unwrap().unwrap();
    assert!(stored.revoked_at.is_some());
}

//! Signing in: starting a sign-in at the provider, and finishing it when
//! the provider sends the browser back.
//!
//! Finishing checks, in this order, what can be checked without the
//! provider first: the login transaction and its `state` (the handler has
//! matched them), the response's issuer (RFC 9207), the provider's error,
//! then the code exchange and the ID token, the access policy and the
//! stored `return_to`. If offline access is on and the provider sent no
//! refresh token while none is stored for the person (a returning user
//! whose grant was lost or revoked), the browser goes back to the
//! provider once with `prompt=consent`. Then the grant is stored, and the
//! browser's session kept (same person) or started (another person's is
//! ended first).

use actix_web::cookie::Cookie;
use actix_web::cookie::Key;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use handoff_guard::SharedClock;
use openidconnect::{Nonce, PkceCodeVerifier};
use std::time::Duration;

use crate::apps::{AppRegistry, ReturnTo};
use crate::delivery::BrowserBinding;
use crate::http::QueryError;
use crate::login_transaction::{LoginTransaction, TransactionError};
use crate::oidc::{
    AuthorizationOptions, AuthorizationRequest, OfflineAccess, OidcClient, ProviderError, SignIn,
};
use crate::policy::{AccessPolicy, Denial, Identity};
use crate::sessions::Sessions;
use crate::state::AppState;
use crate::store::{SessionRecord, StoreError};
use crate::token_broker::TokenBroker;

/// The provider, as signing in uses it; [`OidcClient`] in the service, a
/// fake in the flows' tests.
// The flows are generic over it inside this crate, and actix runs each
// request on one thread, so the futures need no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait Provider {
    fn offline_access(&self) -> OfflineAccess;
    fn requested_scopes(&self, extra: &[String]) -> Vec<String>;
    async fn authorization_request(
        &self,
        options: &AuthorizationOptions,
    ) -> Result<AuthorizationRequest, ProviderError>;
    async fn check_response_issuer(&self, iss: Option<&str>) -> Result<(), ProviderError>;
    async fn exchange(
        &self,
        code: String,
        pkce_verifier: PkceCodeVerifier,
        nonce: &Nonce,
        requested_scopes: &[String],
    ) -> Result<SignIn, ProviderError>;
}

impl Provider for OidcClient {
    fn offline_access(&self) -> OfflineAccess {
        OidcClient::offline_access(self)
    }
    fn requested_scopes(&self, extra: &[String]) -> Vec<String> {
        OidcClient::requested_scopes(self, extra)
    }
    async fn authorization_request(
        &self,
        options: &AuthorizationOptions,
    ) -> Result<AuthorizationRequest, ProviderError> {
        OidcClient::authorization_request(self, options).await
    }
    async fn check_response_issuer(&self, iss: Option<&str>) -> Result<(), ProviderError> {
        OidcClient::check_response_issuer(self, iss).await
    }
    async fn exchange(
        &self,
        code: String,
        pkce_verifier: PkceCodeVerifier,
        nonce: &Nonce,
        requested_scopes: &[String],
    ) -> Result<SignIn, ProviderError> {
        OidcClient::exchange(self, code, pkce_verifier, nonce, requested_scopes).await
    }
}

/// What signing in needs.
pub struct SignInDeps<'a, P> {
    pub provider: &'a P,
    pub policy: &'a AccessPolicy,
    pub apps: &'a AppRegistry,
    pub grants: &'a TokenBroker,
    pub sessions: &'a Sessions,
    pub clock: &'a SharedClock,
    pub cookie_key: &'a Key,
    pub login_timeout: Duration,
}

/// A sign-in to start.
pub struct SignInRequest {
    pub return_to: ReturnTo,
    pub extra_scopes: Vec<String>,
    pub force_consent: bool,
    pub login_hint: Option<String>,
    /// The browser's binding; required with code delivery.
    pub binding: Option<BrowserBinding>,
    /// Back to this service's sessions page afterwards, not to the app.
    pub to_sessions_page: bool,
}

/// What the provider sent back, with the browser's login transaction the
/// handler matched to its `state`.
pub struct Callback {
    pub transaction: LoginTransaction,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub code: Option<String>,
}

/// How a finished sign-in goes on.
pub enum Finished {
    /// No refresh token sent or stored: back to the provider once, with
    /// consent.
    AskConsent(SignInRequest),
    SignedIn(Box<SignedIn>),
}

/// A person signed in: their session, and where they were going.
pub struct SignedIn {
    pub identity: Identity,
    pub session: SessionRecord,
    /// The cookie of a session started now; `None` when the browser's
    /// session goes on.
    pub new_cookie: Option<Cookie<'static>>,
    pub return_to: ReturnTo,
    pub binding: Option<BrowserBinding>,
    /// When this person's session in this browser had been ended from
    /// elsewhere ("end all others"), for the notice.
    pub signed_out_at: Option<u64>,
    /// Back to this service's sessions page, not to the app.
    pub to_sessions_page: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("bad query: {0}")]
    BadQuery(#[from] QueryError),
    #[error("no state in the callback")]
    MissingState,
    #[error("login transaction: {0}")]
    Transaction(#[from] TransactionError),
    #[error("the user declined at the provider")]
    Declined,
    #[error("the provider reported an error")]
    ProviderReported,
    #[error("no code in the callback")]
    MissingCode,
    #[error("provider: {0}")]
    Provider(#[from] ProviderError),
    #[error("access denied: {0}")]
    Denied(#[from] Denial),
    #[error("the stored return_to is no longer a registered app")]
    StaleReturnTo,
    #[error("signing the handoff token failed")]
    Signing(#[from] handoff_guard::login_service::SignError),
    #[error("storage unavailable: {0}")]
    Store(#[from] StoreError),
}

/// Seals a new login transaction and sends the browser to the provider;
/// the oldest of the transactions `req` carries beyond
/// [`crate::login_transaction::MAX_PENDING`] go (see there).
pub async fn start<P: Provider>(
    deps: &SignInDeps<'_, P>,
    req: &HttpRequest,
    request: SignInRequest,
) -> Result<HttpResponse, ProviderError> {
    let authorization = deps
        .provider
        .authorization_request(&AuthorizationOptions {
            extra_scopes: request.extra_scopes.clone(),
            force_consent: request.force_consent,
            login_hint: request.login_hint,
        })
        .await?;
    let transaction = LoginTransaction {
        state: authorization.state,
        nonce: authorization.nonce,
        pkce_verifier: authorization.pkce_verifier,
        return_to: request.return_to.as_str().to_owned(),
        created_at: deps.clock.unix_seconds(),
        extra_scopes: request.extra_scopes,
        consent_forced: request.force_consent,
        binding: request.binding.map(|b| b.encoded()),
        to_sessions_page: request.to_sessions_page,
    };
    tracing::info!(
        app = request.return_to.audience(),
        consent = request.force_consent,
        "sign-in started"
    );
    let mut response = HttpResponse::Found();
    response
        .insert_header((header::LOCATION, authorization.url.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    for stale in LoginTransaction::to_make_room(
        req,
        deps.cookie_key,
        transaction.created_at,
        deps.login_timeout,
    ) {
        response.cookie(stale);
    }
    Ok(response
        .cookie(transaction.to_cookie(deps.cookie_key, deps.login_timeout))
        .finish())
}

/// Finishes the sign-in `callback` brings, in a browser whose valid
/// session (if any) is `current`.
pub async fn finish<P: Provider>(
    deps: &SignInDeps<'_, P>,
    req: &HttpRequest,
    callback: Callback,
    current: Option<SessionRecord>,
) -> Result<Finished, SignInError> {
    let Callback {
        transaction,
        iss,
        error,
        code,
    } = callback;
    let binding = transaction
        .binding
        .as_deref()
        .and_then(BrowserBinding::parse);
    // RFC 9207, for error responses as for codes: an answer naming another
    // issuer (or none, from a provider that promised one) is refused.
    deps.provider.check_response_issuer(iss.as_deref()).await?;
    if let Some(error) = error {
        if error == "access_denied" {
            return Err(SignInError::Declined);
        }
        // The value comes from the query string: log only a bounded, plain form.
        let code: String = error
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(40)
            .collect();
        tracing::warn!(provider_error = %code, "provider returned an error");
        return Err(SignInError::ProviderReported);
    }
    let code = code.ok_or(SignInError::MissingCode)?;
    let requested_scopes = deps.provider.requested_scopes(&transaction.extra_scopes);
    let sign_in = deps
        .provider
        .exchange(
            code,
            transaction.pkce_verifier,
            &transaction.nonce,
            &requested_scopes,
        )
        .await?;
    let identity = sign_in.identity;
    deps.policy.check(&identity)?;
    let return_to = deps
        .apps
        .return_to(&transaction.return_to)
        .map_err(|_| SignInError::StaleReturnTo)?;

    let wants_offline = deps.provider.offline_access() != OfflineAccess::Off;
    if wants_offline
        && sign_in.tokens.refresh_token.is_none()
        && !transaction.consent_forced
        && !deps.grants.has_usable_grant(&identity.subject).await?
    {
        tracing::info!("no refresh token sent or stored; asking once more, with consent");
        return Ok(Finished::AskConsent(SignInRequest {
            return_to,
            extra_scopes: transaction.extra_scopes,
            force_consent: true,
            login_hint: identity.email.clone(),
            binding,
            to_sessions_page: transaction.to_sessions_page,
        }));
    }
    let email = identity.email.clone().unwrap_or_default();
    deps.grants
        .record_sign_in(&identity, &email, &sign_in.tokens)
        .await?;
    // Before the cookie is replaced: was this person signed out everywhere
    // else in this browser since their last visit?
    let signed_out_at = if deps.sessions.settings().signed_out_notice {
        deps.sessions
            .signed_out_everywhere_at(req, &identity.subject)
            .await?
    } else {
        None
    };
    let provider_sid = sign_in.provider_sid.as_deref();
    let (session, new_cookie) = match current {
        Some(session) if session.subject == identity.subject => {
            let session = deps
                .sessions
                .signed_in_again(session, &identity, &email, provider_sid)
                .await?;
            (session, None)
        }
        other => {
            if let Some(someone_else) = other {
                // Another person signs in in this browser: end their session.
                deps.sessions.revoke(&someone_else).await?;
            }
            let (session, cookie) = deps
                .sessions
                .start(req, &identity, &email, provider_sid)
                .await?;
            (session, Some(cookie))
        }
    };
    tracing::info!(
        subject = %identity.subject,
        app = return_to.audience(),
        refresh_token = sign_in.tokens.refresh_token.is_some(),
        "sign-in completed"
    );
    Ok(Finished::SignedIn(Box::new(SignedIn {
        identity,
        session,
        new_cookie,
        return_to,
        binding,
        signed_out_at,
        to_sessions_page: transaction.to_sessions_page,
    })))
}

/// The flow's view of the service's state (here, not in `state`, so that
/// `state` depends on no flow).
impl AppState {
    /// What signing in needs.
    pub fn sign_in(&self) -> SignInDeps<'_, crate::oidc::OidcClient> {
        self.sign_in_with(&self.oidc)
    }

    /// What signing in needs, with `provider` as the provider.
    pub fn sign_in_with<'a, P>(&'a self, provider: &'a P) -> SignInDeps<'a, P> {
        SignInDeps {
            provider,
            policy: &self.policy,
            apps: &self.apps,
            grants: &self.broker,
            sessions: &self.sessions,
            clock: &self.clock,
            cookie_key: &self.cookie_key,
            login_timeout: self.login_timeout,
        }
    }
}

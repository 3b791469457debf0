//! `GET /callback`: finish a sign-in.
//!
//! The order matters: the login transaction is found and its `state`
//! checked before anything else, so a forged or replayed callback is
//! refused before the provider is contacted. Then the response's `iss`
//! (RFC 9207) must be the provider's issuer. The transaction cookie is
//! dropped whatever the outcome: a state is good for one callback.
//!
//! After the id_token and the access policy: if offline access is on, the
//! provider sent no refresh token and none is stored for the user (a
//! returning user whose grant was lost or revoked), the browser goes back
//! to the provider once with `prompt=consent`. Then the grant is stored,
//! the browser's session is kept (same user) or started, and the handoff
//! token carries the session id.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use crate::apps::Delivery;
use crate::boundary::MaybeSession;
use crate::delivery::{app_start_url, hand_off, HandOffError};
use crate::login_transaction::{LoginTransaction, TransactionError};
use crate::oidc::OfflineAccess;
use crate::oidc::ProviderError;
use crate::pages::error_page;
use crate::policy::Denial;
use crate::routes::login::{start_sign_in, SignInRequest};
use crate::routes::{query_param, QueryError};
use crate::state::AppState;
use crate::store::SessionRecord;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
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

impl CallbackError {
    /// A fixed label for the metrics.
    fn metric_reason(&self) -> &'static str {
        match self {
            Self::BadQuery(_) | Self::MissingState | Self::Transaction(_) | Self::MissingCode => {
                "bad_callback"
            }
            Self::StaleReturnTo => "stale_return_to",
            Self::Declined => "declined",
            Self::ProviderReported => "provider_error",
            Self::Provider(ProviderError::InvalidIdToken(_)) => "invalid_id_token",
            Self::Provider(ProviderError::CodeRejected(_)) => "code_rejected",
            Self::Provider(ProviderError::WrongResponseIssuer(_)) => "wrong_issuer",
            Self::Provider(_) => "provider_unavailable",
            Self::Denied(_) => "denied",
            Self::Signing(_) => "signing",
            Self::Store(_) => "storage",
        }
    }
}

impl From<HandOffError> for CallbackError {
    fn from(e: HandOffError) -> Self {
        match e {
            HandOffError::Signing(e) => Self::Signing(e),
            HandOffError::Store(e) => Self::Store(e),
            // A sign-in started before codes were bound: start again.
            HandOffError::Unbound => Self::Transaction(TransactionError::NotFound),
        }
    }
}

impl ResponseError for CallbackError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadQuery(_)
            | Self::MissingState
            | Self::Transaction(_)
            | Self::MissingCode
            | Self::StaleReturnTo => StatusCode::BAD_REQUEST,
            Self::Declined | Self::Denied(_) => StatusCode::FORBIDDEN,
            Self::Provider(ProviderError::CodeRejected(_)) => StatusCode::BAD_REQUEST,
            Self::Provider(ProviderError::Discovery(_) | ProviderError::Unreachable(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::ProviderReported | Self::Provider(_) => StatusCode::BAD_GATEWAY,
            Self::Signing(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        tracing::warn!(reason = %self, "sign-in failed");
        service_kit::metrics::count(
            "signins_total",
            "Completed sign-in attempts by outcome.",
            &[("outcome", "failed"), ("reason", self.metric_reason())],
        );
        let again = Some("/login");
        let (title, message, retry) = match self {
            Self::BadQuery(_) | Self::MissingState | Self::Transaction(_) | Self::MissingCode | Self::StaleReturnTo => (
                "This sign-in has expired",
                "The sign-in was already completed, took too long, or was started in another browser.",
                again,
            ),
            Self::Declined => (
                "Sign-in cancelled",
                "You chose not to sign in. You can start again whenever you like.",
                again,
            ),
            Self::Denied(Denial::EmailNotVerified) => (
                "Access denied",
                "Your e-mail address is not verified with your account provider.",
                None,
            ),
            Self::Denied(_) => (
                "Access denied",
                "The account you signed in with is not allowed to use this service. Nothing was saved.",
                None,
            ),
            Self::Provider(ProviderError::CodeRejected(_)) => (
                "Sign-in could not be completed",
                "The sign-in provider did not accept this sign-in. Please start again.",
                again,
            ),
            Self::Provider(ProviderError::Discovery(_) | ProviderError::Unreachable(_)) => (
                "Sign-in provider unavailable",
                "The sign-in provider is not responding. Please try again in a moment.",
                again,
            ),
            Self::ProviderReported | Self::Provider(_) => (
                "Sign-in could not be verified",
                "The answer from the sign-in provider could not be verified. Please try again.",
                again,
            ),
            Self::Signing(_) => ("Something went wrong", "Please try again in a moment.", again),
            Self::Store(_) => (
                "Sign-in is unavailable",
                "Sign-in is temporarily unavailable. Please try again in a moment.",
                again,
            ),
        };
        error_page(self.status_code(), title, message, retry)
    }
}

pub async fn callback(
    MaybeSession(session): MaybeSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut response = match complete(&req, &state, session).await {
        Ok(response) => response,
        Err(e) => e.error_response(),
    };
    if let Ok(Some(state_param)) = query_param(&req, "state") {
        let _ = response.add_cookie(&LoginTransaction::removal_cookie(&state_param));
    }
    response
}

async fn complete(
    req: &HttpRequest,
    state: &AppState,
    session: Option<SessionRecord>,
) -> Result<HttpResponse, CallbackError> {
    let state_param = query_param(req, "state")?.ok_or(CallbackError::MissingState)?;
    let transaction = LoginTransaction::from_request(
        req,
        &state_param,
        &state.cookie_key,
        state.clock.unix_seconds(),
        state.login_timeout,
    )?;
    let binding = transaction
        .binding
        .as_deref()
        .and_then(crate::delivery::BrowserBinding::parse);

    // RFC 9207, for error responses as for codes: an answer naming another
    // issuer (or none, from a provider that promised one) is refused.
    state
        .oidc
        .check_response_issuer(query_param(req, "iss")?.as_deref())
        .await?;

    if let Some(error) = query_param(req, "error")? {
        if error == "access_denied" {
            return Err(CallbackError::Declined);
        }
        // The value comes from the query string: log only a bounded, plain form.
        let code: String = error
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(40)
            .collect();
        tracing::warn!(provider_error = %code, "provider returned an error");
        return Err(CallbackError::ProviderReported);
    }
    let code = query_param(req, "code")?.ok_or(CallbackError::MissingCode)?;

    let requested_scopes = state.oidc.requested_scopes(&transaction.extra_scopes);
    let sign_in = state
        .oidc
        .exchange(
            code,
            transaction.pkce_verifier,
            &transaction.nonce,
            &requested_scopes,
        )
        .await?;
    let identity = sign_in.identity;
    state.policy.check(&identity)?;
    let return_to = state
        .apps
        .return_to(&transaction.return_to)
        .map_err(|_| CallbackError::StaleReturnTo)?;

    let wants_offline = state.oidc.offline_access() != OfflineAccess::Off;
    if wants_offline
        && sign_in.tokens.refresh_token.is_none()
        && !transaction.consent_forced
        && !state.broker.has_usable_grant(&identity.subject).await?
    {
        tracing::info!("no refresh token sent or stored; asking once more, with consent");
        return Ok(start_sign_in(
            state,
            req,
            SignInRequest {
                return_to,
                extra_scopes: transaction.extra_scopes,
                force_consent: true,
                login_hint: identity.email.clone(),
                binding,
            },
        )
        .await?);
    }
    let email = identity.email.clone().unwrap_or_default();
    state
        .broker
        .record_sign_in(&identity, &email, &sign_in.tokens)
        .await?;

    let mut response = HttpResponse::Found();
    // Before the cookie is replaced: was this person signed out everywhere
    // else in this browser since their last visit?
    let signed_out_at = if state.sessions.settings().signed_out_notice {
        state
            .sessions
            .signed_out_everywhere_at(req, &identity.subject)
            .await?
    } else {
        None
    };
    let session = match session {
        Some(session) if session.subject == identity.subject => {
            state
                .sessions
                .signed_in_again(session, &identity, &email, sign_in.provider_sid.as_deref())
                .await?
        }
        other => {
            if let Some(someone_else) = other {
                // Another account signs in in this browser: end the old session.
                state.sessions.revoke(&someone_else).await?;
            }
            let (session, cookie) = state
                .sessions
                .start(req, &identity, &email, sign_in.provider_sid.as_deref())
                .await?;
            response.cookie(cookie);
            session
        }
    };
    tracing::info!(
        subject = %identity.subject,
        app = return_to.audience(),
        refresh_token = sign_in.tokens.refresh_token.is_some(),
        "sign-in completed"
    );
    service_kit::metrics::count(
        "signins_total",
        "Completed sign-in attempts by outcome.",
        &[("outcome", "success"), ("reason", "")],
    );
    let handed_off = match (signed_out_at, state.handoff.delivery()) {
        // A one-time code lives a minute: minted now, it would wait behind
        // the notice's Continue and could expire. Continue goes through the
        // app's start route instead, which binds the browser afresh and
        // renews on the live session: the code is minted on the click.
        (Some(_), Delivery::Code) => response
            .insert_header((
                header::LOCATION,
                app_start_url(&return_to, true, None).as_str(),
            ))
            .finish(),
        _ => {
            hand_off(
                state,
                &identity,
                &session.id,
                &return_to,
                binding.as_ref(),
                response,
            )
            .await?
        }
    };
    Ok(match signed_out_at {
        Some(at) => crate::pages::signed_out_notice(handed_off, at),
        None => handed_off,
    })
}

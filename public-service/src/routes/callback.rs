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
use crate::flows::sign_in::{self, Callback, Finished, SignedIn};
use crate::login_transaction::{LoginTransaction, TransactionError};
use crate::oidc::ProviderError;
use crate::pages::error_page;
use crate::policy::Denial;
use crate::routes::query_params;
use crate::state::AppState;
use crate::store::SessionRecord;

pub use crate::flows::sign_in::SignInError as CallbackError;

/// A fixed label for the metrics.
fn metric_reason(e: &CallbackError) -> &'static str {
    use CallbackError as E;
    {
        match e {
            E::BadQuery(_) | E::MissingState | E::Transaction(_) | E::MissingCode => "bad_callback",
            E::StaleReturnTo => "stale_return_to",
            E::Declined => "declined",
            E::ProviderReported => "provider_error",
            E::Provider(ProviderError::InvalidIdToken(_)) => "invalid_id_token",
            E::Provider(ProviderError::CodeRejected(_)) => "code_rejected",
            E::Provider(ProviderError::WrongResponseIssuer(_)) => "wrong_issuer",
            E::Provider(_) => "provider_unavailable",
            E::Denied(_) => "denied",
            E::Signing(_) => "signing",
            E::Store(_) => "storage",
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
            &[("outcome", "failed"), ("reason", metric_reason(self))],
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
    // The query is read once: see `query_params`.
    let params = query_params(&req, ["state", "iss", "error", "code"]);
    let removal = match &params[0] {
        Ok(Some(state_param)) => Some(LoginTransaction::removal_cookie(state_param)),
        _ => None,
    };
    let mut response = match complete(&req, &state, session, params).await {
        Ok(response) => response,
        Err(e) => e.error_response(),
    };
    if let Some(removal) = removal {
        let _ = response.add_cookie(&removal);
    }
    response
}

async fn complete(
    req: &HttpRequest,
    state: &AppState,
    session: Option<SessionRecord>,
    [state_param, iss, error, code]: [Result<Option<String>, crate::http::QueryError>; 4],
) -> Result<HttpResponse, CallbackError> {
    let state_param = state_param?.ok_or(CallbackError::MissingState)?;
    let transaction = LoginTransaction::from_request(
        req,
        &state_param,
        &state.cookie_key,
        state.clock.unix_seconds(),
        state.login_timeout,
    )?;
    let callback = Callback {
        transaction,
        iss: iss?,
        error: error?,
        code: code?,
    };
    let deps = state.sign_in();
    let signed_in = match sign_in::finish(&deps, req, callback, session).await? {
        Finished::AskConsent(request) => return Ok(sign_in::start(&deps, req, request).await?),
        Finished::SignedIn(signed_in) => signed_in,
    };
    service_kit::metrics::count(
        "signins_total",
        "Completed sign-in attempts by outcome.",
        &[("outcome", "success"), ("reason", "")],
    );
    let SignedIn {
        identity,
        session,
        new_cookie,
        return_to,
        binding,
        signed_out_at,
        to_sessions_page,
    } = *signed_in;
    let mut response = HttpResponse::Found();
    if let Some(cookie) = new_cookie {
        response.cookie(cookie);
    }
    if to_sessions_page {
        // Started from the sessions page: back there, signed in here; the
        // app gets its token when the person goes back to it.
        let mut page = state.url(crate::routes::SESSIONS_PAGE);
        page.query_pairs_mut()
            .append_pair("return_to", return_to.as_str());
        return Ok(response
            .insert_header((header::LOCATION, page.as_str()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish());
    }
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

//! `GET /login?return_to=…`: start a sign-in.
//!
//! Checks `return_to` against the registered apps, seals a login
//! transaction into a cookie of its own, and redirects to the provider.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use crate::apps::ReturnToError;
use crate::login_transaction::LoginTransaction;
use crate::oidc::ProviderError;
use crate::pages::error_page;
use crate::routes::{query_param, QueryError};
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("bad query: {0}")]
    BadQuery(#[from] QueryError),
    #[error("refused return_to: {0}")]
    BadReturnTo(#[from] ReturnToError),
    #[error("provider unavailable: {0}")]
    Provider(#[from] ProviderError),
}

impl ResponseError for LoginError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadQuery(_) | Self::BadReturnTo(_) => StatusCode::BAD_REQUEST,
            Self::Provider(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        tracing::warn!(reason = %self, "sign-in not started");
        match self {
            Self::BadQuery(_) | Self::BadReturnTo(_) => error_page(
                self.status_code(),
                "This sign-in link is not valid",
                "The page that sent you here asked to return to an address this service does not sign in to.",
                None,
            ),
            Self::Provider(_) => error_page(
                self.status_code(),
                "Sign-in is unavailable",
                "The sign-in provider cannot be reached right now. Please try again in a moment.",
                None,
            ),
        }
    }
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, LoginError> {
    let return_to = match query_param(&req, "return_to")? {
        Some(raw) => state.apps.return_to(&raw)?,
        None => state.apps.default_return_to(),
    };
    let request = state.oidc.authorization_request().await?;
    let transaction = LoginTransaction {
        state: request.state,
        nonce: request.nonce,
        pkce_verifier: request.pkce_verifier,
        return_to: return_to.as_str().to_owned(),
        created_at: state.clock.unix_seconds(),
    };
    tracing::info!(app = return_to.audience(), "sign-in started");
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, request.url.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(transaction.to_cookie(&state.cookie_key, state.login_timeout))
        .finish())
}

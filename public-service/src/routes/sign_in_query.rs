//! What the browser's sign-in routes (`/login`, `/renew`) read from the
//! query, and how their failures are answered.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::apps::{Delivery, ReturnTo, ReturnToError};
use crate::delivery::BrowserBinding;
use crate::oidc::ProviderError;
use crate::pages::error_page;
use crate::routes::{query_params, QueryError};
use crate::state::AppState;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("bad query: {0}")]
    BadQuery(#[from] QueryError),
    #[error("refused return_to: {0}")]
    BadReturnTo(#[from] ReturnToError),
    #[error("next is not a page of this service")]
    BadNext,
    #[error("a requested scope is not on the allowlist")]
    ScopeNotAllowed,
    #[error("the binding parameter is not a binding")]
    BadBinding,
    #[error("a code without a browser binding was asked for")]
    Unbound,
    #[error("provider unavailable: {0}")]
    Provider(#[from] ProviderError),
    #[error("storage unavailable: {0}")]
    Store(#[from] StoreError),
    #[error("signing the handoff token failed")]
    Signing(#[from] handoff_guard::login_service::SignError),
}

impl From<crate::delivery::HandOffError> for LoginError {
    fn from(e: crate::delivery::HandOffError) -> Self {
        match e {
            crate::delivery::HandOffError::Signing(e) => Self::Signing(e),
            crate::delivery::HandOffError::Store(e) => Self::Store(e),
            crate::delivery::HandOffError::Unbound => Self::Unbound,
        }
    }
}

impl ResponseError for LoginError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadQuery(_)
            | Self::BadReturnTo(_)
            | Self::ScopeNotAllowed
            | Self::BadBinding
            | Self::BadNext
            | Self::Unbound => StatusCode::BAD_REQUEST,
            Self::Provider(_) | Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Signing(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        tracing::warn!(reason = %self, "sign-in not started");
        match self {
            Self::BadQuery(_)
            | Self::BadReturnTo(_)
            | Self::BadBinding
            | Self::BadNext
            | Self::Unbound => error_page(
                self.status_code(),
                "This sign-in link is not valid",
                "The page that sent you here asked to return to an address this service does not sign in to.",
                None,
            ),
            Self::ScopeNotAllowed => error_page(
                self.status_code(),
                "This sign-in link is not valid",
                "The page that sent you here asked for a permission this service does not request.",
                None,
            ),
            Self::Provider(_) => error_page(
                self.status_code(),
                "Sign-in is unavailable",
                "The sign-in provider cannot be reached right now. Please try again in a moment.",
                None,
            ),
            Self::Store(_) => error_page(
                self.status_code(),
                "Sign-in is unavailable",
                "Sign-in is temporarily unavailable. Please try again in a moment.",
                None,
            ),
            Self::Signing(_) => error_page(
                self.status_code(),
                "Something went wrong",
                "Please try again in a moment.",
                None,
            ),
        }
    }
}

/// What the request says about the browser's binding.
pub enum Bound {
    Yes(BrowserBinding),
    /// Cookie delivery: no code, nothing to bind.
    NotNeeded,
    /// Code delivery and no binding: the browser must get one first.
    Missing,
}

/// The parameters the sign-in routes read, from one pass over the query;
/// each is refused as [`crate::http::query_param`] would refuse it, when
/// it is used.
pub struct SignInQuery {
    return_to: Result<Option<String>, QueryError>,
    binding: Result<Option<String>, QueryError>,
    scope: Result<Option<String>, QueryError>,
    next: Result<Option<String>, QueryError>,
}

impl SignInQuery {
    pub fn read(req: &HttpRequest) -> Self {
        let [return_to, binding, scope, next] = query_params(
            req,
            [
                "return_to",
                handoff_guard::login_service::BINDING_PARAM,
                "scope",
                "next",
            ],
        );
        Self {
            return_to,
            binding,
            scope,
            next,
        }
    }

    /// `scope`: the extra scopes asked for, space-separated.
    pub fn scope(&self) -> Result<Option<&str>, QueryError> {
        self.scope.as_ref().map(Option::as_deref).map_err(|e| *e)
    }

    /// `next`: where to go after signing in when it is not the app.
    pub fn next(&self) -> Result<Option<&str>, QueryError> {
        self.next.as_ref().map(Option::as_deref).map_err(|e| *e)
    }
}

/// The `binding` parameter; refused when it is there but not a binding.
pub fn binding(query: &SignInQuery, state: &AppState) -> Result<Bound, LoginError> {
    let binding = query
        .binding
        .as_ref()
        .map_err(|e| *e)?
        .as_deref()
        .map(|p| BrowserBinding::parse(p).ok_or(LoginError::BadBinding))
        .transpose()?;
    Ok(match (state.handoff.delivery(), binding) {
        (Delivery::Cookie { .. }, _) => Bound::NotNeeded,
        (Delivery::Code, Some(binding)) => Bound::Yes(binding),
        (Delivery::Code, None) => Bound::Missing,
    })
}

/// The validated `return_to`, or the default app when there is none.
pub fn return_to(query: &SignInQuery, state: &AppState) -> Result<ReturnTo, LoginError> {
    Ok(match query.return_to.as_ref().map_err(|e| *e)? {
        Some(raw) => state.apps.return_to(raw)?,
        None => state.apps.default_return_to(),
    })
}

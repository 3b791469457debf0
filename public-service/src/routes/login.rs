//! `GET /login?return_to=…[&scope=…]`: start a sign-in.
//!
//! Checks `return_to` against the registered apps and any extra scopes
//! against the configured allowlist (`OIDC_OPTIONAL_SCOPES`, in any of a
//! scope's spellings; configured scopes are accepted and asked anyway),
//! seals a login transaction into a cookie of its own, and redirects to
//! the provider. With code delivery the browser's `binding` goes into the
//! transaction; a browser without one is sent to the app first to be given
//! one (see [`crate::delivery::bounce_to_app`]). The consent screen is
//! forced only for a user known to this browser (by their session) whose
//! refresh token is missing: Google sends a refresh token only with consent.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use crate::apps::{Delivery, ReturnTo, ReturnToError};
use crate::boundary::MaybeSession;
use crate::delivery::{bounce_to_app, BrowserBinding};
use crate::login_transaction::LoginTransaction;
use crate::oidc::OfflineAccess;
use crate::oidc::{AuthorizationOptions, ProviderError};
use crate::pages::error_page;
use crate::routes::{query_param, QueryError};
use crate::scopes;
use crate::state::AppState;
use crate::store::StoreError;

/// Most extra scopes one sign-in may ask for.
const MAX_EXTRA_SCOPES: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("bad query: {0}")]
    BadQuery(#[from] QueryError),
    #[error("refused return_to: {0}")]
    BadReturnTo(#[from] ReturnToError),
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
            | Self::Unbound => StatusCode::BAD_REQUEST,
            Self::Provider(_) | Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Signing(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        tracing::warn!(reason = %self, "sign-in not started");
        match self {
            Self::BadQuery(_) | Self::BadReturnTo(_) | Self::BadBinding | Self::Unbound => error_page(
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

/// What to ask the provider for, and where to go afterwards.
pub struct SignInRequest {
    pub return_to: ReturnTo,
    pub extra_scopes: Vec<String>,
    pub force_consent: bool,
    pub login_hint: Option<String>,
    /// The browser's binding; required with code delivery.
    pub binding: Option<BrowserBinding>,
}

pub async fn login(
    MaybeSession(session): MaybeSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, LoginError> {
    let return_to = return_to(&req, &state)?;
    let extra_scopes = extra_scopes(&req, &state)?;
    let binding = match binding(&req, &state)? {
        Bound::Yes(binding) => Some(binding),
        Bound::NotNeeded => None,
        Bound::Missing => {
            let scope = query_param(&req, "scope")?;
            return Ok(bounce_to_app(&return_to, false, scope.as_deref()));
        }
    };
    let (force_consent, login_hint) = match session {
        Some(session) => {
            let needs_refresh_token = state.oidc.offline_access() != OfflineAccess::Off
                && !state.broker.has_usable_grant(&session.subject).await?;
            (needs_refresh_token, Some(session.email))
        }
        None => (false, None),
    };
    Ok(start_sign_in(
        &state,
        &req,
        SignInRequest {
            return_to,
            extra_scopes,
            force_consent,
            login_hint,
            binding,
        },
    )
    .await?)
}

/// What the request says about the browser's binding.
pub enum Bound {
    Yes(BrowserBinding),
    /// Cookie delivery: no code, nothing to bind.
    NotNeeded,
    /// Code delivery and no binding: the browser must get one first.
    Missing,
}

/// The `binding` parameter; refused when it is there but not a binding.
pub fn binding(req: &HttpRequest, state: &AppState) -> Result<Bound, LoginError> {
    let param = query_param(req, handoff_guard::login_service::BINDING_PARAM)?;
    let binding = param
        .map(|p| BrowserBinding::parse(&p).ok_or(LoginError::BadBinding))
        .transpose()?;
    Ok(match (state.handoff.delivery(), binding) {
        (Delivery::Cookie { .. }, _) => Bound::NotNeeded,
        (Delivery::Code, Some(binding)) => Bound::Yes(binding),
        (Delivery::Code, None) => Bound::Missing,
    })
}

/// The validated `return_to`, or the default app when there is none.
pub fn return_to(req: &HttpRequest, state: &AppState) -> Result<ReturnTo, LoginError> {
    Ok(match query_param(req, "return_to")? {
        Some(raw) => state.apps.return_to(&raw)?,
        None => state.apps.default_return_to(),
    })
}

fn extra_scopes(req: &HttpRequest, state: &AppState) -> Result<Vec<String>, LoginError> {
    let Some(raw) = query_param(req, "scope")? else {
        return Ok(Vec::new());
    };
    let mut scopes: Vec<String> = Vec::new();
    for scope in raw.split_whitespace() {
        // A configured scope is asked for anyway (the broker's `login_url`
        // may name one a revoked grant lacked): nothing to add.
        if state
            .oidc
            .configured_scopes()
            .iter()
            .any(|configured| scopes::same(configured, scope))
        {
            continue;
        }
        // Asked for in the operator's spelling, whichever the link used.
        let Some(allowed) = state
            .optional_scopes
            .iter()
            .find(|allowed| scopes::same(allowed, scope))
        else {
            return Err(LoginError::ScopeNotAllowed);
        };
        if !scopes.iter().any(|s| s == allowed) {
            scopes.push(allowed.clone());
        }
    }
    if scopes.len() > MAX_EXTRA_SCOPES {
        return Err(LoginError::ScopeNotAllowed);
    }
    Ok(scopes)
}

/// Seals a new login transaction and sends the browser to the provider;
/// the oldest of the transactions `req` carries beyond
/// [`crate::login_transaction::MAX_PENDING`] go (see there).
pub async fn start_sign_in(
    state: &AppState,
    req: &HttpRequest,
    request: SignInRequest,
) -> Result<HttpResponse, ProviderError> {
    let authorization = state
        .oidc
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
        created_at: state.clock.unix_seconds(),
        extra_scopes: request.extra_scopes,
        consent_forced: request.force_consent,
        binding: request.binding.map(|b| b.encoded()),
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
        &state.cookie_key,
        transaction.created_at,
        state.login_timeout,
    ) {
        response.cookie(stale);
    }
    Ok(response
        .cookie(transaction.to_cookie(&state.cookie_key, state.login_timeout))
        .finish())
}

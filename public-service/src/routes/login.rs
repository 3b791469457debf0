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

use actix_web::{web, HttpRequest, HttpResponse};

use crate::boundary::MaybeSession;
use crate::delivery::bounce_to_app;
use crate::flows::sign_in::{self, SignInRequest};
use crate::oidc::OfflineAccess;
use crate::routes::sign_in_query::{binding, return_to, Bound, LoginError, SignInQuery};
use crate::scopes;
use crate::state::AppState;

/// Most extra scopes one sign-in may ask for.
const MAX_EXTRA_SCOPES: usize = 10;

pub async fn login(
    MaybeSession(session): MaybeSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, LoginError> {
    let query = SignInQuery::read(&req);
    let return_to = return_to(&query, &state)?;
    let extra_scopes = extra_scopes(&query, &state)?;
    let to_sessions_page = to_sessions_page(&query)?;
    let binding = match binding(&query, &state)? {
        Bound::Yes(binding) => Some(binding),
        Bound::NotNeeded => None,
        // Back to the sessions page: no code is handed to an app.
        Bound::Missing if to_sessions_page => None,
        Bound::Missing => {
            return Ok(bounce_to_app(&return_to, false, query.scope()?));
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
    let request = SignInRequest {
        return_to,
        extra_scopes,
        force_consent,
        login_hint,
        binding,
        to_sessions_page,
    };
    Ok(sign_in::start(&state.sign_in(), &req, request).await?)
}

fn extra_scopes(query: &SignInQuery, state: &AppState) -> Result<Vec<String>, LoginError> {
    let Some(raw) = query.scope()? else {
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

/// `next`: where the browser goes after signing in when it is not the
/// app. Only this service's sessions page; anything else is refused, not
/// ignored (no open redirect, no guessing).
fn to_sessions_page(query: &SignInQuery) -> Result<bool, LoginError> {
    match query.next()? {
        None => Ok(false),
        Some(crate::routes::SESSIONS_PAGE) => Ok(true),
        Some(_) => Err(LoginError::BadNext),
    }
}

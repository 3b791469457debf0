//! `POST /broker/token`: a fresh provider access token for a signed-in
//! user, for a trusted backend.
//!
//! The caller authenticates with a provider-signed service-account ID
//! token (audience: this service's URL; e-mail on `BROKER_ALLOWED_CALLERS`).
//! Request: `{"subject": "<the user's sub>", "scopes": ["…"]}` (`scopes`
//! optional: the token must carry them). Answers:
//! - `200` `{"access_token", "token_type", "expires_in", "expires_at", "scope"}`
//!   (`scope` in the names the operator wrote, whatever the provider
//!   reported: [`crate::scopes`]);
//! - `403` `{"error": "consent_required", "login_url"}`: the user has no
//!   grant, it was revoked, or it lacks a scope; send them to `login_url`;
//! - `400` `invalid_request` / `invalid_scope`, `401` `invalid_token`,
//!   `403` `caller_not_allowed`, `503` `temporarily_unavailable`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use crate::routes::{json_answer, temporarily_unavailable};
use crate::scopes;
use crate::state::AppState;
use crate::token_broker::BrokerError;

const MAX_SUBJECT_LEN: usize = 255;
const MAX_SCOPES: usize = 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    subject: String,
    #[serde(default)]
    scopes: Vec<String>,
}

pub async fn access_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let Some(callers) = &state.callers else {
        return json_answer(
            StatusCode::NOT_FOUND,
            json!({ "error": "not_found", "message": "The token broker is not enabled." }),
        );
    };
    let caller = match callers.authenticate(&req).await {
        Ok(caller) => caller,
        Err(e) => return e.error_response(),
    };
    if let Some(refused) = crate::routes::over_caller_limit(&req, |l| &l.broker, &caller.email) {
        return refused;
    }
    let request: TokenRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(_) => {
            return json_answer(
                StatusCode::BAD_REQUEST,
                json!({ "error": "invalid_request", "message": "Send {\"subject\": \"…\", \"scopes\": [\"…\"]} as JSON." }),
            )
        }
    };
    if request.subject.is_empty()
        || request.subject.len() > MAX_SUBJECT_LEN
        || request.scopes.len() > MAX_SCOPES
    {
        return json_answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": "invalid_request", "message": "subject or scopes out of bounds." }),
        );
    }
    let known = state.oidc.requested_scopes(&state.optional_scopes);
    if let Some(unknown) = request
        .scopes
        .iter()
        .find(|s| !known.iter().any(|k| scopes::same(k, s)))
    {
        return json_answer(
            StatusCode::BAD_REQUEST,
            json!({
                "error": "invalid_scope",
                "message": format!("{unknown:?} is neither a configured nor an optional scope."),
            }),
        );
    }

    match state
        .broker
        .access_token(&request.subject, &request.scopes)
        .await
    {
        Ok(token) => {
            let now = state.clock.unix_seconds();
            tracing::info!(caller = %caller.email, subject = %request.subject, "access token brokered");
            json_answer(
                StatusCode::OK,
                json!({
                    "access_token": token.token.expose_secret(),
                    "token_type": "Bearer",
                    "expires_in": token.expires_at.saturating_sub(now),
                    "expires_at": token.expires_at,
                    "scope": operator_names(&state, &token.scopes),
                }),
            )
        }
        Err(BrokerError::ConsentRequired { missing_scopes }) => {
            tracing::info!(caller = %caller.email, subject = %request.subject, "consent required");
            let mut login_url = state.url("/login");
            {
                let mut query = login_url.query_pairs_mut();
                query.append_pair("return_to", state.apps.default_return_to().as_str());
                // Only scopes beyond the configured ones (those are always
                // asked), in the names `/login` accepts: the operator's.
                let extra: Vec<&str> = missing_scopes
                    .iter()
                    .filter(|s| {
                        !state
                            .oidc
                            .configured_scopes()
                            .iter()
                            .any(|c| scopes::same(c, s))
                    })
                    .map(|s| scopes::as_written(s, &state.optional_scopes))
                    .collect();
                if !extra.is_empty() {
                    query.append_pair("scope", &extra.join(" "));
                }
            }
            json_answer(
                StatusCode::FORBIDDEN,
                json!({
                    "error": "consent_required",
                    "message": "The user must sign in and grant access again.",
                    "login_url": login_url.as_str(),
                }),
            )
        }
        Err(e) => {
            tracing::warn!(caller = %caller.email, reason = %e, "access token not available");
            temporarily_unavailable()
        }
    }
}

/// The granted `scopes` (stored canonically) as a `scope` value in the
/// names the operator wrote in `OIDC_SCOPES` / `OIDC_OPTIONAL_SCOPES`.
fn operator_names(state: &AppState, granted: &[String]) -> String {
    let names = state.oidc.requested_scopes(&state.optional_scopes);
    granted
        .iter()
        .map(|s| scopes::as_written(s, &names))
        .collect::<Vec<_>>()
        .join(" ")
}

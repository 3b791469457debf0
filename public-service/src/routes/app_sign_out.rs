//! `POST /sessions/end`: an app signs its user out, server to server.
//!
//! With separate sites the browser's session cookie (`SameSite=Lax`, on
//! this service's site) does not travel with a form posted from the app,
//! so the app's own sign-out route (`handoff_guard::handoff_code`) ends the
//! session here instead: it proves it is the app (its service account's ID
//! token) and that it holds a handoff token of that session addressed to
//! it. An app can only end sessions it was handed. Request:
//! `{"handoff_token": "…"}`; answer: `200` `{"signed_out_url": "…"}`.
//!
//! `POST /sessions/status`, same request: `200` `{"ended": true|false}`,
//! whether the session of a token the app holds is over. The app's
//! `GET /auth/signed-out` asks before it forgets its cookie, so a link
//! from another site cannot sign its user out of the app (a `GET` never
//! ends or forgets a live session).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::routes::{app_caller, json_answer, temporarily_unavailable};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndRequest {
    handoff_token: String,
}

pub async fn end_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let claims = match handed_to_the_caller(&req, &state, &body).await {
        Ok(claims) => claims,
        Err(refused) => return refused,
    };
    let session = match state.store.session(&claims.sid).await {
        Ok(session) => session,
        Err(e) => {
            tracing::warn!(reason = %e, "session end failed on storage");
            return temporarily_unavailable();
        }
    };
    if let Some(session) = session {
        match state.sessions.revoke(&session).await {
            Ok(_) => tracing::info!(app = %claims.aud, "signed out by the app"),
            Err(e) => {
                tracing::warn!(reason = %e, "session end failed on storage");
                return temporarily_unavailable();
            }
        }
        if state.sign_out.revoke_grant {
            if let Err(e) = state.broker.revoke(&session.subject).await {
                tracing::warn!(reason = %e, "grant not revoked at sign-out");
            }
        }
    }
    let mut signed_out = state.url("/signed-out");
    signed_out
        .query_pairs_mut()
        .append_pair("return_to", &format!("{}/", claims.aud));
    let mut destination = signed_out.clone();
    if state.sign_out.end_provider_session {
        let return_to = format!("{}/", claims.aud);
        if let Some(end_session) = state
            .oidc
            .end_session_url(&state.url("/signed-out"), &return_to)
            .await
        {
            destination = end_session;
        }
    }
    json_answer(
        StatusCode::OK,
        json!({ "signed_out_url": destination.as_str() }),
    )
}

pub async fn session_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let claims = match handed_to_the_caller(&req, &state, &body).await {
        Ok(claims) => claims,
        Err(refused) => return refused,
    };
    let ended = match state.store.session(&claims.sid).await {
        Ok(Some(session)) => state.sessions.validity(&session).is_err(),
        Ok(None) => true,
        Err(e) => {
            tracing::warn!(reason = %e, "session status failed on storage");
            return temporarily_unavailable();
        }
    };
    json_answer(StatusCode::OK, json!({ "ended": ended }))
}

/// The claims of the request's handoff token, verified for an app whose
/// service account is the authenticated caller; or the refusal.
async fn handed_to_the_caller(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
) -> Result<handoff_guard::HandoffClaims, HttpResponse> {
    let caller = app_caller(req, state).await?;
    let Ok(request) = serde_json::from_slice::<EndRequest>(body) else {
        return Err(json_answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": "invalid_request" }),
        ));
    };
    let apps = state
        .apps
        .apps()
        .iter()
        .filter(|app| app.service_account() == Some(caller.email.as_str()));
    for app in apps {
        if let Ok(verified) = state
            .handoff
            .verify_for(&request.handoff_token, app.audience())
            .await
        {
            return Ok(verified);
        }
    }
    tracing::warn!(caller = %caller.email, "refused: no valid handoff token for the caller's app");
    Err(json_answer(
        StatusCode::BAD_REQUEST,
        json!({ "error": "invalid_grant" }),
    ))
}

//! `POST /sessions/end`: an app signs its user out, server to server.
//!
//! With separate sites the browser's session cookie (`SameSite=Lax`, on
//! this service's site) does not travel with a form posted from the app,
//! so the app's own sign-out route (`shared::handoff_code`) ends the
//! session here instead: it proves it is the app (its service account's ID
//! token) and that it holds a handoff token of that session addressed to
//! it. An app can only end sessions it was handed. Request:
//! `{"handoff_token": "…"}`; answer: `200` `{"signed_out_url": "…"}`.

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
    let caller = match app_caller(&req, &state).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    let Ok(request) = serde_json::from_slice::<EndRequest>(&body) else {
        return json_answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": "invalid_request" }),
        );
    };
    let apps: Vec<_> = state
        .apps
        .apps()
        .iter()
        .filter(|app| app.service_account() == Some(caller.email.as_str()))
        .collect();
    let mut claims = None;
    for app in apps {
        if let Ok(verified) = state
            .handoff
            .verify_for(&request.handoff_token, app.audience())
            .await
        {
            claims = Some(verified);
            break;
        }
    }
    let Some(claims) = claims else {
        tracing::warn!(caller = %caller.email, "session end refused: no valid handoff token for the caller's app");
        return json_answer(StatusCode::BAD_REQUEST, json!({ "error": "invalid_grant" }));
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

//! `GET /sessions/revoked?since=<unix seconds>[&after=<session id>]`: the
//! ids of sessions revoked since then (after that id, when paging through
//! one second's revocations), for apps that refuse handoff tokens of signed-out
//! sessions before those expire. Callers are the apps' service accounts
//! (`APP_SERVICE_ACCOUNTS`), authenticated by a provider-signed ID token
//! for this service's URL.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use handoff_guard::revocation::{RevokedPage, RevokedSession};
use serde_json::json;

use crate::routes::{app_caller, json_answer, query_param, temporarily_unavailable};
use crate::state::AppState;

/// Most ids in one answer; `more` says to ask again.
const PAGE: u32 = 1000;

pub async fn revoked_sessions(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(refused) = app_caller(&req, &state).await {
        return refused;
    }
    let since = match query_param(&req, "since") {
        Ok(Some(raw)) => match raw.parse::<u64>() {
            Ok(since) => since,
            Err(_) => return bad_request(),
        },
        _ => return bad_request(),
    };
    let after = match query_param(&req, "after") {
        Ok(after) => after,
        Err(_) => return bad_request(),
    };
    match state
        .store
        .sessions_revoked_since(since, after.as_deref(), PAGE)
        .await
    {
        Ok(ids) => {
            let more = ids.len() == PAGE as usize;
            let page = RevokedPage {
                revoked: ids
                    .into_iter()
                    .map(|(sid, revoked_at)| RevokedSession { sid, revoked_at })
                    .collect(),
                now: state.clock.unix_seconds(),
                more,
            };
            json_answer(
                StatusCode::OK,
                serde_json::to_value(page).unwrap_or_default(),
            )
        }
        Err(e) => {
            tracing::warn!(reason = %e, "revoked sessions not readable");
            temporarily_unavailable()
        }
    }
}

fn bad_request() -> HttpResponse {
    json_answer(
        StatusCode::BAD_REQUEST,
        json!({
            "error": "invalid_request",
            "message": "Give since=<unix seconds> and, to page on, after=<the last session id>.",
        }),
    )
}

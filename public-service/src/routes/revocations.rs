//! `GET /sessions/revoked?since=<unix seconds>`: the ids of sessions
//! revoked since then, for apps that refuse handoff tokens of signed-out
//! sessions before those expire. Callers are the apps' service accounts
//! (`APP_SERVICE_ACCOUNTS`), authenticated by a provider-signed ID token
//! for this service's URL.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;
use shared::revocation::{RevokedPage, RevokedSession};

use crate::routes::query_param;
use crate::state::AppState;

/// Most ids in one answer; `more` says to ask again.
const PAGE: u32 = 1000;

pub async fn revoked_sessions(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(callers) = &state.app_callers else {
        return HttpResponse::NotFound().json(json!({
            "error": "not_found",
            "message": "No app service accounts are configured.",
        }));
    };
    if let Err(e) = callers.authenticate(&req).await {
        return e.error_response();
    }
    let since = match query_param(&req, "since") {
        Ok(Some(raw)) => match raw.parse::<u64>() {
            Ok(since) => since,
            Err(_) => return bad_request(),
        },
        _ => return bad_request(),
    };
    match state.store.sessions_revoked_since(since, PAGE).await {
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
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
                .json(page)
        }
        Err(e) => {
            tracing::warn!(reason = %e, "revoked sessions not readable");
            HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")))
                .json(json!({ "error": "temporarily_unavailable" }))
        }
    }
}

fn bad_request() -> HttpResponse {
    HttpResponse::BadRequest().json(json!({
        "error": "invalid_request",
        "message": "Give since=<unix seconds>.",
    }))
}

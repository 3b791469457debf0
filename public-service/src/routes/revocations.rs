//! `GET /sessions/revoked?since=<unix seconds>[&after=<session id>]`: the
//! ids of sessions revoked since then (after that id, when paging through
//! one second's revocations), for apps that refuse handoff tokens of signed-out
//! sessions before those expire. Callers are the apps' service accounts
//! (`APP_SERVICE_ACCOUNTS`), authenticated by a provider-signed ID token
//! for this service's URL.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use handoff_guard::login_service::{RevokedPage, RevokedSession};
use serde_json::json;

use crate::boundary::AppCaller;
use crate::routes::{json_answer, query_param, temporarily_unavailable};
use crate::state::AppState;
use crate::store::StoreError;

/// Most ids in one answer (as many as an app reads); `more` says to ask
/// again.
const PAGE: u32 = handoff_guard::login_service::PAGE_LEN as u32;

/// Why the feed was not read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("the query is not a cursor")]
    BadCursor,
    #[error("revoked sessions not readable: {0}")]
    Store(#[from] StoreError),
}

impl ResponseError for FeedError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadCursor => StatusCode::BAD_REQUEST,
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::BadCursor => json_answer(
                StatusCode::BAD_REQUEST,
                json!({
                    "error": "invalid_request",
                    "message": "Give since=<unix seconds> and, to page on, after=<the last session id>.",
                }),
            ),
            Self::Store(e) => {
                tracing::warn!(reason = %e, "revoked sessions not readable");
                temporarily_unavailable()
            }
        }
    }
}

/// Any app's service account may read the feed: session ids name no one,
/// and every app needs every ended session (one person, several apps).
pub async fn revoked_sessions(
    _caller: AppCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, FeedError> {
    let (since, after) = cursor(&req).ok_or(FeedError::BadCursor)?;
    let ids = state
        .store
        .sessions_revoked_since(since, after.as_deref(), PAGE)
        .await?;
    let more = ids.len() == PAGE as usize;
    let page = RevokedPage {
        revoked: ids
            .into_iter()
            .map(|(sid, revoked_at)| RevokedSession { sid, revoked_at })
            .collect(),
        now: state.clock.unix_seconds(),
        more,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(page))
}

/// The query's `since` (Unix seconds) and `after` (a session id): one
/// `since`, at most one `after`, each within the length a query parameter
/// may have; `None` refuses the query. Public so the fuzz targets reach
/// the parsing the route uses.
pub fn cursor(req: &HttpRequest) -> Option<(u64, Option<String>)> {
    let since = query_param(req, "since").ok()??.parse::<u64>().ok()?;
    let after = query_param(req, "after").ok()?;
    Some((since, after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_cursor_is_one_since_and_at_most_one_after() {
        let read = |query: &str| {
            cursor(
                &TestRequest::get()
                    .uri(&format!("/sessions/revoked?{query}"))
                    .to_http_request(),
            )
        };
        assert_eq!(read("since=7"), Some((7, None)));
        assert_eq!(
            read("since=7&after=a%2Bb+c"),
            Some((7, Some("a+b c".into())))
        );
        for refused in [
            "",
            "after=a",
            "since=7&since=8",
            "since=7&after=a&after=b",
            "since=-1",
            "since=18446744073709551616",
        ] {
            assert_eq!(read(refused), None, "{refused}");
        }
        let long = "a".repeat(crate::routes::MAX_PARAM_LEN + 1);
        assert_eq!(read(&format!("since=7&after={long}")), None);
    }
}

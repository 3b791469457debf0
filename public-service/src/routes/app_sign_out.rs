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
use actix_web::{web, HttpResponse, ResponseError};
use handoff_guard::MAX_TOKEN_LEN;
use serde::Deserialize;
use serde_json::json;

use crate::boundary::AppCaller;
use crate::flows::sign_out::{self, SignOutError};
use crate::routes::{json_answer, json_object, temporarily_unavailable};
use crate::state::AppState;

/// The body of `/sessions/end` and `/sessions/status`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndRequest {
    pub handoff_token: String,
}

impl EndRequest {
    /// Exactly one JSON object `{"handoff_token": "…"}` with a token no longer than a
    /// handoff token can be ([`MAX_TOKEN_LEN`]); unknown or repeated
    /// fields are refused. Public so the fuzz targets reach the parsing
    /// the routes use.
    pub fn parse(body: &[u8]) -> Option<Self> {
        json_object::<Self>(body).filter(|request| request.handoff_token.len() <= MAX_TOKEN_LEN)
    }
}

pub async fn end_session(
    caller: AppCaller,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppSignOutError> {
    let request = EndRequest::parse(&body).ok_or(SignOutError::Unreadable)?;
    let destination =
        sign_out::sign_out_for_app(&state.sign_out(), &caller, &request.handoff_token).await?;
    Ok(json_answer(
        StatusCode::OK,
        json!({ "signed_out_url": destination.as_str() }),
    ))
}

pub async fn session_status(
    caller: AppCaller,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppSignOutError> {
    let request = EndRequest::parse(&body).ok_or(SignOutError::Unreadable)?;
    let ended = sign_out::has_ended(&state.sign_out(), &caller, &request.handoff_token).await?;
    Ok(json_answer(StatusCode::OK, json!({ "ended": ended })))
}

/// A sign-out error as an app reads it: JSON, never a page.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct AppSignOutError(#[from] SignOutError);

impl ResponseError for AppSignOutError {
    fn status_code(&self) -> StatusCode {
        match self.0 {
            SignOutError::Unreadable | SignOutError::NotHandedToCaller => StatusCode::BAD_REQUEST,
            SignOutError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match &self.0 {
            SignOutError::Unreadable => json_answer(
                StatusCode::BAD_REQUEST,
                json!({ "error": "invalid_request" }),
            ),
            SignOutError::NotHandedToCaller => {
                json_answer(StatusCode::BAD_REQUEST, json!({ "error": "invalid_grant" }))
            }
            SignOutError::Store(e) => {
                tracing::warn!(reason = %e, "an app's sign-out failed on storage");
                temporarily_unavailable()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_out_body_is_one_object_with_a_handoff_token() {
        let read = EndRequest::parse(br#" {"handoff_token":"a.b.c"}"#).unwrap();
        assert_eq!(read.handoff_token, "a.b.c");
        let longest = serde_json::json!({ "handoff_token": "t".repeat(MAX_TOKEN_LEN) });
        assert!(EndRequest::parse(longest.to_string().as_bytes()).is_some());
        let longer = serde_json::json!({ "handoff_token": "t".repeat(MAX_TOKEN_LEN + 1) });
        for refused in [
            longer.to_string().as_bytes(),
            br#"{"handoff_token":"a","handoff_token":"b"}"#,
            br#"{"handoff_token":"a","sid":"s"}"#,
            br#"{"handoff_token":1}"#,
            b"",
        ] {
            assert!(EndRequest::parse(refused).is_none(), "{refused:?}");
        }
    }

    #[test]
    fn a_sign_out_body_that_is_an_array_is_refused() {
        // Caught by the invariant of fuzz/fuzz_targets/back_channel_json.rs:
        // the derived reader took `[""]` for the token.
        for refused in [&br#"[""]"#[..], br#" ["a.b.c"]"#] {
            assert!(EndRequest::parse(refused).is_none(), "{refused:?}");
        }
    }
}

//! `POST /backchannel-logout`: the provider ends sessions, server to server
//! (OpenID Connect Back-Channel Logout 1.0,
//! <https://openid.net/specs/openid-connect-backchannel-1_0.html>).
//!
//! Off (`404`) unless discovery advertises `backchannel_logout_supported`
//! (section 2.1; Google does not) and `BACKCHANNEL_LOGOUT` is not `off`.
//! The request is a form with one `logout_token` (section 2.5), verified
//! as [`crate::oidc::logout_token`] says (section 2.6) with the provider's
//! keys; its `jti` is recorded and the sessions it names revoked in one
//! transaction (a replay changes nothing), and revocation feeds the apps'
//! `/sessions/revoked` like any sign-out (section 2.7: the apps' copies of
//! the session end with it). The grant stays: a logout ends sessions, not
//! the offline access a user gave (sign-out's `SIGN_OUT_REVOKES_GRANT` is
//! for that), as section 2.7 has it for `offline_access` refresh tokens;
//! where a provider's refresh token is not offline, docs/security.md says
//! why it is kept all the same. Answers (section 2.8): `200` with `Cache-Control: no-store`,
//! or `400` `{"error": "invalid_request", "error_description": …}`.
//! The route is rate-limited per client address
//! (`RATE_LIMIT_BACK_CHANNEL_PER_MINUTE`), and an unknown `kid` re-fetches
//! the provider's keys at most once per interval.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use crate::flows::back_channel_logout::{self, BackChannelLogout, LogoutError};
use crate::oidc::logout_token::{LogoutTokenError, MAX_LEN};
use crate::routes::{json_answer, temporarily_unavailable};
use crate::state::AppState;

pub async fn backchannel_logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, LogoutError> {
    let deps = BackChannelLogout {
        provider: state.oidc.as_ref(),
        store: &*state.store,
        clock: &state.clock,
    };
    back_channel_logout::end_sessions(&deps, logout_token_of(&req, &body)).await?;
    count("ended", "");
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    Ok(response.finish())
}

impl ResponseError for LogoutError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Disabled => StatusCode::NOT_FOUND,
            Self::Unreadable(_) | Self::Refused(_) | Self::Replayed => StatusCode::BAD_REQUEST,
            Self::Provider(_) | Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Disabled => json_answer(
                StatusCode::NOT_FOUND,
                json!({
                    "error": "not_found",
                    "error_description": "Back-channel logout is not enabled: the provider does not advertise backchannel_logout_supported, or BACKCHANNEL_LOGOUT=off.",
                }),
            ),
            Self::Unreadable(reason) => refused("bad_request", reason),
            Self::Refused(reason) => refused(metric_reason(*reason), &reason.to_string()),
            Self::Replayed => refused("replayed", "the logout_token's jti was seen before"),
            Self::Provider(e) => {
                tracing::warn!(reason = %e, "back-channel logout: provider metadata or keys unavailable");
                temporarily_unavailable()
            }
            Self::Store(e) => {
                tracing::warn!(reason = %e, "back-channel logout failed on storage");
                temporarily_unavailable()
            }
        }
    }
}

/// The one `logout_token` of an `application/x-www-form-urlencoded` body
/// (section 2.5); repeated or over-long ones are refused. Public so the
/// fuzz targets reach the parsing the route uses.
pub fn logout_token_of(req: &HttpRequest, body: &[u8]) -> Result<String, &'static str> {
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return Err("the body must be application/x-www-form-urlencoded");
    }
    let mut token = None;
    for (name, value) in url::form_urlencoded::parse(body) {
        if name != "logout_token" {
            continue;
        }
        if token.is_some() {
            return Err("the logout_token is repeated");
        }
        if value.len() > MAX_LEN {
            return Err("the logout_token is too long");
        }
        token = Some(value.into_owned());
    }
    token.ok_or("the body has no logout_token")
}

/// Section 2.8: `400` with an error in the form of OAuth 2.0's (RFC 6749
/// 5.2); the description names the failed check, never a value.
fn refused(reason: &'static str, description: &str) -> HttpResponse {
    tracing::warn!(reason = description, "logout token refused");
    count("refused", reason);
    json_answer(
        StatusCode::BAD_REQUEST,
        json!({ "error": "invalid_request", "error_description": description }),
    )
}

fn count(outcome: &'static str, reason: &'static str) {
    service_kit::metrics::count(
        "backchannel_logouts_total",
        "Logout tokens from the provider by outcome.",
        &[("outcome", outcome), ("reason", reason)],
    );
}

/// A fixed label for the metrics.
fn metric_reason(e: LogoutTokenError) -> &'static str {
    use LogoutTokenError as E;
    match e {
        E::Malformed | E::WrongType => "malformed",
        E::Algorithm | E::NoMatchingKey | E::BadSignature => "signature",
        E::WrongIssuer | E::WrongAudience | E::AuthorizedParty => "not_for_us",
        E::NoIssueTime | E::IssuedInFuture | E::TooOld | E::Expired => "time",
        E::NoJti | E::NoLogoutEvent | E::NoSubjectOrSession | E::BadSubjectOrSession | E::Nonce => {
            "claims"
        }
    }
}

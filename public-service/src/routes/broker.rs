//! `POST /broker/token`: a fresh provider access token for a signed-in
//! user, for a trusted backend.
//!
//! The caller authenticates with a provider-signed service-account ID
//! token (audience: this service's URL; e-mail on `BROKER_ALLOWED_CALLERS`).
//! Request: `{"subject": "<the user's sub>", "scopes": ["…"]}`. `scopes`
//! must be among those listed for the caller (`BROKER_CALLER_SCOPES`);
//! without them, the token is for every listed scope the grant holds. The
//! token is asked of the provider narrowed to those scopes (unless
//! `BROKER_NARROWS_SCOPES=false`); if what it carries goes beyond the
//! caller's scopes (a provider that does not narrow), the caller gets it
//! only if listed on `BROKER_WHOLE_GRANT_CALLERS`. `scope` in the answer
//! says what it carries, in the operator's names. On every call the user must pass
//! the access policy (as signed in: e-mail and `hd`) and the caller's user
//! filter (`BROKER_CALLER_USERS`), and with `BROKER_REQUIRES_SESSION` have
//! a live session. Answers:
//! - `200` `{"access_token", "token_type", "expires_in", "expires_at", "scope"}`;
//! - `403` `{"error": "consent_required", "login_url"}`: the user has no
//!   grant, it was revoked, or it lacks a scope; send them to `login_url`;
//! - `403` `session_required` (with `login_url`): no live session;
//! - `403` `scope_not_allowed`, `subject_not_allowed`: beyond the caller's
//!   rules; `403` `user_not_allowed`: the access policy refuses the user;
//! - `403` `{"error": "token_too_broad", "extra_scopes": […]}`: the
//!   provider's token carries these scopes too, which the caller may not
//!   have; no token;
//! - `400` `invalid_request` / `invalid_scope`, `401` `invalid_token`,
//!   `403` `caller_not_allowed`, `503` `temporarily_unavailable`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use crate::boundary::BrokerCaller;
use crate::policy::Identity;
use crate::routes::{json_answer, json_object, temporarily_unavailable};
use crate::scopes;
use crate::state::AppState;
use crate::token_broker::{self, BrokerError, Holder, Refusal, Wanted};

/// Longest `subject` read (the provider's `sub` is at most 255 ASCII
/// characters, OpenID Connect Core 2).
pub const MAX_SUBJECT_LEN: usize = 255;
/// Most `scopes` read.
pub const MAX_SCOPES: usize = 20;

/// The body of a broker request, read before anything else is looked at.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub subject: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// Why a broker request's body is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Not `{"subject": "…", "scopes": ["…"]}`.
    Unreadable,
    /// An empty or over-long `subject`, or too many `scopes`.
    OutOfBounds,
}

impl TokenRequest {
    /// One JSON object `{"subject": "…"}` with an optional
    /// `"scopes": ["…"]`; unknown or repeated fields are refused, and so are a subject of no or more
    /// than [`MAX_SUBJECT_LEN`] bytes and more than [`MAX_SCOPES`] scopes.
    /// Public so the fuzz targets reach the parsing the route uses.
    pub fn parse(body: &[u8]) -> Result<Self, BodyError> {
        let request: Self = json_object(body).ok_or(BodyError::Unreadable)?;
        if request.subject.is_empty()
            || request.subject.len() > MAX_SUBJECT_LEN
            || request.scopes.len() > MAX_SCOPES
        {
            return Err(BodyError::OutOfBounds);
        }
        Ok(request)
    }
}

/// Why a broker call got no token; the answer is JSON for a backend, with
/// the way to fix it where there is one (`login_url`).
#[derive(Debug, thiserror::Error)]
pub enum BrokerCallError {
    #[error("the body is not a token request")]
    Unreadable,
    #[error("subject or scopes out of bounds")]
    OutOfBounds,
    #[error("{0:?} is neither a configured nor an optional scope")]
    UnknownScope(String),
    /// Settings refuse an allowed caller without rules; never reached.
    #[error("the caller has no rules")]
    NoRules,
    #[error("a scope beyond the caller's rules: {0:?}")]
    ScopeNotAllowed(String),
    #[error("the user has no live session")]
    SessionRequired { login_url: url::Url },
    #[error("the access policy does not admit the user")]
    UserNotAllowed,
    #[error("the caller may not act for the user")]
    SubjectNotAllowed,
    #[error("the provider's token carries scopes beyond the caller's: {extra:?}")]
    TooBroad { extra: Vec<String> },
    #[error("the user must grant access again")]
    ConsentRequired { login_url: url::Url },
    #[error("a token is not available now: {0}")]
    Unavailable(String),
}

impl From<BodyError> for BrokerCallError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::Unreadable => Self::Unreadable,
            BodyError::OutOfBounds => Self::OutOfBounds,
        }
    }
}

impl ResponseError for BrokerCallError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unreadable | Self::OutOfBounds | Self::UnknownScope(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::FORBIDDEN,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (error, message) = match self {
            Self::Unreadable => (
                "invalid_request",
                "Send {\"subject\": \"…\", \"scopes\": [\"…\"]} as JSON.".to_owned(),
            ),
            Self::OutOfBounds => (
                "invalid_request",
                "subject or scopes out of bounds.".to_owned(),
            ),
            Self::UnknownScope(scope) => (
                "invalid_scope",
                format!("{scope:?} is neither a configured nor an optional scope."),
            ),
            Self::NoRules => {
                return handoff_guard::login_service::CallerError::NotAllowed.error_response()
            }
            Self::ScopeNotAllowed(scope) => (
                "scope_not_allowed",
                format!("This caller may not ask for {scope:?} (BROKER_CALLER_SCOPES)."),
            ),
            Self::SessionRequired { login_url } => {
                return json_answer(
                    StatusCode::FORBIDDEN,
                    json!({
                        "error": "session_required",
                        "message": "The user is not signed in now; tokens are given only during a session.",
                        "login_url": login_url.as_str(),
                    }),
                )
            }
            Self::UserNotAllowed => (
                "user_not_allowed",
                "The access policy does not admit this user.".to_owned(),
            ),
            Self::SubjectNotAllowed => (
                "subject_not_allowed",
                "This caller may not act for this user (BROKER_CALLER_USERS).".to_owned(),
            ),
            Self::TooBroad { extra } => {
                return json_answer(
                    StatusCode::FORBIDDEN,
                    json!({
                        "error": "token_too_broad",
                        "message": format!(
                            "The provider's token also carries {}, which this caller may not have (BROKER_CALLER_SCOPES); it is not handed out.",
                            extra.join(" ")
                        ),
                        "extra_scopes": extra,
                    }),
                )
            }
            Self::ConsentRequired { login_url } => {
                return json_answer(
                    StatusCode::FORBIDDEN,
                    json!({
                        "error": "consent_required",
                        "message": "The user must sign in and grant access again.",
                        "login_url": login_url.as_str(),
                    }),
                )
            }
            Self::Unavailable(_) => return temporarily_unavailable(),
        };
        json_answer(
            self.status_code(),
            json!({ "error": error, "message": message }),
        )
    }
}

pub async fn access_token(
    caller: BrokerCaller,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, BrokerCallError> {
    let request = TokenRequest::parse(&body)?;
    let known = state.oidc.requested_scopes(&state.optional_scopes);
    if let Some(unknown) = request
        .scopes
        .iter()
        .find(|s| !known.iter().any(|k| scopes::same(k, s)))
    {
        return Err(BrokerCallError::UnknownScope(unknown.clone()));
    }
    let rules = state
        .broker_rules
        .for_caller(caller.account())
        .ok_or(BrokerCallError::NoRules)?;
    if let Some(beyond) = request.scopes.iter().find(|s| !rules.allows_scope(s)) {
        tracing::warn!(caller = %caller.account(), scope = %beyond, "a scope beyond the caller's rules was asked for");
        return Err(BrokerCallError::ScopeNotAllowed(beyond.clone()));
    }
    if state.broker_requires_session {
        let live = state
            .sessions
            .has_live_session(&request.subject)
            .await
            .map_err(|e| {
                tracing::warn!(reason = %e, "sessions unavailable");
                BrokerCallError::Unavailable(e.to_string())
            })?;
        if !live {
            tracing::info!(caller = %caller.account(), subject = %request.subject, "no live session");
            return Err(BrokerCallError::SessionRequired {
                login_url: login_url(&state, &[]),
            });
        }
    }
    let wanted = if request.scopes.is_empty() {
        Wanted::AnyOf(rules.scopes().to_vec())
    } else {
        Wanted::All(request.scopes.clone())
    };
    let admit = |holder: &Holder<'_>| {
        let identity = Identity {
            subject: holder.subject.to_owned(),
            email: Some(holder.email.to_owned()),
            // Only verified addresses ever get a grant.
            email_verified: true,
            name: None,
            hosted_domain: holder.hosted_domain.map(str::to_owned),
        };
        if state.policy.check(&identity).is_err() {
            return Err(Refusal::UserNotAllowed);
        }
        if !rules.admits_user(holder.email) {
            return Err(Refusal::SubjectNotAllowed);
        }
        Ok(())
    };
    let token_request = token_broker::TokenRequest {
        subject: &request.subject,
        wanted,
        admit: &admit,
        handed_to: Some(rules),
    };
    let token = state
        .broker
        .access_token(&token_request)
        .await
        .map_err(|e| refusal_of(e, &caller, &request.subject, &state, &known))?;
    let now = state.clock.unix_seconds();
    let carried: Vec<&str> = token
        .scopes
        .iter()
        .map(|s| scopes::as_written(s, &known))
        .collect();
    tracing::info!(caller = %caller.account(), subject = %request.subject, scope = %carried.join(" "), "access token brokered");
    Ok(json_answer(
        StatusCode::OK,
        json!({
            "access_token": token.token.expose_secret(),
            "token_type": "Bearer",
            "expires_in": token.expires_at.saturating_sub(now),
            "expires_at": token.expires_at,
            "scope": carried.join(" "),
        }),
    ))
}

/// The broker's refusal as the caller is told it, logged with who asked.
fn refusal_of(
    e: BrokerError,
    caller: &BrokerCaller,
    subject: &str,
    state: &AppState,
    known: &[String],
) -> BrokerCallError {
    match e {
        BrokerError::Refused(Refusal::UserNotAllowed) => {
            tracing::warn!(caller = %caller.account(), subject = %subject, "the access policy no longer admits the user");
            BrokerCallError::UserNotAllowed
        }
        BrokerError::Refused(Refusal::SubjectNotAllowed) => {
            tracing::warn!(caller = %caller.account(), subject = %subject, "a user beyond the caller's rules was asked for");
            BrokerCallError::SubjectNotAllowed
        }
        BrokerError::TooBroad { extra_scopes } => {
            let extra: Vec<String> = extra_scopes
                .iter()
                .map(|s| scopes::as_written(s, known).to_owned())
                .collect();
            tracing::warn!(caller = %caller.account(), subject = %subject, extra = %extra.join(" "), "the provider's token carries scopes beyond the caller's; refused");
            BrokerCallError::TooBroad { extra }
        }
        BrokerError::ConsentRequired { missing_scopes } => {
            tracing::info!(caller = %caller.account(), subject = %subject, "consent required");
            BrokerCallError::ConsentRequired {
                login_url: login_url(state, &missing_scopes),
            }
        }
        e => {
            tracing::warn!(caller = %caller.account(), reason = %e, "access token not available");
            BrokerCallError::Unavailable(e.to_string())
        }
    }
}

/// Where to send the user to sign in, asking for `missing` scopes too.
fn login_url(state: &AppState, missing: &[String]) -> url::Url {
    let mut login_url = state.url("/login");
    {
        let mut query = login_url.query_pairs_mut();
        query.append_pair("return_to", state.apps.default_return_to().as_str());
        // Only scopes beyond the configured ones (those are always
        // asked), in the names `/login` accepts: the operator's.
        let extra: Vec<&str> = missing
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
    login_url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_body_is_one_object_with_a_subject_and_maybe_scopes() {
        let read = TokenRequest::parse(br#"{"subject":"1","scopes":["openid"]}"#).unwrap();
        assert_eq!(
            (read.subject.as_str(), read.scopes),
            ("1", vec!["openid".to_owned()])
        );
        assert!(TokenRequest::parse(br#" {"subject":"1"}"#)
            .unwrap()
            .scopes
            .is_empty());
        for refused in [
            &br#"{"subject":"1","scope":"openid"}"#[..],
            br#"{"subject":"1","subject":"2"}"#,
            br#"{"subject":1}"#,
            br#"{"scopes":[]}"#,
            b"",
        ] {
            assert_eq!(
                TokenRequest::parse(refused).err(),
                Some(BodyError::Unreadable),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn a_broker_body_that_is_an_array_is_refused() {
        // Of the class fuzz/fuzz_targets/back_channel_json.rs caught in the
        // sign-out body: the derived reader took `["1"]` for the subject.
        for refused in [&br#"["1"]"#[..], br#" ["1",["openid"]]"#] {
            assert_eq!(
                TokenRequest::parse(refused).err(),
                Some(BodyError::Unreadable),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn a_broker_body_beyond_the_bounds_is_refused_as_such() {
        let body = |subject: &str, scopes: usize| {
            serde_json::json!({ "subject": subject, "scopes": vec!["s"; scopes] }).to_string()
        };
        let parse = |body: String| TokenRequest::parse(body.as_bytes()).err();
        assert_eq!(parse(body(&"s".repeat(MAX_SUBJECT_LEN), MAX_SCOPES)), None);
        assert_eq!(parse(body("", 0)), Some(BodyError::OutOfBounds));
        assert_eq!(
            parse(body(&"s".repeat(MAX_SUBJECT_LEN + 1), 0)),
            Some(BodyError::OutOfBounds)
        );
        assert_eq!(
            parse(body("1", MAX_SCOPES + 1)),
            Some(BodyError::OutOfBounds)
        );
    }
}

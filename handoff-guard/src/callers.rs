//! Service-to-service authentication: a caller proves it runs as a given
//! service account with a provider-signed ID token whose audience is the
//! service it calls (on Google Cloud: the token the metadata server mints
//! for `audience=<URL>`), and the account's e-mail must be on a list.
//!
//! Every refused caller is counted (`auth_refusals_total`, reasons
//! `caller_token` and `caller_not_allowed`) and logged at warn, the first
//! few of each kind per interval one by one and the rest in a summary
//! ([`crate::refusal_log`]): anyone can send a forged token, and each one
//! must not cost a log line.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::id_token::{bearer_token, IdTokenVerifier};
use crate::refusal_log::{RefusalLog, Summary};
use crate::verifier::VerifyError;

/// A caller whose ID token verified and whose account is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCaller {
    /// The service account's e-mail address, ASCII-lower-cased: the entry
    /// of the allowlist it matched.
    pub email: String,
    /// The token's `sub`: the provider's unique id of the account.
    pub subject: String,
}

/// Why a service caller was refused. As an actix-web `ResponseError` it
/// answers JSON with `Cache-Control: no-store`: `401` with
/// `WWW-Authenticate` for a missing or bad token, `403` for an account not
/// on the list, `503` with `Retry-After` when the token could not be
/// checked. The reason in full goes to the log
/// ([`ServiceCallers::authenticate`]), not into the answer.
#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    /// No `Authorization` header, or one that is not a well-formed Bearer
    /// token.
    #[error("no Bearer token")]
    Missing,
    /// The token does not verify; [`VerifyError::KeysUnavailable`] inside
    /// means it could not be checked (`503`), not that it is bad.
    #[error("the caller's token is not acceptable: {0}")]
    Invalid(#[from] VerifyError),
    /// The token verified but carries no e-mail address the provider
    /// verified, so it cannot be matched against the list.
    #[error("the caller's token has no verified e-mail")]
    NoVerifiedEmail,
    /// The account's e-mail address is not on the allowlist.
    #[error("the caller is not on the allowlist")]
    NotAllowed,
}

impl ResponseError for CallerError {
    fn status_code(&self) -> StatusCode {
        match self {
            // The keys to check the token with cannot be fetched: the
            // caller's token may be fine, so it should try again.
            Self::Invalid(VerifyError::KeysUnavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Missing | Self::Invalid(_) | Self::NoVerifiedEmail => StatusCode::UNAUTHORIZED,
            Self::NotAllowed => StatusCode::FORBIDDEN,
        }
    }

    /// The answer only: [`ServiceCallers::authenticate`] has counted and
    /// logged the refusal.
    fn error_response(&self) -> HttpResponse {
        let (error, message) = match self {
            Self::NotAllowed => (
                "caller_not_allowed",
                "This service account may not call this endpoint.",
            ),
            Self::Invalid(VerifyError::KeysUnavailable(_)) => {
                ("temporarily_unavailable", "Try again shortly.")
            }
            _ => (
                "invalid_token",
                "Send a provider-signed ID token for this service's URL as a Bearer token.",
            ),
        };
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        match self.status_code() {
            StatusCode::UNAUTHORIZED => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                ));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
            }
            _ => {}
        }
        response.json(serde_json::json!({ "error": error, "message": message }))
    }
}

/// The service accounts allowed to call a back-channel route, and the
/// verifier of their ID tokens (see the module docs). An app behind the
/// gate admits service accounts with [`crate::gate::BearerIdTokens`]
/// instead.
pub struct ServiceCallers {
    verifier: IdTokenVerifier,
    allowed: Vec<String>,
    /// Which refusals are logged one by one.
    refusals: RefusalLog,
}

/// The `reason` labels of `auth_refusals_total` counted here: a token that
/// is missing or does not verify, and an account not on the list.
pub const REFUSAL_REASONS: [&str; 2] = ["caller_token", "caller_not_allowed"];

/// The kinds of refusal, as logged (`refusal`); the last is no refusal of
/// the caller (its token could not be checked), logged the same way but
/// not counted.
const KINDS: [&str; 3] = [REFUSAL_REASONS[0], REFUSAL_REASONS[1], "keys_unavailable"];

impl CallerError {
    /// Its index in [`KINDS`].
    fn kind(&self) -> usize {
        match self {
            Self::Invalid(VerifyError::KeysUnavailable(_)) => 2,
            Self::NotAllowed => 1,
            Self::Missing | Self::Invalid(_) | Self::NoVerifiedEmail => 0,
        }
    }
}

impl ServiceCallers {
    /// `verifier`: issuers and the audience this service answers to;
    /// `allowed`: service-account e-mails, compared without case.
    pub fn new(verifier: IdTokenVerifier, allowed: &[String]) -> Self {
        let refusals = RefusalLog::new(&KINDS, verifier.clock().clone());
        Self {
            verifier,
            allowed: allowed.iter().map(|e| e.to_ascii_lowercase()).collect(),
            refusals,
        }
    }

    /// Whether the allowlist is empty: every caller is refused.
    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty()
    }

    /// The caller, or why it is refused (counted and logged here; see the
    /// module docs).
    pub async fn authenticate(&self, req: &HttpRequest) -> Result<ServiceCaller, CallerError> {
        // An interval's summary is written by whichever call comes after
        // it: nothing else runs on an idle instance.
        self.refusals.summaries(log_summary);
        let checked = self.check(req).await;
        if let Err(e) = &checked {
            self.count_refusal(e);
        }
        checked
    }

    fn count_refusal(&self, e: &CallerError) {
        let kind = e.kind();
        if let Some(reason) = REFUSAL_REASONS.get(kind) {
            metrics::counter!("auth_refusals_total", "reason" => *reason).increment(1);
        }
        let (in_full, summary) = self.refusals.refusal(kind);
        if let Some(summary) = summary {
            log_summary(summary);
        }
        if in_full {
            tracing::warn!(refusal = %KINDS[kind], reason = %e, "service caller refused");
        }
    }

    async fn check(&self, req: &HttpRequest) -> Result<ServiceCaller, CallerError> {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .ok_or(CallerError::Missing)?;
        let claims = self.verifier.verify(token).await?;
        let email = claims
            .verified_email()
            .ok_or(CallerError::NoVerifiedEmail)?
            .to_ascii_lowercase();
        if !self.allowed.contains(&email) {
            return Err(CallerError::NotAllowed);
        }
        Ok(ServiceCaller {
            email,
            subject: claims.sub,
        })
    }
}

/// The line that stands for the refusals of one kind not logged one by one.
fn log_summary(summary: Summary) {
    let Summary {
        reason,
        not_logged,
        seconds,
    } = summary;
    tracing::warn!(
        refusal = %reason,
        not_logged,
        seconds,
        "{not_logged} more service callers refused ({reason}) in the last {seconds} s, not logged one by one"
    );
}

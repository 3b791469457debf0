//! Service-to-service authentication: a caller proves it runs as a given
//! service account with a provider-signed ID token whose audience is the
//! service it calls (on Google Cloud: the token the metadata server mints
//! for `audience=<URL>`), and the account's e-mail must be on a list.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::id_token::{bearer_token, IdTokenVerifier};
use crate::verifier::VerifyError;

/// A caller whose ID token verified and whose account is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCaller {
    pub email: String,
    pub subject: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    #[error("no Bearer token")]
    Missing,
    #[error("the caller's token is not acceptable: {0}")]
    Invalid(#[from] VerifyError),
    #[error("the caller's token has no verified e-mail")]
    NoVerifiedEmail,
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

    fn error_response(&self) -> HttpResponse {
        tracing::warn!(reason = %self, "service caller refused");
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

pub struct ServiceCallers {
    verifier: IdTokenVerifier,
    allowed: Vec<String>,
}

impl ServiceCallers {
    /// `verifier`: issuers and the audience this service answers to;
    /// `allowed`: service-account e-mails, compared without case.
    pub fn new(verifier: IdTokenVerifier, allowed: &[String]) -> Self {
        Self {
            verifier,
            allowed: allowed.iter().map(|e| e.to_ascii_lowercase()).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty()
    }

    pub async fn authenticate(&self, req: &HttpRequest) -> Result<ServiceCaller, CallerError> {
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

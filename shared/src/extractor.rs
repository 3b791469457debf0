//! [`SignedInUser`]: the actix-web extractor that gates a handler.
//!
//! The app registers a [`HandoffGate`] as `web::Data`; a handler that takes
//! `SignedInUser` only runs for a request with a valid handoff token. Anything
//! else is answered here: a browser page request is redirected to the public
//! service's renewal route (a new handoff token without a provider round
//! trip while the session lives, a sign-in otherwise) with `return_to`
//! pointing back at the page; any other request gets `401` with
//! `WWW-Authenticate` and a JSON body naming the login URL. The precise
//! reason is logged at debug level and never sent to the client.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use url::Url;

use crate::claims::HandoffClaims;
use crate::cookie::handoff_token;
use crate::revocation::RevokedSessions;
use crate::verifier::HandoffVerifier;

/// What an app needs to check handoff tokens and send strangers to sign in.
pub struct HandoffGate {
    verifier: HandoffVerifier,
    login_url: Url,
    renew_url: Url,
    app_url: Url,
    revoked: Option<Arc<RevokedSessions>>,
}

impl HandoffGate {
    /// `login_url`: the public service's `/login`, named to API clients;
    /// `app_url`: this app's external origin, used to build `return_to`.
    /// Browsers are sent to `login_url` too unless [`Self::renewing_at`].
    pub fn new(verifier: HandoffVerifier, login_url: Url, app_url: Url) -> Self {
        Self {
            verifier,
            renew_url: login_url.clone(),
            login_url,
            app_url,
            revoked: None,
        }
    }

    /// Refuses tokens whose session is in `revoked` (kept up to date by a
    /// [`crate::revocation::RevocationPoller`]).
    pub fn refusing_revoked(mut self, revoked: Arc<RevokedSessions>) -> Self {
        self.revoked = Some(revoked);
        self
    }

    /// Sends browsers to the public service's `/renew` instead of `/login`.
    pub fn renewing_at(mut self, renew_url: Url) -> Self {
        self.renew_url = renew_url;
        self
    }

    pub fn verifier(&self) -> &HandoffVerifier {
        &self.verifier
    }

    /// The sign-in URL with `return_to` set to this request's page on this
    /// app: the renewal route for browsers, the login route for API clients.
    pub fn sign_in_url_for(&self, req: &HttpRequest) -> String {
        let base = if wants_html(req) {
            &self.renew_url
        } else {
            &self.login_url
        };
        let mut return_to = self.app_url.clone();
        // set_path keeps the host fixed whatever the request path looks like
        // (a path of `//evil.example` must not become a host).
        return_to.set_path(req.path());
        return_to.set_query(Some(req.query_string()).filter(|q| !q.is_empty()));
        let mut url = base.clone();
        url.query_pairs_mut()
            .append_pair("return_to", return_to.as_str());
        url.into()
    }

    async fn authenticate(&self, req: &HttpRequest) -> Result<HandoffClaims, Unauthenticated> {
        let reject = |reason: &dyn std::fmt::Display| {
            tracing::debug!(%reason, path = req.path(), "request not authenticated");
            Unauthenticated::new(req, self.sign_in_url_for(req))
        };
        let token = handoff_token(req).ok_or_else(|| reject(&"no handoff cookie"))?;
        let claims = self.verifier.verify(&token).await.map_err(|e| reject(&e))?;
        if self
            .revoked
            .as_ref()
            .is_some_and(|revoked| revoked.is_revoked(&claims.sid))
        {
            return Err(reject(&"the session was revoked"));
        }
        Ok(claims)
    }
}

/// A request whose handoff token verified.
#[derive(Debug, Clone)]
pub struct SignedInUser(HandoffClaims);

impl SignedInUser {
    pub fn email(&self) -> &str {
        &self.0.email
    }
    pub fn subject(&self) -> &str {
        &self.0.sub
    }
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    pub fn session_id(&self) -> &str {
        &self.0.sid
    }
    pub fn expires_at(&self) -> u64 {
        self.0.exp
    }
    pub fn claims(&self) -> &HandoffClaims {
        &self.0
    }
}

impl FromRequest for SignedInUser {
    type Error = Unauthenticated;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(gate) = req.app_data::<web::Data<HandoffGate>>() else {
                tracing::error!("SignedInUser used without a HandoffGate in app data");
                return Err(Unauthenticated::misconfigured());
            };
            gate.authenticate(&req).await.map(SignedInUser)
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Redirect,
    Json,
    ServerError,
}

/// The one answer to every authentication failure.
#[derive(Debug)]
pub struct Unauthenticated {
    sign_in_url: String,
    answer: Answer,
}

impl Unauthenticated {
    fn new(req: &HttpRequest, sign_in_url: String) -> Self {
        let answer = if wants_html(req) {
            Answer::Redirect
        } else {
            Answer::Json
        };
        Self {
            sign_in_url,
            answer,
        }
    }

    fn misconfigured() -> Self {
        Self {
            sign_in_url: String::new(),
            answer: Answer::ServerError,
        }
    }

    pub fn sign_in_url(&self) -> &str {
        &self.sign_in_url
    }
}

/// Browsers navigating to a page send `Accept: text/html`; API clients and
/// `fetch()` calls asking for JSON do not, and get a 401 instead of a redirect.
fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

impl std::fmt::Display for Unauthenticated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not signed in")
    }
}

impl ResponseError for Unauthenticated {
    fn status_code(&self) -> StatusCode {
        match self.answer {
            Answer::Redirect => StatusCode::FOUND,
            Answer::Json => StatusCode::UNAUTHORIZED,
            Answer::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        match self.answer {
            Answer::Redirect => response
                .insert_header((header::LOCATION, self.sign_in_url.as_str()))
                .finish(),
            Answer::Json => response
                .insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="app", error="invalid_token""#),
                ))
                .json(serde_json::json!({
                    "error": "unauthenticated",
                    "message": "Sign in to continue.",
                    "login_url": self.sign_in_url,
                })),
            Answer::ServerError => response.json(serde_json::json!({
                "error": "server_error",
                "message": "Authentication is not configured on this route.",
            })),
        }
    }
}

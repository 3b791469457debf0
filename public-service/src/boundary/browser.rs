//! What a browser brings: its session ([`CurrentSession`],
//! [`MaybeSession`]) and, on a state-changing `POST`, a form from a page
//! of ours ([`SameOriginForm`]).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};

use crate::boundary::shared_state;
use crate::pages::error_page;
use crate::state::AppState;
use crate::store::{SessionRecord, StoreError};

/// Why a browser's request was refused before its handler ran; each
/// answer is a page a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum BrowserRefusal {
    /// No valid session on the sessions page: signing in leads back to
    /// it, and from there to the app it came from (`return_to`, checked by
    /// `/login` like any other).
    #[error("not signed in")]
    NotSignedIn { return_to: Option<String> },
    #[error("the session store failed: {0}")]
    Unavailable(#[source] StoreError),
    #[error("a form not posted from {0}")]
    ForeignOrigin(&'static FormPages),
    #[error("a form that is not readable")]
    UnreadableForm(&'static FormPages),
    #[error("the request body could not be read")]
    Body(#[source] actix_web::Error),
}

impl ResponseError for BrowserRefusal {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotSignedIn { .. } => StatusCode::UNAUTHORIZED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::ForeignOrigin(_) => StatusCode::FORBIDDEN,
            Self::UnreadableForm(_) => StatusCode::BAD_REQUEST,
            Self::Body(e) => e.as_response_error().status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::NotSignedIn { return_to } => {
                let mut query = url::form_urlencoded::Serializer::new(String::new());
                query.append_pair("next", crate::http::SESSIONS_PAGE);
                if let Some(return_to) = return_to {
                    query.append_pair("return_to", return_to);
                }
                error_page(
                    StatusCode::UNAUTHORIZED,
                    "You are not signed in",
                    "Sign in to see where you are signed in.",
                    Some(&format!("/login?{}", query.finish())),
                )
            }
            Self::Unavailable(e) => {
                tracing::error!(reason = %e, "the session store failed");
                error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Your sessions are unavailable",
                    "They could not be read or changed right now. Please try again in a moment.",
                    None,
                )
            }
            Self::ForeignOrigin(pages) => {
                tracing::warn!(form = pages.name, "form refused: not posted from our pages");
                error_page(
                    StatusCode::FORBIDDEN,
                    pages.refused_title,
                    pages.foreign_origin,
                    Some(pages.retry_path),
                )
            }
            Self::UnreadableForm(pages) => error_page(
                StatusCode::BAD_REQUEST,
                pages.refused_title,
                "The form was not readable.",
                Some(pages.retry_path),
            ),
            Self::Body(e) => e.error_response(),
        }
    }
}

/// The valid session the browser's cookie names; a request without one
/// is answered "not signed in" before the handler runs.
#[derive(Debug)]
pub struct CurrentSession(pub SessionRecord);

/// The valid session the browser's cookie names, if any: for the routes
/// that serve signed-in and signed-out browsers alike (sign-in, renewal,
/// sign-out).
#[derive(Debug)]
pub struct MaybeSession(pub Option<SessionRecord>);

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, BrowserRefusal>>>>;

async fn session_of(req: &HttpRequest) -> Result<Option<SessionRecord>, BrowserRefusal> {
    let Some(state) = shared_state(req) else {
        return Ok(None);
    };
    state
        .sessions
        .current(req)
        .await
        .map_err(BrowserRefusal::Unavailable)
}

impl FromRequest for MaybeSession {
    type Error = BrowserRefusal;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { session_of(&req).await.map(Self) })
    }
}

impl FromRequest for CurrentSession {
    type Error = BrowserRefusal;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            session_of(&req)
                .await?
                .map(Self)
                .ok_or_else(|| BrowserRefusal::NotSignedIn {
                    return_to: crate::http::query_param(&req, "return_to").ok().flatten(),
                })
        })
    }
}

/// Whether the browser carries the cookie of a session that has ended.
/// An app that ended the session server to server leaves the (revoked)
/// session cookie behind, and the signed-out page forgets it; but only a
/// cookie whose session has ended: any site can send a browser to that
/// page, and a `GET` must not sign anyone out (nor, by dropping the cookie
/// of a live session, knock them out while the session stays valid). A
/// store that cannot be read keeps the cookie.
#[derive(Debug)]
pub struct EndedSessionCookie(pub bool);

impl FromRequest for EndedSessionCookie {
    type Error = BrowserRefusal;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(state) = shared_state(&req) else {
                return Ok(Self(false));
            };
            let ended = match state.sessions.check(&req).await {
                Ok(Ok(_)) => false,
                Ok(Err(_)) => crate::sessions::cookie_present(&req),
                Err(e) => {
                    tracing::warn!(reason = %e, "session lookup failed on the signed-out page; cookie kept");
                    false
                }
            };
            Ok(Self(ended))
        })
    }
}

/// Which origins may post a form: its `Origin` (or, lacking one, its
/// `Referer`'s origin) must be one of them. A cross-site post is refused
/// before anything is read, whatever cookies it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origins {
    /// This service's own pages only.
    Ours,
    /// This service's pages or a registered app's (an app's sign-out
    /// button posts to this service).
    OursOrAnApp,
}

/// How a refused form is explained to the person who sent it.
#[derive(Debug)]
pub struct FormPages {
    /// Names the form in the log.
    pub name: &'static str,
    pub refused_title: &'static str,
    pub foreign_origin: &'static str,
    /// Where the person can try again.
    pub retry_path: &'static str,
}

impl std::fmt::Display for FormPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// A form a browser posts to change state here.
pub trait BrowserForm: Sized {
    const ORIGINS: Origins;
    const PAGES: &'static FormPages;
    /// The form's fields, read exactly: `None` when a field repeats or is
    /// out of bounds (no guessing which of two values counts).
    fn parse(body: &[u8]) -> Option<Self>;
}

/// A state-changing form posted from an origin `T` allows, read as `T`.
#[derive(Debug)]
pub struct SameOriginForm<T>(pub T);

/// Whether the request claims an origin `origins` allows. `None`
/// (neither header, several, an opaque origin) is refused.
pub fn from_allowed_origin(req: &HttpRequest, state: &AppState, origins: Origins) -> bool {
    let headers = req.headers();
    let Some(origin) = handoff_guard::login_service::claimed_origin(
        headers.get_all(header::ORIGIN).map(|v| v.as_bytes()),
        headers.get_all(header::REFERER).map(|v| v.as_bytes()),
    ) else {
        return false;
    };
    origin == state.public_url.origin().ascii_serialization()
        || (origins == Origins::OursOrAnApp
            && state.apps.apps().iter().any(|app| app.audience() == origin))
}

impl<T: BrowserForm + 'static> FromRequest for SameOriginForm<T> {
    type Error = BrowserRefusal;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let allowed =
            shared_state(req).is_some_and(|state| from_allowed_origin(req, &state, T::ORIGINS));
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !allowed {
                return Err(BrowserRefusal::ForeignOrigin(T::PAGES));
            }
            let body = body.await.map_err(BrowserRefusal::Body)?;
            T::parse(&body)
                .map(Self)
                .ok_or(BrowserRefusal::UnreadableForm(T::PAGES))
        })
    }
}

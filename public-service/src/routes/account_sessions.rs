//! "Where you're signed in": `GET /account/sessions` lists the person's
//! live sessions (device summary, place when configured, start, last use,
//! the apps each was handed to, and which one is this browser);
//! `POST /account/sessions/end` (`session`) ends one of the others and
//! `POST /account/sessions/end-others` all of them. Both answer `303` back
//! to the page, which then says what was done.
//!
//! The posts are CSRF-safe three times over: the session cookie is
//! `SameSite=Lax` (a cross-site post does not carry it), `Origin` (or
//! `Referer`) must be this service itself (the forms live only here), and
//! the form's `token` must be the one derived from this browser's cookie
//! secret ([`Sessions::form_token`]). A session is ended only if it
//! belongs to the signed-in person (the store's `WHERE subject = …`), so an
//! id from someone else ends nothing. Ended sessions reach the apps
//! through the revoked-sessions feed, like any sign-out.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use askama::Template;

use crate::apps::ReturnTo;
use crate::boundary::{BrowserForm, CurrentSession, FormPages, Origins, SameOriginForm};
use crate::pages::{date, error_page, render};
use crate::routes::{query_param, requested_return_to};
use crate::sessions::Sessions;
use crate::state::AppState;
use crate::store::{SessionRecord, StoreError};

pub const PAGE_PATH: &str = crate::routes::SESSIONS_PAGE;

/// One row of the page.
struct Row {
    id: String,
    device: String,
    place: Option<String>,
    started: String,
    last_used: String,
    apps: Vec<String>,
    this_browser: bool,
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage<'a> {
    rows: Vec<Row>,
    others: usize,
    /// The account the page lists.
    email: &'a str,
    token: &'a str,
    return_to: &'a str,
    logout_url: &'a str,
    done: Option<&'static str>,
}

/// Why the sessions page or one of its forms did nothing; each is a page
/// a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum SessionsPageError {
    #[error("the browser's cookie carries no form token")]
    NoFormToken,
    #[error("the form's token is missing or not this browser's")]
    ExpiredForm,
    #[error("no session was chosen")]
    NoSessionChosen,
    #[error("the chosen session is this browser's")]
    ThisBrowser,
    #[error("the chosen session is not one of the person's live sessions")]
    NotYours,
    #[error("the session store failed: {0}")]
    Store(#[from] StoreError),
}

impl ResponseError for SessionsPageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NoFormToken => StatusCode::UNAUTHORIZED,
            Self::ExpiredForm => StatusCode::FORBIDDEN,
            Self::NoSessionChosen | Self::ThisBrowser => StatusCode::BAD_REQUEST,
            // Someone else's, unknown or already ended: the same answer.
            Self::NotYours => StatusCode::NOT_FOUND,
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (title, message, retry) = match self {
            Self::NoFormToken => (
                "You are not signed in",
                "Sign in to see where you are signed in.",
                "/login",
            ),
            Self::ExpiredForm => {
                tracing::warn!("sessions page post refused: missing or wrong form token");
                (
                    NOT_CHANGED,
                    "This form has expired; nothing was ended. Open the page again.",
                    PAGE_PATH,
                )
            }
            Self::NoSessionChosen => (NOT_CHANGED, "No session was chosen.", PAGE_PATH),
            Self::ThisBrowser => (
                NOT_CHANGED,
                "This is the browser you are using: sign out to end its session.",
                PAGE_PATH,
            ),
            Self::NotYours => (
                NOT_CHANGED,
                "That session is not one of your live sessions; nothing was ended.",
                PAGE_PATH,
            ),
            Self::Store(e) => {
                tracing::error!(reason = %e, "the sessions page's storage failed");
                (
                    "Your sessions are unavailable",
                    "They could not be read or changed right now. Please try again in a moment.",
                    PAGE_PATH,
                )
            }
        };
        error_page(status, title, message, Some(retry))
    }
}

const NOT_CHANGED: &str = "Your sessions were not changed";

pub async fn page(
    CurrentSession(session): CurrentSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, SessionsPageError> {
    let return_to = requested_return_to(&req, &state);
    let token = Sessions::form_token(&req).ok_or(SessionsPageError::NoFormToken)?;
    let sessions = state.sessions.live_sessions_of(&session.subject).await?;
    let mut rows = Vec::with_capacity(sessions.len());
    for listed in sessions {
        let apps = state.store.apps_of_session(&listed.id).await?;
        rows.push(row(listed, apps, &session.id));
    }
    // Only fixed sentences: nothing from the query reaches the page. The
    // bound is the apps' default check of ended sessions
    // (`REVOCATION_POLL_INTERVAL`, 15 s) and one fetch of the feed.
    let done = match query_param(&req, "done").ok().flatten().as_deref() {
        Some("one") => {
            Some("That session was ended. Apps stop accepting it within about 20 seconds.")
        }
        Some("others") => Some(
            "All your other sessions were ended. Apps stop accepting them within about 20 seconds.",
        ),
        _ => None,
    };
    let mut logout = state.url("/logout");
    logout
        .query_pairs_mut()
        .append_pair("return_to", return_to.as_str());
    Ok(render(
        StatusCode::OK,
        &SessionsPage {
            others: rows.iter().filter(|r| !r.this_browser).count(),
            rows,
            email: &session.email,
            token: &token,
            return_to: return_to.as_str(),
            logout_url: logout.as_str(),
            done,
        },
    ))
}

/// `POST /account/sessions/end`: ends one other session of the person.
pub async fn end_one(
    SameOriginForm(form): SameOriginForm<Form>,
    CurrentSession(session): CurrentSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, SessionsPageError> {
    let return_to = authorised(&req, &state, &form)?;
    let target = form.session.ok_or(SessionsPageError::NoSessionChosen)?;
    if target == session.id {
        return Err(SessionsPageError::ThisBrowser);
    }
    if !state.sessions.end_one_of(&session.subject, &target).await? {
        return Err(SessionsPageError::NotYours);
    }
    tracing::info!("a session was ended from the sessions page");
    Ok(back_to_page(&state, &return_to, "one"))
}

/// `POST /account/sessions/end-others`: ends all but this browser's.
pub async fn end_others(
    SameOriginForm(form): SameOriginForm<Form>,
    CurrentSession(session): CurrentSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, SessionsPageError> {
    let return_to = authorised(&req, &state, &form)?;
    let ended = state
        .sessions
        .end_all_others(&session.subject, &session.id)
        .await?;
    tracing::info!(ended, "other sessions were ended from the sessions page");
    Ok(back_to_page(&state, &return_to, "others"))
}

#[derive(Debug)]
pub struct Form {
    token: Option<String>,
    session: Option<String>,
    return_to: Option<String>,
}

/// Where the way on leads, if the form carries this browser's token;
/// otherwise the refusal (and nothing is ended). The origin and the
/// session were checked before the handler ran.
fn authorised(
    req: &HttpRequest,
    state: &AppState,
    form: &Form,
) -> Result<ReturnTo, SessionsPageError> {
    let token_ok = form
        .token
        .as_deref()
        .is_some_and(|token| Sessions::form_token_matches(req, token));
    if !token_ok {
        return Err(SessionsPageError::ExpiredForm);
    }
    Ok(form
        .return_to
        .as_deref()
        .and_then(|raw| state.apps.return_to(raw).ok())
        .unwrap_or_else(|| state.apps.default_return_to()))
}

impl BrowserForm for Form {
    const ORIGINS: Origins = Origins::Ours;
    const PAGES: &'static FormPages = &FormPages {
        name: "sessions page",
        refused_title: "Your sessions were not changed",
        foreign_origin: "This request did not come from the sessions page; nothing was ended.",
        retry_path: PAGE_PATH,
    };

    fn parse(body: &[u8]) -> Option<Self> {
        parse_form(body)
    }
}

/// The form's fields; `None` when one repeats or is too long (no guessing
/// which of two values counts).
fn parse_form(body: &[u8]) -> Option<Form> {
    const MAX_FIELD: usize = 2048;
    let mut form = Form {
        token: None,
        session: None,
        return_to: None,
    };
    for (key, value) in url::form_urlencoded::parse(body) {
        let slot = match key.as_ref() {
            "token" => &mut form.token,
            "session" => &mut form.session,
            "return_to" => &mut form.return_to,
            _ => continue,
        };
        if slot.is_some() || value.len() > MAX_FIELD {
            return None;
        }
        *slot = Some(value.into_owned());
    }
    Some(form)
}

fn row(session: SessionRecord, apps: Vec<String>, current: &str) -> Row {
    Row {
        this_browser: session.id == current,
        device: session
            .device
            .unwrap_or_else(|| "Unknown device".to_owned()),
        place: session.place,
        started: date(session.created_at),
        last_used: date(session.last_seen_at),
        // The registered origin, shown as its host.
        apps: apps
            .iter()
            .map(|app| {
                url::Url::parse(app)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_else(|| app.clone())
            })
            .collect(),
        id: session.id,
    }
}

fn back_to_page(state: &AppState, return_to: &ReturnTo, done: &str) -> HttpResponse {
    let mut url = state.url(PAGE_PATH);
    url.query_pairs_mut()
        .append_pair("done", done)
        .append_pair("return_to", return_to.as_str());
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_or_oversized_fields_are_refused() {
        assert!(parse_form(b"token=a&session=b").is_some());
        assert!(parse_form(b"token=a&token=b").is_none());
        assert!(parse_form(format!("session={}", "x".repeat(3000)).as_bytes()).is_none());
        let form = parse_form(b"other=1&return_to=https%3A%2F%2Fapp").unwrap();
        assert_eq!(form.return_to.as_deref(), Some("https://app"));
        assert!(form.token.is_none());
    }
}

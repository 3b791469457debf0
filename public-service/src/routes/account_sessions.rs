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
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::apps::ReturnTo;
use crate::pages::{error_page, render};
use crate::routes::logout::{claimed_origin, requested_return_to};
use crate::routes::query_param;
use crate::sessions::Sessions;
use crate::state::AppState;
use crate::store::SessionRecord;

pub const PAGE_PATH: &str = "/account/sessions";

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
    token: &'a str,
    return_to: &'a str,
    logout_url: &'a str,
    done: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "signed_out_notice.html")]
struct NoticePage<'a> {
    date: &'a str,
    continue_url: &'a str,
}

pub async fn page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let return_to = requested_return_to(&req, &state);
    let session = match state.sessions.current(&req).await {
        Ok(Some(session)) => session,
        Ok(None) => return not_signed_in(),
        Err(e) => return unavailable(&e),
    };
    let Some(token) = Sessions::form_token(&req) else {
        return not_signed_in();
    };
    let sessions = match state.sessions.live_sessions_of(&session.subject).await {
        Ok(sessions) => sessions,
        Err(e) => return unavailable(&e),
    };
    let mut rows = Vec::with_capacity(sessions.len());
    for listed in sessions {
        let apps = match state.store.apps_of_session(&listed.id).await {
            Ok(apps) => apps,
            Err(e) => return unavailable(&e),
        };
        rows.push(row(listed, apps, &session.id));
    }
    // Only fixed sentences: nothing from the query reaches the page. No
    // figure for the apps' checks: each app sets its own interval, which
    // this service cannot know.
    let done = match query_param(&req, "done").ok().flatten().as_deref() {
        Some("one") => Some(
            "That session was ended. Apps refuse it at their next check of ended sessions \
             (each app sets how often it checks).",
        ),
        Some("others") => Some(
            "All your other sessions were ended. Apps refuse them at their next check of \
             ended sessions (each app sets how often it checks).",
        ),
        _ => None,
    };
    let mut logout = state.url("/logout");
    logout
        .query_pairs_mut()
        .append_pair("return_to", return_to.as_str());
    render(
        StatusCode::OK,
        &SessionsPage {
            others: rows.iter().filter(|r| !r.this_browser).count(),
            rows,
            token: &token,
            return_to: return_to.as_str(),
            logout_url: logout.as_str(),
            done,
        },
    )
}

/// `POST /account/sessions/end`: ends one other session of the person.
pub async fn end_one(req: HttpRequest, state: web::Data<AppState>, body: String) -> HttpResponse {
    let (session, form, return_to) = match authorised(&req, &state, &body).await {
        Ok(authorised) => authorised,
        Err(refusal) => return refusal,
    };
    let Some(target) = form.session else {
        return refused(StatusCode::BAD_REQUEST, "No session was chosen.");
    };
    if target == session.id {
        return refused(
            StatusCode::BAD_REQUEST,
            "This is the browser you are using: sign out to end its session.",
        );
    }
    match state.sessions.end_one_of(&session.subject, &target).await {
        Ok(true) => {
            tracing::info!("a session was ended from the sessions page");
            back_to_page(&state, &return_to, "one")
        }
        // Someone else's, unknown or already ended: the same answer, and
        // nothing ended.
        Ok(false) => refused(
            StatusCode::NOT_FOUND,
            "That session is not one of your live sessions; nothing was ended.",
        ),
        Err(e) => unavailable(&e),
    }
}

/// `POST /account/sessions/end-others`: ends all but this browser's.
pub async fn end_others(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: String,
) -> HttpResponse {
    let (session, _, return_to) = match authorised(&req, &state, &body).await {
        Ok(authorised) => authorised,
        Err(refusal) => return refusal,
    };
    match state
        .sessions
        .end_all_others(&session.subject, &session.id)
        .await
    {
        Ok(ended) => {
            tracing::info!(ended, "other sessions were ended from the sessions page");
            back_to_page(&state, &return_to, "others")
        }
        Err(e) => unavailable(&e),
    }
}

/// The page a browser signed out everywhere else sees on its next
/// sign-in (with `SIGNED_OUT_NOTICE`): the notice and a link on to where
/// `handed_off` was taking it, with `handed_off`'s cookies. With code
/// delivery that is the app's start route, not a code that could expire
/// while the notice is read (see the callback).
pub fn signed_out_notice(handed_off: HttpResponse, at: u64) -> HttpResponse {
    let Some(location) = handed_off
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return handed_off;
    };
    let mut page = render(
        StatusCode::OK,
        &NoticePage {
            date: &date(at),
            continue_url: &location,
        },
    );
    for cookie in handed_off.cookies() {
        let _ = page.add_cookie(&cookie);
    }
    page
}

struct Form {
    token: Option<String>,
    session: Option<String>,
    return_to: Option<String>,
}

/// The signed-in session, the form and where the way on leads, if the post
/// comes from this service's page with this browser's token; otherwise
/// the refusal (and nothing is ended).
async fn authorised(
    req: &HttpRequest,
    state: &AppState,
    body: &str,
) -> Result<(SessionRecord, Form, ReturnTo), HttpResponse> {
    let own_origin = state.public_url.origin().ascii_serialization();
    if claimed_origin(req).as_deref() != Some(own_origin.as_str()) {
        tracing::warn!("sessions page post refused: not from this service's page");
        return Err(refused(
            StatusCode::FORBIDDEN,
            "This request did not come from the sessions page; nothing was ended.",
        ));
    }
    let Some(form) = parse_form(body) else {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "The form was not readable.",
        ));
    };
    let session = match state.sessions.current(req).await {
        Ok(Some(session)) => session,
        Ok(None) => return Err(not_signed_in()),
        Err(e) => return Err(unavailable(&e)),
    };
    let token_ok = form
        .token
        .as_deref()
        .is_some_and(|token| Sessions::form_token_matches(req, token));
    if !token_ok {
        tracing::warn!("sessions page post refused: missing or wrong form token");
        return Err(refused(
            StatusCode::FORBIDDEN,
            "This form has expired; nothing was ended. Open the page again.",
        ));
    }
    let return_to = form
        .return_to
        .as_deref()
        .and_then(|raw| state.apps.return_to(raw).ok())
        .unwrap_or_else(|| state.apps.default_return_to());
    Ok((session, form, return_to))
}

/// The form's fields; `None` when one repeats or is too long (no guessing
/// which of two values counts).
fn parse_form(body: &str) -> Option<Form> {
    const MAX_FIELD: usize = 2048;
    let mut form = Form {
        token: None,
        session: None,
        return_to: None,
    };
    for (key, value) in url::form_urlencoded::parse(body.as_bytes()) {
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

/// "4 Dec 2026, 20:05 UTC".
fn date(unix_seconds: u64) -> String {
    i64::try_from(unix_seconds)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|d| d.format("%-d %b %Y, %H:%M UTC").to_string())
        .unwrap_or_else(|| "an unknown date".to_owned())
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

fn refused(status: StatusCode, message: &str) -> HttpResponse {
    error_page(
        status,
        "Your sessions were not changed",
        message,
        Some(PAGE_PATH),
    )
}

fn not_signed_in() -> HttpResponse {
    error_page(
        StatusCode::UNAUTHORIZED,
        "You are not signed in",
        "Sign in to see where you are signed in.",
        Some("/login"),
    )
}

fn unavailable(e: &crate::store::StoreError) -> HttpResponse {
    tracing::error!(reason = %e, "the sessions page's storage failed");
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Your sessions are unavailable",
        "They could not be read or changed right now. Please try again in a moment.",
        Some(PAGE_PATH),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_or_oversized_fields_are_refused() {
        assert!(parse_form("token=a&session=b").is_some());
        assert!(parse_form("token=a&token=b").is_none());
        assert!(parse_form(&format!("session={}", "x".repeat(3000))).is_none());
        let form = parse_form("other=1&return_to=https%3A%2F%2Fapp").unwrap();
        assert_eq!(form.return_to.as_deref(), Some("https://app"));
        assert!(form.token.is_none());
    }

    #[test]
    fn dates_read_plainly() {
        assert_eq!(date(1_796_414_700), "4 Dec 2026, 20:05 UTC");
        assert_eq!(date(u64::MAX), "an unknown date");
    }
}

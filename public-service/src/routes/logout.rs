//! Sign-out: `GET /logout` asks, `POST /logout` does it, `/signed-out`
//! says so (and forgets only a session cookie whose session has ended: a
//! `GET` from any site lands there too).
//!
//! The `POST` is CSRF-safe twice over: the session cookie is
//! `SameSite=Lax`, so a cross-site form post does not carry it, and the
//! request's `Origin` (or, lacking one, its `Referer`) must be this service
//! or a registered app. It revokes the server-side session, clears the
//! session and handoff cookies, optionally revokes the refresh token at
//! the provider, and optionally passes through the provider's end-session
//! endpoint on the way to the signed-out page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use url::Url;

use crate::boundary::{
    BrowserForm, EndedSessionCookie, FormPages, MaybeSession, Origins, SameOriginForm,
};
use crate::flows::sign_out::{self, SignOutError};
use crate::pages::{error_page, render};
use crate::routes::{requested_return_to, MAX_PARAM_LEN};
use crate::sessions::Sessions;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "logout.html")]
struct ConfirmPage<'a> {
    return_to: &'a str,
    /// Whether this browser has a session to sign out of; without one the
    /// page says so instead of asking.
    signed_in: bool,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOutPage<'a> {
    login_url: &'a str,
}

/// A sign-out link lands here: a button that posts the form, or, to a
/// browser with no session, the news that there is nothing to sign out of.
pub async fn confirm(
    MaybeSession(session): MaybeSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> HttpResponse {
    let return_to = requested_return_to(&req, &state);
    render(
        StatusCode::OK,
        &ConfirmPage {
            return_to: return_to.as_str(),
            signed_in: session.is_some(),
        },
    )
}

/// The sign-out form, from this service's confirmation page or an app's
/// sign-out button.
#[derive(Debug)]
pub struct SignOutForm {
    return_to: Option<String>,
}

impl BrowserForm for SignOutForm {
    const ORIGINS: Origins = Origins::OursOrAnApp;
    const PAGES: &'static FormPages = &FormPages {
        name: "sign-out",
        refused_title: "Sign-out was not confirmed",
        foreign_origin:
            "Sign out from the app's sign-out button or from this service's sign-out page.",
        retry_path: "/logout",
    };

    fn parse(body: &[u8]) -> Option<Self> {
        let mut return_to = None;
        for (key, value) in url::form_urlencoded::parse(body) {
            if key != "return_to" {
                continue;
            }
            if return_to.is_some() || value.len() > MAX_PARAM_LEN {
                return None;
            }
            return_to = Some(value.into_owned());
        }
        Some(Self { return_to })
    }
}

pub async fn logout(
    SameOriginForm(form): SameOriginForm<SignOutForm>,
    MaybeSession(session): MaybeSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, SignOutError> {
    let return_to = form
        .return_to
        .as_deref()
        .and_then(|raw| state.apps.return_to(raw).ok())
        .unwrap_or_else(|| state.apps.default_return_to());
    let destination = sign_out::sign_out(&state.sign_out(), session.as_ref(), &return_to).await?;
    let mut page = service_kit::service::continue_to(&destination);
    let _ = page.add_cookie(&Sessions::removal_cookie());
    for cookie in state.handoff.removal_cookies(&state.apps) {
        let _ = page.add_cookie(&cookie);
    }
    Ok(page)
}

impl ResponseError for SignOutError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unreadable | Self::NotHandedToCaller => StatusCode::BAD_REQUEST,
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The browser's sign-out is answered with a page; an app's, with
    /// JSON (`routes::app_sign_out`).
    fn error_response(&self) -> HttpResponse {
        tracing::error!(reason = %self, "sign-out failed");
        error_page(
            self.status_code(),
            "Sign-out is unavailable",
            "You could not be signed out right now. Please try again in a moment.",
            Some("/logout"),
        )
    }
}

pub async fn signed_out(
    ended: EndedSessionCookie,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> HttpResponse {
    let return_to = requested_return_to(&req, &state);
    let mut login = Url::parse("http://x/login").expect("a valid constant URL");
    login
        .query_pairs_mut()
        .append_pair("return_to", return_to.as_str());
    let login_url = format!("/login?{}", login.query().unwrap_or_default());
    let mut page = render(
        StatusCode::OK,
        &SignedOutPage {
            login_url: &login_url,
        },
    );
    if ended.0 {
        let _ = page.add_cookie(&Sessions::removal_cookie());
    }
    page
}

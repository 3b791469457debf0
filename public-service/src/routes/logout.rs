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

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use url::Url;

use crate::apps::{Delivery, ReturnTo};
use crate::delivery::APP_SIGNED_OUT_PATH;
use crate::pages::{error_page, render};
use crate::routes::query_param;
use crate::sessions::Sessions;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "logout.html")]
struct ConfirmPage<'a> {
    return_to: &'a str,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOutPage<'a> {
    login_url: &'a str,
}

/// A sign-out link lands here: a button that posts the form.
pub async fn confirm(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let return_to = requested_return_to(&req, &state);
    render(
        StatusCode::OK,
        &ConfirmPage {
            return_to: return_to.as_str(),
        },
    )
}

pub async fn logout(req: HttpRequest, state: web::Data<AppState>, body: String) -> HttpResponse {
    if !from_a_trusted_origin(&req, &state) {
        tracing::warn!("sign-out refused: not posted from this service or a registered app");
        return error_page(
            StatusCode::FORBIDDEN,
            "Sign-out was not confirmed",
            "Sign out from the app's sign-out button or from this service's sign-out page.",
            Some("/logout"),
        );
    }
    let return_to = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "return_to")
        .and_then(|(_, v)| state.apps.return_to(&v).ok())
        .unwrap_or_else(|| state.apps.default_return_to());

    match state.sessions.current(&req).await {
        Ok(Some(session)) => {
            if let Err(e) = state.sessions.revoke(&session).await {
                tracing::error!(reason = %e, "session could not be revoked");
                return error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sign-out is unavailable",
                    "You could not be signed out right now. Please try again in a moment.",
                    Some("/logout"),
                );
            }
            if state.sign_out.revoke_grant {
                if let Err(e) = state.broker.revoke(&session.subject).await {
                    tracing::warn!(reason = %e, "grant not revoked at sign-out");
                }
            }
            tracing::info!("signed out");
        }
        Ok(None) => tracing::info!("sign-out without a valid session; clearing cookies"),
        Err(e) => {
            tracing::error!(reason = %e, "session lookup failed at sign-out");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-out is unavailable",
                "You could not be signed out right now. Please try again in a moment.",
                Some("/logout"),
            );
        }
    }

    let signed_out = signed_out_url(&state, &return_to);
    let mut destination = signed_out.clone();
    if *state.handoff.delivery() == Delivery::Code {
        // The app's cookie is its own: let the app forget it on the way.
        destination = return_to.app_url();
        destination.set_path(APP_SIGNED_OUT_PATH);
    }
    if state.sign_out.end_provider_session {
        // The provider sends the browser to the registered `/signed-out`
        // exactly, with `return_to` in `state`.
        let registered = state.url("/signed-out");
        if let Some(end_session) = state
            .oidc
            .end_session_url(&registered, return_to.as_str())
            .await
        {
            destination = end_session;
        }
    }
    let mut page = service_kit::service::continue_to(&destination);
    let _ = page.add_cookie(&Sessions::removal_cookie());
    for cookie in state.handoff.removal_cookies(&state.apps) {
        let _ = page.add_cookie(&cookie);
    }
    page
}

pub async fn signed_out(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
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
    // An app that ended the session server to server leaves the (revoked)
    // session cookie behind; forget it here, but only a cookie whose
    // session has ended: any site can send a browser to this page, and a
    // `GET` must not sign anyone out (nor, by dropping the cookie of a live
    // session, knock them out while the session stays valid).
    let ended = match state.sessions.check(&req).await {
        Ok(Ok(_)) => false,
        Ok(Err(_)) => crate::sessions::cookie_present(&req),
        Err(e) => {
            tracing::warn!(reason = %e, "session lookup failed on the signed-out page; cookie kept");
            false
        }
    };
    if ended {
        let _ = page.add_cookie(&Sessions::removal_cookie());
    }
    page
}

/// `return_to`, or `state` when the provider's end-session endpoint sent
/// the browser back (it carries `return_to`); a registered app either way.
pub(crate) fn requested_return_to(req: &HttpRequest, state: &AppState) -> ReturnTo {
    let param = |name: &str| query_param(req, name).ok().flatten();
    param("return_to")
        .or_else(|| param("state"))
        .and_then(|raw| state.apps.return_to(&raw).ok())
        .unwrap_or_else(|| state.apps.default_return_to())
}

fn signed_out_url(state: &AppState, return_to: &ReturnTo) -> Url {
    let mut url = state.url("/signed-out");
    url.query_pairs_mut()
        .append_pair("return_to", return_to.as_str());
    url
}

/// `Origin`, or `Referer` when a browser sent no `Origin`, is this service
/// or a registered app. Neither header, or an opaque (`null`) origin:
/// refused.
fn from_a_trusted_origin(req: &HttpRequest, state: &AppState) -> bool {
    let Some(origin) = claimed_origin(req) else {
        return false;
    };
    origin == state.public_url.origin().ascii_serialization()
        || state.apps.apps().iter().any(|app| app.audience() == origin)
}

/// The serialised `Origin`, or `Referer`'s origin when a browser sent no
/// `Origin`; `None` for neither, several, an opaque (`null`) origin or an
/// `Origin` that is not exactly a serialised origin
/// (`handoff_guard::request_origin`).
pub(crate) fn claimed_origin(req: &HttpRequest) -> Option<String> {
    let headers = req.headers();
    handoff_guard::login_service::claimed_origin(
        headers.get_all(header::ORIGIN).map(|v| v.as_bytes()),
        headers.get_all(header::REFERER).map(|v| v.as_bytes()),
    )
}

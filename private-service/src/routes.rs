//! The app's routes. Every handler that takes [`SignedInUser`] is gated:
//! it cannot run for an anonymous request.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use shared::SignedInUser;

/// Links to the public service that pages show.
pub struct Links {
    pub logout_url: String,
    pub app_url: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    name: Option<&'a str>,
    email: &'a str,
    subject: &'a str,
    expires_at: u64,
    logout_url: &'a str,
    app_url: &'a str,
}

pub async fn home(user: SignedInUser, links: web::Data<Links>) -> HttpResponse {
    let page = HomePage {
        name: user.name(),
        email: user.email(),
        subject: user.subject(),
        expires_at: user.expires_at(),
        logout_url: &links.logout_url,
        app_url: &links.app_url,
    };
    shared::service::html(StatusCode::OK, page.render())
}

/// Who is signed in, for API clients.
pub async fn me(user: SignedInUser) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(serde_json::json!({
            "sub": user.subject(),
            "email": user.email(),
            "name": user.name(),
            "session_expires_at": user.expires_at(),
        }))
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({ "error": "not_found" }))
}

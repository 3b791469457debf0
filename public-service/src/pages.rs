//! HTML pages: the start page and the one error page every browser-facing
//! failure renders. Pages never show internal error text; the reference on
//! the error page is the request's log correlation id.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

#[derive(Template)]
#[template(path = "start.html")]
pub struct StartPage<'a> {
    pub provider_name: &'a str,
    pub app_name: &'a str,
    pub login_url: &'a str,
    pub dev_mode: bool,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub retry_url: Option<&'a str>,
    pub reference: &'a str,
}

pub fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    service_kit::service::html(status, page.render())
}

/// An error page with a fresh reference that the caller also logs.
pub fn error_page(
    status: StatusCode,
    title: &str,
    message: &str,
    retry_url: Option<&str>,
) -> HttpResponse {
    let reference = service_kit::random::url_safe_token(6);
    tracing::info!(%reference, status = status.as_u16(), title, "error page shown");
    render(
        status,
        &ErrorPage {
            title,
            message,
            retry_url,
            reference: &reference,
        },
    )
}

const FAVICON: &str = include_str!("../static/favicon.svg");

/// The tab's icon (`/favicon.svg`, and `/favicon.ico` that browsers ask
/// for without a `<link>`).
pub async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((
            actix_web::http::header::CACHE_CONTROL,
            "public, max-age=86400",
        ))
        .body(FAVICON)
}

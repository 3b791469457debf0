//! HTML pages: the start page and the one error page every browser-facing
//! failure renders. Pages never show internal error text; the reference on
//! the error page is the request's log correlation id.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use askama::Template;

#[derive(Template)]
#[template(path = "start.html")]
pub struct StartPage<'a> {
    pub provider_name: &'a str,
    pub app_name: &'a str,
    pub login_url: &'a str,
    /// The signed-in person's address, when this browser has a session.
    pub signed_in_as: Option<&'a str>,
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

#[derive(Template)]
#[template(path = "signed_out_notice.html")]
struct NoticePage<'a> {
    date: &'a str,
    continue_url: &'a str,
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

/// "4 Dec 2026, 20:05 UTC".
pub fn date(unix_seconds: u64) -> String {
    i64::try_from(unix_seconds)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|d| d.format("%-d %b %Y, %H:%M UTC").to_string())
        .unwrap_or_else(|| "an unknown date".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_plainly() {
        assert_eq!(date(1_796_414_700), "4 Dec 2026, 20:05 UTC");
        assert_eq!(date(u64::MAX), "an unknown date");
    }
}

//! The small HTML answers the library's routes give: a never-cached page
//! and a page that moves the browser on to another origin.

use std::fmt::Display;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

/// A rendered HTML page, never cached; a rendering failure becomes a
/// generic 500 with the cause in the log.
pub fn html(status: StatusCode, rendered: Result<String, impl Display>) -> HttpResponse {
    match rendered {
        Ok(body) => HttpResponse::build(status)
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            HttpResponse::InternalServerError().body("Something went wrong.")
        }
    }
}

/// A page that moves the browser on to `url` (meta refresh, with a link).
///
/// Used where a form's answer leads to another origin: browsers check every
/// redirect that follows a form post against the page's CSP `form-action`,
/// but not a navigation the answer itself starts.
pub fn continue_to(url: &url::Url) -> HttpResponse {
    let target = html_escape(url.as_str());
    html(
        StatusCode::OK,
        Ok::<_, std::convert::Infallible>(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"refresh\" content=\"0;url={target}\"><title>Continue</title></head>\
             <body><p><a id=\"continue\" href=\"{target}\">Continue</a></p></body></html>"
        )),
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

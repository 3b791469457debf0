//! The small answers the library's routes give, whatever framework sends
//! them: a status, headers and a body ([`Reply`]); never cached.

use url::Url;

/// An HTTP answer for a framework adapter to send as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Headers (lowercase names), in order; `set-cookie` may repeat.
    pub headers: Vec<(&'static str, String)>,
    /// The body, empty for a redirect.
    pub body: String,
}

impl Reply {
    /// An answer with `status`, `Cache-Control: no-store` and no body.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: vec![("cache-control", "no-store".to_owned())],
            body: String::new(),
        }
    }

    /// A redirect (`302` or `303`) to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        Self::new(status).header("location", location.to_owned())
    }

    /// An HTML page.
    pub fn html(status: u16, body: String) -> Self {
        let mut reply = Self::new(status).header("content-type", "text/html; charset=utf-8".into());
        reply.body = body;
        reply
    }

    /// A plain-text answer.
    pub fn text(status: u16, body: &str) -> Self {
        let mut reply =
            Self::new(status).header("content-type", "text/plain; charset=utf-8".into());
        reply.body = body.to_owned();
        reply
    }

    /// A page that moves the browser on to `url` (meta refresh, with a
    /// link).
    ///
    /// For a form's answer that leads to another origin: browsers check
    /// every redirect that follows a form post against the page's CSP
    /// `form-action`, but not a navigation the answer itself starts.
    pub fn continue_to(url: &Url) -> Self {
        let target = html_escape(url.as_str());
        Self::html(
            200,
            format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <meta http-equiv=\"refresh\" content=\"0;url={target}\"><title>Continue</title></head>\
                 <body><p><a id=\"continue\" href=\"{target}\">Continue</a></p></body></html>"
            ),
        )
    }

    /// The answer with one more header.
    pub fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The answer setting `cookie`.
    pub fn cookie(self, cookie: &cookie::Cookie<'_>) -> Self {
        self.header("set-cookie", cookie.to_string())
    }
}

#[cfg(feature = "actix")]
impl From<Reply> for actix_web::HttpResponse {
    fn from(reply: Reply) -> Self {
        let status = actix_web::http::StatusCode::from_u16(reply.status)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = actix_web::HttpResponse::build(status);
        for (name, value) in reply.headers {
            match actix_web::http::header::HeaderValue::try_from(value) {
                Ok(value) => {
                    response.append_header((name, value));
                }
                Err(_) => return actix_web::HttpResponse::InternalServerError().finish(),
            }
        }
        response.body(reply.body)
    }
}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for Reply {
    fn into_response(self) -> axum::response::Response {
        let status = http::StatusCode::from_u16(self.status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.body).into_response();
        let headers = response.headers_mut();
        headers.remove(http::header::CONTENT_TYPE);
        for (name, value) in self.headers {
            match http::HeaderValue::try_from(value) {
                Ok(value) => {
                    headers.append(http::HeaderName::from_static(name), value);
                }
                Err(_) => return http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
        response
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

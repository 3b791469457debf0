//! The one answer to every authentication failure, as an HTTP answer
//! that every framework adapter sends alike.

use crate::request_head::RequestHead;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "actix"), allow(dead_code))]
enum Answer {
    Redirect,
    Json,
    Forbidden,
    ServerError,
    /// The keys to verify the token with cannot be fetched (the public
    /// service is down and none were fetched before): neither "signed in"
    /// nor "sign in again", whose redirect could loop while the outage lasts.
    Unavailable {
        html: bool,
    },
}

/// The one answer to every authentication failure.
#[derive(Debug)]
pub struct Unauthenticated {
    sign_in_url: String,
    answer: Answer,
    /// Set with a redirect: the pending verifiers, the new one among them.
    pub(super) cookie: Option<Box<cookie::Cookie<'static>>>,
}

impl Unauthenticated {
    pub(super) fn new(req: &impl RequestHead, sign_in_url: String) -> Self {
        let answer = if req.wants_html() {
            Answer::Redirect
        } else {
            Answer::Json
        };
        Self {
            sign_in_url,
            answer,
            cookie: None,
        }
    }

    pub(crate) fn forbidden(message: &'static str) -> Self {
        Self {
            sign_in_url: message.to_owned(),
            answer: Answer::Forbidden,
            cookie: None,
        }
    }

    pub(super) fn unavailable(req: &impl RequestHead) -> Self {
        Self {
            sign_in_url: String::new(),
            answer: Answer::Unavailable {
                html: req.wants_html(),
            },
            cookie: None,
        }
    }

    /// Whether the request could not be checked at all, for want of keys.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.answer, Answer::Unavailable { .. })
    }

    #[cfg_attr(not(feature = "actix"), allow(dead_code))]
    pub(crate) fn misconfigured() -> Self {
        Self {
            sign_in_url: String::new(),
            answer: Answer::ServerError,
            cookie: None,
        }
    }

    /// Where the request is sent to sign in: the `Location` of the
    /// redirect, or the `login_url` of the `401`'s JSON. For a `403` it
    /// holds the reason given instead; it is empty for `500` and `503`.
    pub fn sign_in_url(&self) -> &str {
        &self.sign_in_url
    }
}

const UNAVAILABLE_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
    <title>Temporarily unavailable</title></head><body><h1>Temporarily unavailable</h1>\
    <p>Your sign-in cannot be checked right now. Please reload this page in a moment.</p>\
    <p><a id=\"way-on\" href=\"\">Try again</a></p></body></html>";

/// The refusal as an HTTP answer, for the framework adapters to send as
/// they are: every adapter answers alike.
impl Unauthenticated {
    /// The status: `302` to sign in, `401`, `403`, `500` or `503`.
    pub fn status(&self) -> u16 {
        match self.answer {
            Answer::Redirect => 302,
            Answer::Json => 401,
            Answer::Forbidden => 403,
            Answer::ServerError => 500,
            Answer::Unavailable { .. } => 503,
        }
    }

    /// The headers to send (lowercase names), `content-type` among them
    /// when there is a body.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![("cache-control", "no-store".to_owned())];
        match self.answer {
            Answer::Redirect => {
                headers.push(("location", self.sign_in_url.clone()));
                if let Some(cookie) = &self.cookie {
                    headers.push(("set-cookie", cookie.to_string()));
                }
            }
            Answer::Json => {
                headers.push((
                    "www-authenticate",
                    r#"Bearer realm="app", error="invalid_token""#.to_owned(),
                ));
                headers.push(("content-type", "application/json".to_owned()));
            }
            Answer::Forbidden | Answer::ServerError => {
                headers.push(("content-type", "application/json".to_owned()));
            }
            Answer::Unavailable { html } => {
                headers.push(("retry-after", "5".to_owned()));
                let kind = if html {
                    "text/html; charset=utf-8"
                } else {
                    "application/json"
                };
                headers.push(("content-type", kind.to_owned()));
            }
        }
        headers
    }

    /// The body: a page, JSON naming the login URL or the reason, or
    /// nothing for a redirect.
    pub fn body(&self) -> String {
        match self.answer {
            Answer::Redirect => String::new(),
            Answer::Json => serde_json::json!({
                "error": "unauthenticated",
                "message": "Sign in to continue.",
                "login_url": self.sign_in_url,
            })
            .to_string(),
            Answer::Forbidden => serde_json::json!({
                "error": "forbidden",
                "message": self.sign_in_url,
            })
            .to_string(),
            Answer::ServerError => serde_json::json!({
                "error": "server_error",
                "message": "Authentication is not configured on this route.",
            })
            .to_string(),
            Answer::Unavailable { html: true } => UNAVAILABLE_PAGE.to_owned(),
            Answer::Unavailable { html: false } => serde_json::json!({
                "error": "temporarily_unavailable",
                "message": "Sign-in cannot be checked right now. Try again shortly.",
            })
            .to_string(),
        }
    }
}

impl std::fmt::Display for Unauthenticated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not signed in")
    }
}

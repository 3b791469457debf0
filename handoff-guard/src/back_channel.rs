//! What every server-to-server call of the shared library has in common: a
//! client that follows no redirect (a redirected back-channel call is an
//! SSRF door) and gives up in bounded time, and error descriptions that
//! never quote a URL or a body.

use std::time::Duration;

/// How long an idle pooled connection is reused. Many servers close idle
/// keep-alive connections after 5 s; a request sent on one just as the
/// server closes it fails with "connection closed before message
/// completed" (seen under load against the token endpoint), and a POST is
/// not retried. Dropping ours first closes that race.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// A client for back-channel calls that each finish within `timeout`.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        // Only a TLS backend that cannot start fails here, at start-up.
        .expect("an HTTP client with rustls and no redirects builds")
}

/// The kind of a failed call, for a log line.
pub fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_decode() || e.is_body() {
        "bad response body".into()
    } else {
        "request failed".into()
    }
}

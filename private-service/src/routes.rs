//! The app's routes. Every handler that takes [`SignedInUser`] is gated:
//! it cannot run for an anonymous request.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use handoff_guard::HandoffGate;
use handoff_guard::SignedInUser;
use handoff_guard::{Principal, ServiceCaller};

/// Links to the public service that pages show.
pub struct Links {
    pub logout_url: String,
    pub app_url: String,
    /// The public service's "Where you're signed in" page, with this app
    /// as the way back.
    pub sessions_url: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    name: Option<&'a str>,
    email: &'a str,
    subject: &'a str,
    expires_in: String,
    expires_clock: String,
    logout_url: &'a str,
    app_url: &'a str,
    sessions_url: &'a str,
}

pub async fn home(user: SignedInUser, links: web::Data<Links>) -> HttpResponse {
    let page = HomePage {
        name: user.name(),
        email: user.email(),
        subject: user.subject(),
        expires_in: time_until(user.expires_at(), unix_now()),
        expires_clock: clock_time(user.expires_at()),
        logout_url: &links.logout_url,
        app_url: &links.app_url,
        sessions_url: &links.sessions_url,
    };
    service_kit::service::html(StatusCode::OK, page.render())
}

/// The answer of [`me`], serialised straight from the user rather than
/// through a JSON tree built per request. `token_expires_at` is when the
/// handoff token that signed this request in expires (the app renews it
/// then); the session at the login service lives on past it.
#[derive(serde::Serialize)]
struct Me<'a> {
    email: &'a str,
    name: Option<&'a str>,
    token_expires_at: u64,
    sub: &'a str,
}

/// Who is signed in, for API clients.
pub async fn me(user: SignedInUser) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(Me {
            email: user.email(),
            name: user.name(),
            token_expires_at: user.expires_at(),
            sub: user.subject(),
        })
}

/// A job endpoint for Cloud Tasks, Cloud Scheduler or another service:
/// service accounts only.
pub async fn task(caller: ServiceCaller) -> HttpResponse {
    tracing::info!(caller = %caller.0.email, "task accepted");
    HttpResponse::Accepted().json(serde_json::json!({
        "accepted": true,
        "caller": caller.0.email,
    }))
}

/// Forward auth for a proxy in front of another service (nginx
/// `auth_request`, Envoy `ext_authz`): `200` with identity headers for a
/// valid cookie or Bearer token, `401` otherwise (never a redirect: the
/// proxy decides what a browser sees).
pub async fn forward_auth(req: HttpRequest, gate: web::Data<HandoffGate>) -> HttpResponse {
    let identity = match gate.authenticate(&req).await {
        Ok(Principal::Person(person)) => identity_headers(
            "person",
            &person.subject,
            &person.email,
            person.session_id.as_deref(),
        ),
        Ok(Principal::Service(service)) => {
            identity_headers("service", &service.subject, &service.email, None)
        }
        // No keys to check with: the proxy should answer "try again", not
        // send the browser to sign in.
        Err(e) if e.is_unavailable() => {
            return HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")))
                .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
                .finish();
        }
        Err(_) => None,
    };
    let Some(headers) = identity else {
        return HttpResponse::Unauthorized()
            .insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="app""#),
            ))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .finish();
    };
    let mut response = HttpResponse::Ok();
    for (name, value) in headers {
        response.insert_header((name, value));
    }
    response
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .finish()
}

/// The identity a proxy passes on, or `None` when a claim cannot be a
/// header value (a CR/LF would let a token's contents write headers of
/// their own): such an identity is refused, not passed on half.
fn identity_headers(
    kind: &'static str,
    subject: &str,
    email: &str,
    session: Option<&str>,
) -> Option<Vec<(&'static str, HeaderValue)>> {
    let value = |v: &str| {
        let value = HeaderValue::from_str(v).ok();
        if value.is_none() {
            tracing::warn!(kind, "refused: an identity claim cannot be a header value");
        }
        value
    };
    let mut headers = vec![
        ("X-Auth-Kind", HeaderValue::from_static(kind)),
        ("X-Auth-Subject", value(subject)?),
        ("X-Auth-Email", value(email)?),
    ];
    if kind == "person" {
        headers.push(("X-Auth-Session", value(session.unwrap_or_default())?));
    }
    Some(headers)
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// How long a readiness probe waits for each check; Cloud Run's probe
/// timeout must be longer (deploy/private-service.yaml).
const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Ready once the public service's verification keys are loaded (cached
/// keys count: an outage of the public service does not take the app out)
/// and, when the app follows the revocation feed, once one fetch of it has
/// succeeded: an app that cannot read the feed (a missing
/// `APP_SERVICE_ACCOUNTS` entry on the public service, say) could not
/// keep its sign-out promise, and must not start serving as if it could.
pub async fn readyz(gate: web::Data<HandoffGate>) -> HttpResponse {
    let keys = async {
        gate.verifier().has_keys()
            || matches!(
                tokio::time::timeout(READY_WAIT, gate.verifier().prefetch()).await,
                Ok(Ok(()))
            )
    };
    let revocations = async {
        let Some(feed) = gate.revocation_feed() else {
            return true;
        };
        if !feed.has_fetched() {
            let _ = tokio::time::timeout(READY_WAIT, feed.ensure_fresh()).await;
        }
        feed.has_fetched()
    };
    let (keys, revocations) = tokio::join!(keys, revocations);
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let body = serde_json::json!({
        "status": if keys && revocations { "ready" } else { "not_ready" },
        "keys": word(keys),
        "revocations": word(revocations),
    });
    if keys && revocations {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundPage;

/// A page with a way back for a browser (`Accept: text/html`), JSON for
/// API clients.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        return service_kit::service::html(StatusCode::NOT_FOUND, NotFoundPage.render());
    }
    HttpResponse::NotFound().json(serde_json::json!({ "error": "not_found" }))
}

const FAVICON: &str = include_str!("../static/favicon.svg");

/// The tab's icon (`/favicon.svg`, and `/favicon.ico` that browsers ask
/// for without a `<link>`).
pub async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=86400"),
        ))
        .body(FAVICON)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// "in 10 minutes", "in 2 hours", "in less than a minute", "now".
fn time_until(at: u64, now: u64) -> String {
    let left = at.saturating_sub(now);
    let (n, unit) = match left {
        0 => return "now".to_owned(),
        1..=59 => return "in less than a minute".to_owned(),
        60..=5399 => ((left + 30) / 60, "minute"),
        5400..=129_599 => ((left + 1800) / 3600, "hour"),
        _ => ((left + 43_200) / 86_400, "day"),
    };
    format!("in {n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// The time of day in UTC, e.g. "14:05 UTC" (the server knows no time zone
/// of the reader's).
fn clock_time(at: u64) -> String {
    let of_day = at % 86_400;
    format!("{:02}:{:02} UTC", of_day / 3600, of_day % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_reads_as_words_and_a_time_of_day() {
        let now = 1_900_000_000;
        assert_eq!(time_until(now + 600, now), "in 10 minutes");
        assert_eq!(time_until(now + 89, now), "in 1 minute");
        assert_eq!(time_until(now + 20, now), "in less than a minute");
        assert_eq!(time_until(now - 5, now), "now");
        assert_eq!(time_until(now + 3 * 3600, now), "in 3 hours");
        assert_eq!(time_until(now + 2 * 86_400, now), "in 2 days");
        // 1900000000 is 2030-03-17 17:46:40 UTC.
        assert_eq!(clock_time(now), "17:46 UTC");
    }
}

//! Faults: the provider, the database or the public service down, slow or
//! answering garbage. Each fault has an expected behaviour, and every
//! answer comes in bounded time (the provider timeout is 1 s here, the
//! database timeout 2 s; a slow fault delays 30 s, so an answer within
//! 10 s proves the timeout cut it short).
//!
//! | fault | when | expected behaviour | test module |
//! |---|---|---|---|
//! | discovery down (refused), slow, garbage, 500 | at start | the service starts; `/readyz` 503 (`provider: unavailable`); `/login` 503 page; works without a restart once the provider answers | `discovery` |
//! | discovery down, slow, garbage | mid-run | nothing changes: the metadata from start is kept (never re-discovered; only the JWKS is re-fetched, on an unknown `kid`) | `discovery` |
//! | whole provider down | mid-run | readiness stays true; signed-in users renew without the provider; new sign-ins fail at the provider | `discovery` |
//! | JWKS 500 | at start | part of discovery: as discovery down at start | `jwks` |
//! | JWKS 500, slow, garbage | after a key rotation (new `kid`) | callback: 503 (down, slow) or 502 (garbage) page with a reference, no cookie; works once the JWKS answers (at most one re-fetch per `PROVIDER_JWKS_REFETCH_INTERVAL`) | `jwks` |
//! | token endpoint refused, slow, 500, garbage, redirect | callback | 503 (refused, slow, 500) or 502 (garbage, redirect not followed) page, no cookie; a new sign-in works once it answers | `token_endpoint` |
//! | token endpoint refused, slow, 500, garbage | broker refresh | JSON 503 `temporarily_unavailable` with `Retry-After`; the grant is kept (not revoked, same refresh token, lease released); the next call after recovery refreshes | `broker` |
//! | provider JWKS 500 | broker caller check | JSON 503 `temporarily_unavailable` (the caller's token may be fine), not 401 | `broker` |
//! | userinfo 500, slow, garbage | any | nothing while the id_token has every claim the policy needs (Google's always do): userinfo is not called; a provider whose claims come from userinfo only gets 503 (down, slow) or 502 (garbage) pages, in bounded time (`flows/providers.rs`) | `userinfo` |
//! | PostgreSQL down | at start | the service starts: `/healthz` 200, `/readyz` 503 (`storage: unavailable`), callback 503 page, broker JSON 503; once it answers, migrations run and readiness turns true without a restart | `database` |
//! | malformed `DATABASE_URL`, unopenable SQLite file, missing PostgreSQL database | at start | the service stops with one line naming `DATABASE_URL` | `database` |
//! | PostgreSQL down | mid-run | callback, renewal: 503 page; broker: JSON 503; nothing half-written; after it is back, earlier users renew and their grants are intact | `database` |
//! | database locked by another client (SQLite: a writer; PostgreSQL: a migration's table lock) | mid-run | requests that need the locked tables answer 503 after `DATABASE_TIMEOUT`, never hang; all is well once the lock is released (SQLite has no "down": an unopenable file is a configuration error) | `database` |
//! | public service down | mid-run | the app serves signed-in users from cached keys until their token expires, then redirects to `/renew` (API: 401 JSON); revocation polling failures are logged and block nothing; renewal works once it is back | `public_down` |
//! | public service down | app start | a request with a handoff cookie gets 503 (page or JSON), never a redirect loop; `/readyz` 503 until the keys are fetched | `public_down` |

mod broker;
mod database;
mod discovery;
mod jwks;
mod public_down;
mod token_endpoint;
mod userinfo;

use std::future::Future;
use std::time::Duration;

use integration_tests::{logs, Browser, Page, TestApp};

/// The provider timeout of these tests.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a slow dependency makes callers wait: far beyond any timeout.
pub const SLOW: Duration = Duration::from_secs(30);
/// Every answer during a fault comes within this: timeouts, not the
/// fault, decide how long a caller waits.
pub const BOUND: Duration = Duration::from_secs(10);

/// Runs `work`, failing if it has not finished within [`BOUND`].
pub async fn within_bound<T>(what: &str, work: impl Future<Output = T>) -> T {
    match tokio::time::timeout(BOUND, work).await {
        Ok(result) => result,
        Err(_) => panic!("{what} took {BOUND:?} or more"),
    }
}

/// An error page as people see it: the status, the page with a
/// reference, no handoff or session cookie, nothing internal.
pub fn assert_clean_error_page(page: &Page, status: u16) {
    assert_eq!(page.status, status, "{}: {}", page.url, page.body);
    assert!(
        page.body.contains("<html") && page.body.contains("Reference"),
        "{}",
        page.body
    );
    assert!(
        page.raw_set_cookies.iter().all(|c| !c.contains("handoff")),
        "{:?}",
        page.raw_set_cookies
    );
    assert!(page
        .set_cookie(public_service::sessions::COOKIE_NAME)
        .is_none());
    let lower = page.body.to_lowercase();
    for internal in ["panic", "sqlx", "reqwest", "error:"] {
        assert!(!lower.contains(internal), "{internal} in {}", page.body);
    }
}

/// The public service's readiness: status and body.
pub async fn readiness(app: &TestApp) -> (u16, serde_json::Value) {
    let response = reqwest::get(format!("http://{}/readyz", app.auth_addr))
        .await
        .expect("the public service answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// Waits (bounded) until the public service's readiness is `status`.
pub async fn wait_for_readiness(app: &TestApp, status: u16) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    for _ in 0..60 {
        let (now, body) = readiness(app).await;
        if now == status {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("readiness never became {status}: {last}");
}

/// No token the provider issued, no cookie value the browsers hold and no
/// configured secret reached a log line; no service thread panicked.
pub fn assert_nothing_leaked(app: &TestApp, browsers: &[&Browser]) {
    let mut secrets: Vec<String> = app.provider.issued_tokens();
    secrets.extend(app.configured_secrets.iter().cloned());
    for browser in browsers {
        secrets.extend(browser.cookies().into_iter().map(|c| c.value));
    }
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    logs::assert_not_logged(&refs);
    logs::assert_no_service_panics();
}

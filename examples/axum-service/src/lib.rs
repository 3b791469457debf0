//! An axum service behind the login service: people on `/` and
//! `/api/me`, Google service accounts (Cloud Scheduler, say) on `/jobs`.
//! `main.rs` builds the [`Guard`] from two URLs; the tests build it with
//! their own clock and hosts and serve this same router.

use axum::routing::{get, post};
use axum::{Json, Router};
use handoff_guard::{Guard, ServiceCaller, SignedInUser};

async fn home(user: SignedInUser) -> String {
    format!("Hello {}, from an axum service.\n", user.email())
}

async fn me(user: SignedInUser) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "email": user.email(),
        "subject": user.subject(),
        "handoff_token_expires_at": user.expires_at(),
    }))
}

async fn job(caller: ServiceCaller) -> String {
    format!("job started by {}\n", caller.0.email)
}

/// The service's routes, the guard's own among them.
pub fn router(guard: Guard) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/api/me", get(me))
        .route("/jobs", post(job))
        .route("/readyz", get(|| async { "ready\n" }))
        .merge(guard.routes())
        .with_state(guard)
}

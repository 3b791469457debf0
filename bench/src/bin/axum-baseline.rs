//! The axum adapter's baseline: a plain axum handler answering the same
//! JSON as the app's `/api/me`, with no auth, so the axum row shows what
//! the gate costs on top of axum itself. `PORT` and `BIND_ADDRESS` as the
//! services read them.
#![forbid(unsafe_code)]

use axum::http::header::CACHE_CONTROL;
use axum::routing::get;
use axum::{Json, Router};

/// The signed-in person of a benchmark run, as the app would answer.
async fn me() -> (
    [(axum::http::HeaderName, &'static str); 1],
    Json<serde_json::Value>,
) {
    (
        [(CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({
            "sub": "184739501273648592017",
            "email": "alice@example.com",
            "name": "Alice",
            "token_expires_at": 1_900_000_000u64,
        })),
    )
}

#[tokio::main]
async fn main() {
    let address = std::env::var("BIND_ADDRESS").unwrap_or_else(|_| "0.0.0.0".into());
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let app = Router::new().route("/api/me", get(me)).route(
        "/readyz",
        get(|| async { Json(serde_json::json!({ "status": "ready" })) }),
    );
    let listener = tokio::net::TcpListener::bind((address.as_str(), port))
        .await
        .expect("the port");
    axum::serve(listener, app).await.expect("serving");
}

//! The benchmark's baseline: a plain actix-web handler answering the same
//! JSON as the app's `/api/me`, with no auth and no middleware, so the
//! table shows what the auth costs on top of actix-web itself. `PORT`,
//! `BIND_ADDRESS` and `WORKERS` as the services read them.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use actix_web::http::header::{HeaderValue, CACHE_CONTROL};
use actix_web::{web, App, HttpResponse, HttpServer};

/// The signed-in person of a benchmark run, as the app would answer.
async fn me() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(serde_json::json!({
            "sub": "184739501273648592017",
            "email": "alice@example.com",
            "name": "Alice",
            "token_expires_at": 1_900_000_000u64,
        }))
}

async fn ready() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))
}

fn setting<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(raw) => raw
            .parse()
            .map_err(|_| format!("configuration error: {name}: cannot read {raw:?}")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let settings = (|| {
        Ok::<_, String>((
            setting("BIND_ADDRESS", "0.0.0.0".to_owned())?,
            setting("PORT", 8080u16)?,
            setting("WORKERS", workers)?,
        ))
    })();
    let (address, port, workers) = match settings {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let server = HttpServer::new(|| {
        App::new()
            .route("/api/me", web::get().to(me))
            .route("/readyz", web::get().to(ready))
    })
    .workers(workers)
    .bind((address.as_str(), port));
    let result = match server {
        Ok(server) => server.run().await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("baseline: {e}");
            ExitCode::FAILURE
        }
    }
}

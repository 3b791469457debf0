//! `AUTH_URL=https://auth.example.com APP_URL=https://app.example.com
//! cargo run -p axum-service`, and add `https://app.example.com` to the
//! login service's `APP_ORIGINS` (with this service's account in
//! `APP_SERVICE_ACCOUNTS`). `SERVICE_ACCOUNTS` lists the Google service
//! accounts that may call `/jobs`. `METADATA_URL` and
//! `AUTH_BACKCHANNEL_URL` point the guard at another metadata server or a
//! private address of the login service (the benchmark's local stack).

use handoff_guard::Guard;
use std::str::FromStr;

#[tokio::main]
async fn main() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let mut builder = Guard::builder(&var("AUTH_URL"), &var("APP_URL"))
        .unwrap_or_else(|e| panic!("AUTH_URL or APP_URL: {e}"))
        .service_accounts(var("SERVICE_ACCOUNTS").split(',').filter(|e| !e.is_empty()));
    if let Ok(url) = url::Url::from_str(&var("METADATA_URL")) {
        builder = builder.metadata_server(url);
    }
    if let Ok(url) = url::Url::from_str(&var("AUTH_BACKCHANNEL_URL")) {
        builder = builder.back_channel(url);
    }
    let guard = builder.build();
    if let Err(problem) = guard.check().await {
        eprintln!("warning: {problem}");
    }
    let port = var("PORT").parse().unwrap_or(8080);
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port))
        .await
        .expect("the port");
    axum::serve(listener, axum_service::router(guard))
        .await
        .expect("serving");
}

//! A third service behind the same sign-in, protected by `handoff-guard` in a
//! handful of lines (the routes are in `lib.rs`).
//!
//! `AUTH_URL=https://auth.example.com APP_URL=https://reports.example.com
//! SERVICE_ACCOUNTS=scheduler@my-project.iam.gserviceaccount.com
//! cargo run -p reports-service`, and add `https://reports.example.com` to
//! the public service's `APP_ORIGINS` (and this service's account to its
//! `APP_SERVICE_ACCOUNTS`). With `HANDOFF_COOKIE_DOMAIN` set, the token
//! comes in this app's cookie on the shared parent domain instead of a
//! one-time code.

use actix_web::{App, HttpServer};
use handoff_guard::Guard;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let mut builder = Guard::builder(&var("AUTH_URL"), &var("APP_URL"))
        .unwrap_or_else(|e| panic!("AUTH_URL or APP_URL: {e}"))
        .service_accounts(var("SERVICE_ACCOUNTS").split(',').filter(|e| !e.is_empty()));
    if !var("HANDOFF_COOKIE_DOMAIN").is_empty() {
        builder = builder.parent_domain_cookie();
    }
    let guard = builder.build();
    if let Err(problem) = guard.check().await {
        eprintln!("warning: {problem}");
    }
    let routes = reports_service::routes(&guard);
    let port = var("PORT").parse().unwrap_or(8080);
    HttpServer::new(move || App::new().configure(routes.clone()))
        .bind(("0.0.0.0", port))?
        .run()
        .await
}

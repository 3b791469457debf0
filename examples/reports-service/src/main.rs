//! A third service behind the same sign-in, protected by `handoff-guard` in a
//! handful of lines: people (handoff cookie or token) on `/`, service
//! accounts (Cloud Scheduler, say, listed in `SERVICE_ACCOUNTS`) on `/jobs`.
//!
//! `AUTH_URL=https://auth.example.com APP_URL=https://reports.example.com
//! HANDOFF_COOKIE_DOMAIN=example.com
//! SERVICE_ACCOUNTS=scheduler@my-project.iam.gserviceaccount.com
//! cargo run -p reports-service`, and add `https://reports.example.com` to
//! the public service's `APP_ORIGINS`.

use actix_web::{web, App, HttpServer};
use handoff_guard::extractor::{BearerIdTokens, HandoffGate};
use handoff_guard::verifier::HandoffVerifier;
use handoff_guard::{ServiceCaller, SignedInUser};
use url::Url;

async fn report(user: SignedInUser) -> String {
    format!("Quarterly report for {}\n", user.email())
}

async fn job(caller: ServiceCaller) -> String {
    format!("job started by {}\n", caller.0.email)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is required"));
    let (auth, app): (Url, Url) = (
        var("AUTH_URL").parse().unwrap(),
        var("APP_URL").parse().unwrap(),
    );
    let issuer = auth.as_str().trim_end_matches('/');
    let audience = app.origin().ascii_serialization();
    let verifier = HandoffVerifier::remote(
        issuer,
        &audience,
        auth.join("/.well-known/jwks.json").unwrap(),
        Default::default(),
    );
    let services: Vec<String> = var("SERVICE_ACCOUNTS")
        .split(',')
        .map(str::to_owned)
        .collect();
    let mut gate = HandoffGate::new(verifier, auth.join("/login").unwrap(), app.clone())
        .renewing_at(auth.join("/renew").unwrap())
        .accepting_id_tokens(BearerIdTokens::google_service_accounts(&app, &services));
    // On a shared parent domain, this app's own `__Secure-handoff-…` cookie.
    if std::env::var("HANDOFF_COOKIE_DOMAIN").is_ok_and(|d| !d.is_empty()) {
        gate = gate.parent_domain_cookie();
    }
    let gate = web::Data::new(gate);
    HttpServer::new(move || {
        App::new()
            .app_data(gate.clone())
            .route("/", web::get().to(report))
            .route("/jobs", web::post().to(job))
    })
    .bind((
        "0.0.0.0",
        std::env::var("PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(8080),
    ))?
    .run()
    .await
}

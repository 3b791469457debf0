//! The reports service's routes: people on `/` (and `/api/me`), service
//! accounts (Cloud Scheduler, say) on `/jobs`. `main.rs` builds the
//! [`Guard`] from two URLs; the tests build it with their own clock and
//! hosts and serve these same routes.

use actix_web::{web, HttpResponse};
use handoff_guard::{Guard, ServiceCaller, SignedInUser};

async fn report(user: SignedInUser) -> String {
    format!("Quarterly report for {}\n", user.email())
}

async fn me(user: SignedInUser) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "email": user.email(),
        "subject": user.subject(),
        "handoff_token_expires_at": user.expires_at(),
    }))
}

async fn job(caller: ServiceCaller) -> String {
    format!("job started by {}\n", caller.0.email)
}

/// The service's routes, the guard's own among them.
pub fn routes(guard: &Guard) -> impl Fn(&mut web::ServiceConfig) + Clone {
    let guard = guard.actix();
    move |cfg| {
        guard(cfg);
        cfg.route("/", web::get().to(report))
            .route("/api/me", web::get().to(me))
            .route("/jobs", web::post().to(job));
    }
}

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::state::AppState;

/// The public keys of the handoff token. Apps keep them at most five
/// minutes (less if their `JWKS_MAX_AGE` says so): a retired key stops
/// verifying that long after it leaves this list.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(state.handoff.signer().jwks())
}

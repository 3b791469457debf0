//! `/healthz` (liveness: the process answers) and `/readyz` (readiness: the
//! database answers and the provider's discovery document is loaded, so a
//! sign-in started now can finish).

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// How long a readiness probe waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let storage = matches!(
        tokio::time::timeout(PROBE_TIMEOUT, state.store.ping()).await,
        Ok(Ok(()))
    );
    let provider = state.oidc.is_discovered()
        || matches!(
            tokio::time::timeout(PROBE_TIMEOUT, state.oidc.metadata()).await,
            Ok(Ok(_))
        );
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let body = json!({
        "status": if storage && provider { "ready" } else { "not_ready" },
        "storage": word(storage),
        "provider": word(provider),
    });
    if storage && provider {
        HttpResponse::Ok().json(body)
    } else {
        tracing::warn!(
            storage = word(storage),
            provider = word(provider),
            "not ready"
        );
        HttpResponse::ServiceUnavailable().json(body)
    }
}

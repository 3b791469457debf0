//! `/healthz` (liveness: the process answers) and `/readyz` (readiness: the
//! database answers and the provider's discovery document is loaded, so a
//! sign-in started now can finish).
//!
//! A probe's answer must come well within its timeout (Cloud Run requires
//! `timeoutSeconds` ≤ `periodSeconds`, 1 s at the least:
//! <https://cloud.google.com/run/docs/configuring/healthchecks>), so both
//! checks run at once, each bounded by [`CHECK_WAIT`]. Answers are kept
//! for [`KEEP_ANSWER`]: a flood of `/readyz` costs one database round trip
//! a second, not one per request, and cannot starve sign-ins of
//! connections.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::readiness::Checked;
use crate::state::AppState;

/// How long a readiness probe waits for each dependency.
const CHECK_WAIT: Duration = Duration::from_millis(1500);
/// How long one answer serves later probes.
const KEEP_ANSWER: Duration = Duration::from_secs(1);

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let checked = state.readiness.checked(KEEP_ANSWER, check(&state)).await;
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let ready = checked.storage && checked.provider;
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "storage": word(checked.storage),
        "provider": word(checked.provider),
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn check(state: &AppState) -> Checked {
    service_kit::metrics::count(
        "readiness_checks_total",
        "Readiness checks that asked the database and the provider (an answer serves later probes for a second).",
        &[],
    );
    let storage = async {
        let attempt = async { state.store.try_prepare().await && state.store.ping().await.is_ok() };
        matches!(tokio::time::timeout(CHECK_WAIT, attempt).await, Ok(true))
    };
    let provider = async {
        state.oidc.is_discovered()
            || matches!(
                tokio::time::timeout(CHECK_WAIT, state.oidc.metadata()).await,
                Ok(Ok(_))
            )
    };
    let (storage, provider) = tokio::join!(storage, provider);
    if !(storage && provider) {
        let word = |ok: bool| if ok { "ok" } else { "unavailable" };
        tracing::warn!(
            storage = word(storage),
            provider = word(provider),
            "not ready"
        );
    }
    Checked { storage, provider }
}

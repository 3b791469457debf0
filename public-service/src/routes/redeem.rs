//! `POST /handoff/redeem`: an app exchanges a one-time code for a handoff
//! token, server to server.
//!
//! The caller proves it is the app's service account with a
//! provider-signed ID token for this service's URL; the code must have been
//! issued for the audience the caller is registered for, unused and
//! unexpired (one statement marks it used, so of concurrent redemptions
//! exactly one succeeds), brought with the verifier of the browser it was
//! bound to (the SHA-256 of each verifier presented compared in constant
//! time; none matching uses the code up), and its session must still be
//! valid. Request: `{"code": "…", "audience": "<app origin>",
//! "verifiers": ["…", …]}`, the browser's pending verifiers (at most
//! `MAX_PENDING_BINDINGS`; one browser may have several sign-ins under way), or
//! `"verifier": "…"` alone as apps sent it before. Answer: `200`
//! `{"handoff_token", "expires_in", "return_to", "verifier_index"}`, the
//! last naming the verifier that matched, which the app then forgets;
//! `400 invalid_grant` for any code that cannot be redeemed (unknown,
//! used, expired, another app's, another browser's, ended session),
//! without saying which.
//! Limited per calling app (`429`), not per address: apps on one egress
//! address do not share a budget.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use serde_json::json;

use crate::boundary::AppCaller;
pub use crate::flows::hand_off::RedeemRequest;
use crate::flows::hand_off::{self, RedemptionError};
use crate::routes::{json_answer, temporarily_unavailable};
use crate::state::AppState;

pub async fn redeem(
    caller: AppCaller,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, RedemptionError> {
    let request = RedeemRequest::parse(&body).ok_or(RedemptionError::Unreadable)?;
    let redeemed = hand_off::redeem(&state.hand_off(), &caller, &request)
        .await
        .inspect_err(|e| {
            tracing::warn!(caller = %caller.account(), app = %request.audience, reason = %e, "handoff code not redeemed");
        })?;
    tracing::info!(app = %request.audience, "handoff code redeemed");
    count_redemption("ok");
    Ok(json_answer(
        StatusCode::OK,
        json!({
            "handoff_token": redeemed.handoff_token,
            "expires_in": redeemed.expires_in,
            "return_to": redeemed.return_to,
            "verifier_index": redeemed.verifier_index,
        }),
    ))
}

impl ResponseError for RedemptionError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unreadable | Self::InvalidGrant(_) => StatusCode::BAD_REQUEST,
            Self::NotTheAppsAccount { .. } => StatusCode::FORBIDDEN,
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Signing(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Unreadable => json_answer(
                StatusCode::BAD_REQUEST,
                json!({ "error": "invalid_request", "message": "Send {\"code\": \"…\", \"audience\": \"<app origin>\", \"verifiers\": [\"…\"]} as JSON." }),
            ),
            Self::NotTheAppsAccount { .. } => json_answer(
                StatusCode::FORBIDDEN,
                json!({ "error": "caller_not_allowed", "message": "This service account is not registered for that app." }),
            ),
            Self::InvalidGrant(_) => {
                count_redemption("refused");
                json_answer(
                    StatusCode::BAD_REQUEST,
                    json!({ "error": "invalid_grant", "message": "The code is not valid (anymore)." }),
                )
            }
            Self::Store(_) => temporarily_unavailable(),
            Self::Signing(_) => json_answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": "server_error" }),
            ),
        }
    }
}

fn count_redemption(outcome: &'static str) {
    service_kit::metrics::count(
        "handoff_code_redemptions_total",
        "Handoff code redemptions by outcome.",
        &[("outcome", outcome)],
    );
}

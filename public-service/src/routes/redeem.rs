//! `POST /handoff/redeem`: an app exchanges a one-time code for a handoff
//! token, server to server.
//!
//! The caller proves it is the app's service account with a
//! provider-signed ID token for this service's URL; the code must have been
//! issued for the audience the caller is registered for, unused and
//! unexpired (one statement marks it used, so of concurrent redemptions
//! exactly one succeeds), brought with the verifier of the browser it was
//! bound to (its SHA-256 compared in constant time; a wrong one uses the
//! code up), and its session must still be valid. Request: `{"code": "…",
//! "audience": "<app origin>", "verifier": "…"}`. Answer: `200`
//! `{"handoff_token", "expires_in", "return_to"}`; `400 invalid_grant` for
//! any code that cannot be redeemed (unknown, used, expired, another
//! app's, another browser's, ended session), without saying which.
//! Limited per calling app (`429`), not per address: apps on one egress
//! address do not share a budget.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::delivery::code_hash;
use crate::routes::{app_caller, json_answer, over_caller_limit, temporarily_unavailable};
use crate::sessions::Sessions;
use crate::state::AppState;

const MAX_CODE_LEN: usize = 128;

/// The body of a redemption, read before anything touches the store.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    pub code: String,
    pub audience: String,
    /// The verifier from the browser's cookie on the app.
    pub verifier: String,
}

impl RedeemRequest {
    /// Exactly `{"code": "…", "audience": "…", "verifier": "…"}`: unknown or repeated
    /// fields are refused, so no two readers can disagree about the body.
    pub fn parse(body: &[u8]) -> Option<Self> {
        // A derived struct also reads a JSON array `[code, audience]`,
        // which no other reader of this body would take for these fields.
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return None;
        }
        serde_json::from_slice(body).ok()
    }

    /// Whether the code could be one we issued; others are refused
    /// without a look-up.
    pub fn has_plausible_code(&self) -> bool {
        !self.code.is_empty()
            && self.code.len() <= MAX_CODE_LEN
            && handoff_guard::handoff_binding::is_well_formed(&self.verifier)
    }

    /// Whether the verifier hashes to the binding stored with the code.
    pub fn matches(&self, binding_hash: Option<&[u8]>) -> bool {
        let Some(stored) = binding_hash else {
            return false;
        };
        let presented = handoff_guard::handoff_binding::hash(&self.verifier);
        bool::from(presented.as_slice().ct_eq(stored))
    }
}

pub async fn redeem(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let caller = match app_caller(&req, &state).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    if let Some(refused) = over_caller_limit(&req, |l| &l.redeem, &caller.email) {
        return refused;
    }
    let Some(request) = RedeemRequest::parse(&body) else {
        return json_answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": "invalid_request", "message": "Send {\"code\": \"…\", \"audience\": \"<app origin>\", \"verifier\": \"…\"} as JSON." }),
        );
    };
    let registered = state
        .apps
        .by_audience(&request.audience)
        .and_then(|app| app.service_account())
        .is_some_and(|account| account == caller.email);
    if !registered {
        tracing::warn!(caller = %caller.email, audience = %request.audience, "redemption for an app the caller is not");
        return json_answer(
            StatusCode::FORBIDDEN,
            json!({ "error": "caller_not_allowed", "message": "This service account is not registered for that app." }),
        );
    }
    if !request.has_plausible_code() {
        return invalid_grant();
    }
    let now = state.clock.unix_seconds();
    let redeemed = match state
        .store
        .redeem_handoff_code(&code_hash(&request.code), &request.audience, now)
        .await
    {
        Ok(Some(redeemed)) => redeemed,
        Ok(None) => {
            tracing::warn!(app = %request.audience, "handoff code not redeemable (unknown, used, expired or another app's)");
            return invalid_grant();
        }
        Err(e) => return unavailable(&e),
    };
    if !request.matches(redeemed.binding_hash.as_deref()) {
        tracing::warn!(app = %request.audience, "handoff code brought by another browser than the one it was issued to; used up");
        return invalid_grant();
    }
    let session = match state.store.session(&redeemed.session_id).await {
        Ok(Some(session)) if state.sessions.validity(&session).is_ok() => session,
        Ok(_) => {
            tracing::warn!("handoff code for a session that has ended");
            return invalid_grant();
        }
        Err(e) => return unavailable(&e),
    };
    let identity = Sessions::identity(&session);
    let token = match state
        .handoff
        .issue(&identity, &request.audience, &session.id)
    {
        Ok(token) => token,
        Err(e) => {
            tracing::error!(reason = %e, "signing a redeemed handoff token failed");
            return json_answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": "server_error" }),
            );
        }
    };
    tracing::info!(app = %request.audience, "handoff code redeemed");
    count_redemption("ok");
    json_answer(
        StatusCode::OK,
        json!({
            "handoff_token": token,
            "expires_in": state.handoff.ttl().as_secs(),
            "return_to": redeemed.return_to,
        }),
    )
}

fn count_redemption(outcome: &'static str) {
    service_kit::metrics::count(
        "handoff_code_redemptions_total",
        "Handoff code redemptions by outcome.",
        &[("outcome", outcome)],
    );
}

fn invalid_grant() -> HttpResponse {
    count_redemption("refused");
    json_answer(
        StatusCode::BAD_REQUEST,
        json!({ "error": "invalid_grant", "message": "The code is not valid (anymore)." }),
    )
}

fn unavailable(e: &crate::store::StoreError) -> HttpResponse {
    tracing::warn!(reason = %e, "handoff redemption failed on storage");
    temporarily_unavailable()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redemption_body_names_a_code_and_an_audience_and_nothing_else() {
        let read = RedeemRequest::parse(
            br#"{"code":"abc","audience":"https://app.example.com","verifier":"v"}"#,
        )
        .unwrap();
        assert_eq!(read.code, "abc");
        assert_eq!(read.audience, "https://app.example.com");
        assert_eq!(read.verifier, "v");
        for refused in [
            &br#"{"code":"abc"}"#[..],
            br#"{"code":"abc","audience":"a"}"#,
            br#"{"code":"abc","audience":"a","verifier":"v","scope":"x"}"#,
            br#"{"code":"abc","audience":"a","verifier":"v","code":"def"}"#,
            br#"{"code":1,"audience":"a","verifier":"v"}"#,
            b"",
        ] {
            assert!(RedeemRequest::parse(refused).is_none(), "{refused:?}");
        }
        assert!(
            RedeemRequest::parse(b" \n{\"code\":\"c\",\"audience\":\"a\",\"verifier\":\"v\"}")
                .is_some()
        );
    }

    #[test]
    fn a_redemption_body_that_is_an_array_is_refused() {
        // Caught by the invariant of fuzz/fuzz_targets/redeem_request.rs.
        for refused in [
            &br#"["abc","https://app.example.com"]"#[..],
            br#" ["abc","https://app.example.com"]"#,
        ] {
            assert!(RedeemRequest::parse(refused).is_none(), "{refused:?}");
        }
    }

    #[test]
    fn an_empty_or_overlong_code_is_not_plausible() {
        let with = |code: String| RedeemRequest {
            code,
            audience: "a".into(),
            verifier: "v".repeat(43),
        };
        assert!(with("c".repeat(43)).has_plausible_code());
        assert!(!with(String::new()).has_plausible_code());
        assert!(!with("c".repeat(MAX_CODE_LEN + 1)).has_plausible_code());
        let mut bad_verifier = with("c".repeat(43));
        bad_verifier.verifier = "short".into();
        assert!(!bad_verifier.has_plausible_code());
    }

    #[test]
    fn only_the_verifier_of_the_binding_matches() {
        let request = RedeemRequest {
            code: "c".into(),
            audience: "a".into(),
            verifier: "v".repeat(43),
        };
        let bound = handoff_guard::handoff_binding::hash(&"v".repeat(43));
        let other = handoff_guard::handoff_binding::hash(&"w".repeat(43));
        assert!(request.matches(Some(&bound)));
        assert!(!request.matches(Some(&other)));
        assert!(!request.matches(Some(&bound[..31])));
        assert!(!request.matches(None), "an unbound code is never redeemed");
    }
}

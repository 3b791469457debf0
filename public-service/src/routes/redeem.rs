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
//! [`MAX_PENDING`]; one browser may have several sign-ins under way), or
//! `"verifier": "…"` alone as apps sent it before. Answer: `200`
//! `{"handoff_token", "expires_in", "return_to", "verifier_index"}`, the
//! last naming the verifier that matched, which the app then forgets;
//! `400 invalid_grant` for any code that cannot be redeemed (unknown,
//! used, expired, another app's, another browser's, ended session),
//! without saying which.
//! Limited per calling app (`429`), not per address: apps on one egress
//! address do not share a budget.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use handoff_guard::login_service::MAX_PENDING_BINDINGS as MAX_PENDING;
use serde::{Deserialize, Deserializer};
use serde_json::json;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::boundary::AppCaller;
use crate::delivery::code_hash;
use crate::routes::{json_answer, temporarily_unavailable};
use crate::sessions::Sessions;
use crate::state::AppState;

const MAX_CODE_LEN: usize = 128;

/// The body of a redemption, read before anything touches the store.
#[derive(Debug)]
pub struct RedeemRequest {
    pub code: String,
    pub audience: String,
    /// The pending verifiers from the browser's cookie on the app.
    pub verifiers: Vec<String>,
}

/// The body as sent: `verifiers`, or the single `verifier` of apps from
/// before a browser could have several sign-ins under way.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    code: String,
    audience: String,
    #[serde(default, deserialize_with = "present")]
    verifier: Option<String>,
    #[serde(default, deserialize_with = "present")]
    verifiers: Option<Vec<String>>,
}

/// A field that, when there, holds a value (`null` is refused, not read as
/// absent: no reader may take the body for one without the field).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl RedeemRequest {
    /// Exactly `{"code": "…", "audience": "…", "verifiers": ["…", …]}` or
    /// `{"code": "…", "audience": "…", "verifier": "…"}`: unknown, repeated
    /// or both verifier fields are refused, so no two readers can disagree
    /// about the body.
    pub fn parse(body: &[u8]) -> Option<Self> {
        // A derived struct also reads a JSON array `[code, audience]`,
        // which no other reader of this body would take for these fields.
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return None;
        }
        let body: Body = serde_json::from_slice(body).ok()?;
        let verifiers = match (body.verifier, body.verifiers) {
            (Some(one), None) => vec![one],
            (None, Some(several)) => several,
            _ => return None,
        };
        Some(Self {
            code: body.code,
            audience: body.audience,
            verifiers,
        })
    }

    /// Whether the code could be one we issued, brought with verifiers an
    /// app could hold; others are refused without a look-up.
    pub fn has_plausible_code(&self) -> bool {
        !self.code.is_empty()
            && self.code.len() <= MAX_CODE_LEN
            && (1..=MAX_PENDING).contains(&self.verifiers.len())
            && self
                .verifiers
                .iter()
                .all(|v| handoff_guard::login_service::is_well_formed_verifier(v))
    }

    /// The index of the verifier that hashes to the binding stored with
    /// the code, if any. Every verifier is hashed and compared in constant
    /// time, whichever matches.
    pub fn matching(&self, binding_hash: Option<&[u8]>) -> Option<usize> {
        let stored = binding_hash?;
        let mut found = Choice::from(0);
        let mut index = 0u32;
        for (i, verifier) in self.verifiers.iter().enumerate() {
            let presented = handoff_guard::login_service::binding_hash(verifier);
            let matches = presented.as_slice().ct_eq(stored);
            let i = u32::try_from(i).expect("at most MAX_PENDING verifiers");
            index.conditional_assign(&i, matches & !found);
            found |= matches;
        }
        bool::from(found).then_some(index as usize)
    }
}

pub async fn redeem(
    caller: AppCaller,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let Some(request) = RedeemRequest::parse(&body) else {
        return json_answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": "invalid_request", "message": "Send {\"code\": \"…\", \"audience\": \"<app origin>\", \"verifiers\": [\"…\"]} as JSON." }),
        );
    };
    if !caller.acts_for(&state.apps, &request.audience) {
        tracing::warn!(caller = %caller.account(), audience = %request.audience, "redemption for an app the caller is not");
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
    let Some(verifier_index) = request.matching(redeemed.binding_hash.as_deref()) else {
        tracing::warn!(app = %request.audience, "handoff code brought by another browser than the one it was issued to; used up");
        return invalid_grant();
    };
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
            "verifier_index": verifier_index,
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
    fn a_redemption_body_names_a_code_an_audience_and_verifiers_and_nothing_else() {
        let read = RedeemRequest::parse(
            br#"{"code":"abc","audience":"https://app.example.com","verifiers":["v","w"]}"#,
        )
        .unwrap();
        assert_eq!(read.code, "abc");
        assert_eq!(read.audience, "https://app.example.com");
        assert_eq!(read.verifiers, ["v", "w"]);
        // As apps sent it when a browser had one verifier.
        let legacy =
            RedeemRequest::parse(br#"{"code":"abc","audience":"a","verifier":"v"}"#).unwrap();
        assert_eq!(legacy.verifiers, ["v"]);
        for refused in [
            &br#"{"code":"abc"}"#[..],
            br#"{"code":"abc","audience":"a"}"#,
            br#"{"code":"abc","audience":"a","verifier":"v","scope":"x"}"#,
            br#"{"code":"abc","audience":"a","verifier":"v","code":"def"}"#,
            br#"{"code":1,"audience":"a","verifier":"v"}"#,
            br#"{"code":"abc","audience":"a","verifier":"v","verifiers":["v"]}"#,
            br#"{"code":"abc","audience":"a","verifiers":["v"],"verifiers":["w"]}"#,
            br#"{"code":"abc","audience":"a","verifier":null}"#,
            br#"{"code":"abc","audience":"a","verifiers":null}"#,
            br#"{"code":"abc","audience":"a","verifiers":"v"}"#,
            br#"{"code":"abc","audience":"a","verifier":["v"]}"#,
            br#"{"code":"abc","audience":"a","verifiers":[1]}"#,
            b"",
        ] {
            assert!(
                RedeemRequest::parse(refused).is_none(),
                "{}",
                String::from_utf8_lossy(refused)
            );
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

    fn request(code: &str, verifiers: &[String]) -> RedeemRequest {
        RedeemRequest {
            code: code.into(),
            audience: "a".into(),
            verifiers: verifiers.to_vec(),
        }
    }

    #[test]
    fn an_empty_or_overlong_code_or_an_odd_set_of_verifiers_is_not_plausible() {
        let one = ["v".repeat(43)];
        assert!(request(&"c".repeat(43), &one).has_plausible_code());
        assert!(!request("", &one).has_plausible_code());
        assert!(!request(&"c".repeat(MAX_CODE_LEN + 1), &one).has_plausible_code());
        assert!(!request("c", &["short".into()]).has_plausible_code());
        assert!(!request("c", &["v".repeat(43), "short".into()]).has_plausible_code());
        assert!(!request("c", &[]).has_plausible_code());
        assert!(request("c", &vec!["v".repeat(43); MAX_PENDING]).has_plausible_code());
        assert!(!request("c", &vec!["v".repeat(43); MAX_PENDING + 1]).has_plausible_code());
    }

    #[test]
    fn only_a_verifier_of_the_binding_matches_and_its_place_is_named() {
        let (v, w, x) = ("v".repeat(43), "w".repeat(43), "x".repeat(43));
        let hash = handoff_guard::login_service::binding_hash;
        let presented = request("c", &[v.clone(), w.clone()]);
        assert_eq!(presented.matching(Some(&hash(&v))), Some(0));
        assert_eq!(presented.matching(Some(&hash(&w))), Some(1));
        assert_eq!(presented.matching(Some(&hash(&x))), None);
        assert_eq!(presented.matching(Some(&hash(&w)[..31])), None);
        assert_eq!(
            presented.matching(None),
            None,
            "an unbound code is never redeemed"
        );
        // The same verifier twice: the first place.
        let twice = request("c", &[x.clone(), w.clone(), w.clone()]);
        assert_eq!(twice.matching(Some(&hash(&w))), Some(1));
    }
}

//! Handing off by one-time code: an app redeems the code the browser
//! brought it for a handoff token, server to server.
//!
//! The code must have been issued for the audience the caller is the
//! registered service account of, unused and unexpired (one statement
//! marks it used, so of concurrent redemptions exactly one succeeds),
//! brought with a verifier of the browser it was bound to (none matching
//! uses the code up), and its session must still be valid.

use handoff_guard::login_service::{SignError, MAX_PENDING_BINDINGS as MAX_PENDING};
use serde::{Deserialize, Deserializer};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::apps::AppRegistry;
use crate::boundary::AppCaller;
use crate::delivery::code_hash;
use crate::handoff::HandoffIssuer;
use crate::sessions::Sessions;
use crate::state::AppState;
use crate::store::{Storage, StoreError};
use handoff_guard::SharedClock;

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

/// What redeeming a code needs.
pub struct HandOff<'a> {
    pub apps: &'a AppRegistry,
    pub codes: &'a dyn Storage,
    pub sessions: &'a Sessions,
    pub issuer: &'a HandoffIssuer,
    pub clock: &'a SharedClock,
}

/// A redeemed code: the token and where the browser was going.
#[derive(Debug)]
pub struct Redeemed {
    pub handoff_token: String,
    pub expires_in: u64,
    pub return_to: String,
    /// Which of the presented verifiers matched; the app forgets it.
    pub verifier_index: usize,
}

/// Why a code was not redeemed. Every [`RedemptionError::InvalidGrant`]
/// answers the same, whatever the reason, so a caller learns nothing of
/// codes it does not hold.
#[derive(Debug, thiserror::Error)]
pub enum RedemptionError {
    #[error("the body is not a redemption")]
    Unreadable,
    #[error("the caller is not the service account of {audience}")]
    NotTheAppsAccount { audience: String },
    #[error("the code cannot be redeemed: {0}")]
    InvalidGrant(&'static str),
    #[error("storage unavailable: {0}")]
    Store(#[from] StoreError),
    #[error("signing the handoff token failed: {0}")]
    Signing(#[from] SignError),
}

/// Redeems `request`'s code for `caller`.
pub async fn redeem(
    deps: &HandOff<'_>,
    caller: &AppCaller,
    request: &RedeemRequest,
) -> Result<Redeemed, RedemptionError> {
    if !caller.acts_for(deps.apps, &request.audience) {
        return Err(RedemptionError::NotTheAppsAccount {
            audience: request.audience.clone(),
        });
    }
    if !request.has_plausible_code() {
        return Err(RedemptionError::InvalidGrant("not a code we issue"));
    }
    let now = deps.clock.unix_seconds();
    let redeemed = deps
        .codes
        .redeem_handoff_code(&code_hash(&request.code), &request.audience, now)
        .await?
        .ok_or(RedemptionError::InvalidGrant(
            "unknown, used, expired or another app's",
        ))?;
    let verifier_index =
        request
            .matching(redeemed.binding_hash.as_deref())
            .ok_or(RedemptionError::InvalidGrant(
                "brought by another browser than the one it was issued to; used up",
            ))?;
    let session = deps
        .codes
        .session(&redeemed.session_id)
        .await?
        .filter(|session| deps.sessions.validity(session).is_ok())
        .ok_or(RedemptionError::InvalidGrant("its session has ended"))?;
    let identity = Sessions::identity(&session);
    let handoff_token = deps
        .issuer
        .issue(&identity, &request.audience, &session.id)?;
    Ok(Redeemed {
        handoff_token,
        expires_in: deps.issuer.ttl().as_secs(),
        return_to: redeemed.return_to,
        verifier_index,
    })
}

/// The flow's view of the service's state.
impl AppState {
    /// What redeeming a one-time code needs.
    pub fn hand_off(&self) -> HandOff<'_> {
        HandOff {
            apps: &self.apps,
            codes: &*self.store,
            sessions: &self.sessions,
            issuer: &self.handoff,
            clock: &self.clock,
        }
    }
}

#[cfg(test)]
mod flow_tests {
    use std::time::Duration;

    use super::*;
    use crate::flows::fixture::{self, caller, verifier, APP, APP_ACCOUNT, OTHER_ACCOUNT};

    fn redemption(code: &str, verifiers: &[String]) -> RedeemRequest {
        RedeemRequest {
            code: code.to_owned(),
            audience: APP.to_owned(),
            verifiers: verifiers.to_vec(),
        }
    }

    #[actix_web::test]
    async fn a_code_is_redeemed_once_by_its_apps_account_with_its_browsers_verifier() {
        let f = fixture::with_code_delivery().await;
        let session = f.signed_in("alice@example.com").await;
        let code = f.code_for(&session, &verifier(1)).await;
        let request = redemption(&code, &[verifier(9), verifier(1)]);
        let redeemed = redeem(&f.state.hand_off(), &caller(APP_ACCOUNT), &request)
            .await
            .expect("redeemed");
        assert_eq!(redeemed.verifier_index, 1);
        assert_eq!(redeemed.return_to, "/page");
        let claims = f
            .state
            .handoff
            .verify_for(&redeemed.handoff_token, APP)
            .await
            .expect("a token for the app");
        assert_eq!(claims.sid.as_str(), session.id);
        let again = redeem(&f.state.hand_off(), &caller(APP_ACCOUNT), &request).await;
        assert!(
            matches!(again, Err(RedemptionError::InvalidGrant(_))),
            "{again:?}"
        );
    }

    #[actix_web::test]
    async fn another_apps_account_cannot_redeem_and_the_code_stays_usable() {
        let f = fixture::with_code_delivery().await;
        let session = f.signed_in("alice@example.com").await;
        let code = f.code_for(&session, &verifier(1)).await;
        let request = redemption(&code, &[verifier(1)]);
        let refused = redeem(&f.state.hand_off(), &caller(OTHER_ACCOUNT), &request).await;
        assert!(
            matches!(refused, Err(RedemptionError::NotTheAppsAccount { .. })),
            "{refused:?}"
        );
        redeem(&f.state.hand_off(), &caller(APP_ACCOUNT), &request)
            .await
            .expect("still redeemable by its app");
    }

    #[actix_web::test]
    async fn another_browsers_verifier_uses_the_code_up() {
        let f = fixture::with_code_delivery().await;
        let session = f.signed_in("alice@example.com").await;
        let code = f.code_for(&session, &verifier(1)).await;
        let stolen = redeem(
            &f.state.hand_off(),
            &caller(APP_ACCOUNT),
            &redemption(&code, &[verifier(2)]),
        )
        .await;
        assert!(
            matches!(stolen, Err(RedemptionError::InvalidGrant(_))),
            "{stolen:?}"
        );
        let owner = redeem(
            &f.state.hand_off(),
            &caller(APP_ACCOUNT),
            &redemption(&code, &[verifier(1)]),
        )
        .await;
        assert!(
            matches!(owner, Err(RedemptionError::InvalidGrant(_))),
            "{owner:?}"
        );
    }

    #[actix_web::test]
    async fn a_code_of_an_ended_session_or_past_its_lifetime_is_refused() {
        let f = fixture::with_code_delivery().await;
        let ended = f.signed_in("alice@example.com").await;
        let code = f.code_for(&ended, &verifier(1)).await;
        f.state.sessions.revoke(&ended).await.expect("revoked");
        let refused = redeem(
            &f.state.hand_off(),
            &caller(APP_ACCOUNT),
            &redemption(&code, &[verifier(1)]),
        )
        .await;
        assert!(
            matches!(refused, Err(RedemptionError::InvalidGrant(_))),
            "{refused:?}"
        );

        let live = f.signed_in("bob@example.com").await;
        let code = f.code_for(&live, &verifier(3)).await;
        f.clock.advance(f.state.code_ttl + Duration::from_secs(1));
        let late = redeem(
            &f.state.hand_off(),
            &caller(APP_ACCOUNT),
            &redemption(&code, &[verifier(3)]),
        )
        .await;
        assert!(
            matches!(late, Err(RedemptionError::InvalidGrant(_))),
            "{late:?}"
        );
    }
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

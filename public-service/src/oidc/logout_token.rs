//! Logout tokens of OpenID Connect Back-Channel Logout 1.0
//! (<https://openid.net/specs/openid-connect-backchannel-1_0.html>): the
//! JWT a provider posts to our `backchannel_logout_uri` when a user's
//! session there ends.
//!
//! `openidconnect` has no logout-token type (its `IdToken` verifier insists
//! on ID-token rules, a nonce among them, which a logout token must not
//! carry), so the JWS is verified here, but with the crate's own machinery:
//! the provider's `CoreJsonWebKeySet` the ID-token verification keeps
//! fresh, `CoreJsonWebKey::verify_signature`, and the same algorithm
//! allowlist (`OIDC_ID_TOKEN_ALGORITHMS` intersected with discovery). One
//! key set, one algorithm mapping, no second JWT library to keep in step
//! (jsonwebtoken would need every JWK converted and its own allowlist).
//!
//! The checks are section 2.6's, in its order, plus the ones the other
//! sections make: `typ` (section 2.4 recommends `logout+jwt`; Security
//! Considerations, Cross-JWT Confusion: present, it must say so; absent,
//! the token is read, as providers that predate the recommendation send
//! none), `exp` (section 2.4) and the `jti` seen before (step 6, done by
//! the caller against the store).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreJsonWebKeySet, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyId};
use serde::Deserialize;
use serde_json::Value;

// As for ID tokens: the `azp` rule and the skew tolerated for `iat`.
use super::id_token_rules::{check_authorized_party, IAT_FUTURE_LEEWAY};

/// The `events` member a logout token must carry (section 2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token issued longer ago than this is refused: providers send
/// them at once (section 2.5), and the `jti`s to remember stay few.
pub const MAX_AGE: Duration = Duration::from_secs(600);
/// Longest `logout_token` read; providers' are well under 2 KiB.
pub const MAX_LEN: usize = 8 * 1024;

/// What a valid logout token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutToken {
    /// The provider's `sub`: our sessions' subject.
    pub subject: Option<String>,
    /// The provider's session id (`sid`), stored with each session at sign-in.
    pub provider_sid: Option<String>,
    pub jti: String,
    /// Until when (Unix seconds) the `jti` must be remembered: past it the
    /// token is refused by its `exp` or its age anyway.
    pub remember_until: u64,
}

/// Why a logout token is refused. The text goes to the provider as the
/// `error_description` (section 2.8): it names the check, never a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LogoutTokenError {
    #[error("the logout_token is not a signed JWT")]
    Malformed,
    #[error("the logout_token's typ is not logout+jwt")]
    WrongType,
    #[error("the logout_token's algorithm is not allowed")]
    Algorithm,
    #[error("no published key matches the logout_token")]
    NoMatchingKey,
    #[error("the logout_token's signature is invalid")]
    BadSignature,
    #[error("the logout_token's issuer is wrong")]
    WrongIssuer,
    #[error("the logout_token is not for this client")]
    WrongAudience,
    #[error("the logout_token has several audiences and no azp, or its azp is another client")]
    AuthorizedParty,
    #[error("the logout_token has no valid iat")]
    NoIssueTime,
    #[error("the logout_token was issued in the future")]
    IssuedInFuture,
    #[error("the logout_token is too old")]
    TooOld,
    #[error("the logout_token has expired")]
    Expired,
    #[error("the logout_token has no jti")]
    NoJti,
    #[error("the logout_token has no back-channel logout event")]
    NoLogoutEvent,
    #[error("the logout_token names neither sub nor sid")]
    NoSubjectOrSession,
    #[error("the logout_token's sub or sid is not a string of 1 to 255 characters")]
    BadSubjectOrSession,
    #[error("the logout_token carries a nonce")]
    Nonce,
}

#[derive(Deserialize)]
struct Header {
    alg: CoreJwsSigningAlgorithm,
    kid: Option<JsonWebKeyId>,
    typ: Option<String>,
    /// RFC 7515 4.1.11: extensions we do not understand must be refused.
    crit: Option<Value>,
}

/// What the ID-token side of the relying party knows: the provider's keys,
/// the algorithms allowed, our issuer and client id, and the time.
pub struct Expected<'a> {
    pub keys: &'a CoreJsonWebKeySet,
    pub algorithms: &'a [CoreJwsSigningAlgorithm],
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub now: u64,
}

/// Verifies `jwt` as section 2.6 says (but the `jti` replay check).
pub fn verify(jwt: &str, expected: &Expected<'_>) -> Result<LogoutToken, LogoutTokenError> {
    use LogoutTokenError as E;
    if jwt.len() > MAX_LEN {
        return Err(E::Malformed);
    }
    // Step 1: we register no encryption key, so a JWE (five parts) is not ours.
    let mut parts = jwt.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(E::Malformed);
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| E::Malformed);
    let header = decode(header_b64)?;
    // A JOSE header is a JSON object (RFC 7515 section 4); the derived
    // reader would also take an array of the members' values.
    if header.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(E::Malformed);
    }
    let header: Header = serde_json::from_slice(&header).map_err(|_| E::Malformed)?;
    if header.crit.is_some() {
        return Err(E::Malformed);
    }
    if let Some(typ) = &header.typ {
        check_type(typ)?;
    }
    // Step 2: the signature, as for ID tokens (OpenID Connect Core 3.1.3.7):
    // only allowlisted algorithms (never `none` nor an HMAC).
    if !expected.algorithms.contains(&header.alg) {
        return Err(E::Algorithm);
    }
    let signature = decode(signature_b64)?;
    let message = format!("{header_b64}.{payload_b64}");
    check_signature(&header, message.as_bytes(), &signature, expected.keys)?;
    let claims: Value = serde_json::from_slice(&decode(payload_b64)?).map_err(|_| E::Malformed)?;
    check_claims(&claims, expected)
}

/// `logout+jwt` (section 2.4), read as RFC 7515 4.1.9 reads a `typ`: a
/// media type name, compared without regard to case, with `application/`
/// implied when it has no `/`. Any other type, plain `JWT` included, is
/// some other JWT of the provider's (section 4.1, Cross-JWT Confusion).
fn check_type(typ: &str) -> Result<(), LogoutTokenError> {
    let subtype = match typ.split_once('/') {
        Some((top, subtype)) if top.eq_ignore_ascii_case("application") => subtype,
        Some(_) => return Err(LogoutTokenError::WrongType),
        None => typ,
    };
    if subtype.eq_ignore_ascii_case("logout+jwt") {
        Ok(())
    } else {
        Err(LogoutTokenError::WrongType)
    }
}

fn check_signature(
    header: &Header,
    message: &[u8],
    signature: &[u8],
    keys: &CoreJsonWebKeySet,
) -> Result<(), LogoutTokenError> {
    // As `openidconnect` picks keys for ID tokens: the token's `kid` when it
    // names one, and only keys meant for signatures.
    let candidates: Vec<_> = keys
        .keys()
        .iter()
        .filter(|key| header.kid.is_none() || header.kid.as_ref() == key.key_id())
        .filter(|key| !matches!(key.key_use(), Some(CoreJsonWebKeyUse::Encryption)))
        .collect();
    if candidates.is_empty() {
        return Err(LogoutTokenError::NoMatchingKey);
    }
    candidates
        .iter()
        .any(|key| {
            key.verify_signature(&header.alg, message, signature)
                .is_ok()
        })
        .then_some(())
        .ok_or(LogoutTokenError::BadSignature)
}

fn check_claims(claims: &Value, expected: &Expected<'_>) -> Result<LogoutToken, LogoutTokenError> {
    use LogoutTokenError as E;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let seconds = |name: &str| claims.get(name).and_then(Value::as_u64);
    // Step 2, continued: `iss` exactly, `aud` holding our client id (and
    // `azp` as for ID tokens), `iat`.
    if text("iss") != Some(expected.issuer) {
        return Err(E::WrongIssuer);
    }
    let for_us = match claims.get("aud") {
        Some(Value::String(aud)) => aud == expected.client_id,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(expected.client_id)),
        _ => false,
    };
    if !for_us {
        return Err(E::WrongAudience);
    }
    let azp = match claims.get("azp") {
        None => None,
        Some(Value::String(azp)) => Some(azp.as_str()),
        Some(_) => return Err(E::AuthorizedParty),
    };
    let audiences = claims
        .get("aud")
        .and_then(Value::as_array)
        .map_or(1, Vec::len);
    check_authorized_party(expected.client_id, azp, audiences).map_err(|_| E::AuthorizedParty)?;
    let iat = seconds("iat").ok_or(E::NoIssueTime)?;
    if iat > expected.now + IAT_FUTURE_LEEWAY.as_secs() {
        return Err(E::IssuedInFuture);
    }
    if iat.saturating_add(MAX_AGE.as_secs()) < expected.now {
        return Err(E::TooOld);
    }
    // Section 2.4: `exp` is REQUIRED.
    let exp = seconds("exp").ok_or(E::Expired)?;
    if exp <= expected.now {
        return Err(E::Expired);
    }
    let jti = text("jti").filter(|j| !j.is_empty() && j.len() <= 256);
    let jti = jti.ok_or(E::NoJti)?.to_owned();
    // Step 4: `events` is a JSON object with the back-channel logout member,
    // itself a JSON object (section 2.4).
    let event = claims
        .get("events")
        .and_then(|e| e.get(BACKCHANNEL_LOGOUT_EVENT));
    if !event.is_some_and(Value::is_object) {
        return Err(E::NoLogoutEvent);
    }
    // Step 3: `sub`, `sid` or both. One that is present but cannot be a
    // value we stored refuses the token: dropped, a bad `sid` beside a
    // `sub` would turn "end this session" into "end all of them".
    let bounded = |name: &str| match claims.get(name) {
        None => Ok(None),
        Some(Value::String(v)) if !v.is_empty() && v.len() <= 255 => Ok(Some(v.clone())),
        Some(_) => Err(E::BadSubjectOrSession),
    };
    let subject = bounded("sub")?;
    let provider_sid = bounded("sid")?;
    if subject.is_none() && provider_sid.is_none() {
        return Err(E::NoSubjectOrSession);
    }
    // Step 5: a nonce is prohibited (it would let an ID token pass as one).
    if claims.get("nonce").is_some() {
        return Err(E::Nonce);
    }
    Ok(LogoutToken {
        subject,
        provider_sid,
        jti,
        remember_until: exp
            .min(iat.saturating_add(MAX_AGE.as_secs()))
            .saturating_add(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expected(keys: &CoreJsonWebKeySet) -> Expected<'_> {
        Expected {
            keys,
            algorithms: &[CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
            issuer: "https://op.example",
            client_id: "client",
            now: 10_000,
        }
    }

    fn valid() -> Value {
        json!({
            "iss": "https://op.example", "aud": ["client"], "iat": 10_000,
            "exp": 10_120, "jti": "j1", "sid": "s1",
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        })
    }

    fn check(change: impl FnOnce(&mut Value)) -> Result<LogoutToken, LogoutTokenError> {
        let keys = CoreJsonWebKeySet::new(Vec::new());
        let mut claims = valid();
        change(&mut claims);
        check_claims(&claims, &expected(&keys))
    }

    #[test]
    fn each_claim_rule_refuses_what_section_2_6_refuses() {
        use LogoutTokenError as E;
        let ok = check(|_| {}).unwrap();
        assert_eq!(ok.provider_sid.as_deref(), Some("s1"));
        assert_eq!(ok.subject, None);
        assert_eq!(ok.remember_until, 10_121);
        assert_eq!(
            check(|c| c["iss"] = json!("https://op.example/")),
            Err(E::WrongIssuer)
        );
        assert_eq!(check(|c| c["aud"] = json!("other")), Err(E::WrongAudience));
        assert_eq!(check(|c| c["iat"] = json!(10_061)), Err(E::IssuedInFuture));
        assert_eq!(check(|c| c["iat"] = json!(9_000)), Err(E::TooOld));
        assert_eq!(check(|c| c["iat"] = json!("10000")), Err(E::NoIssueTime));
        assert_eq!(check(|c| c["exp"] = json!(10_000)), Err(E::Expired));
        assert_eq!(
            check(|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            Err(E::Expired)
        );
        assert_eq!(check(|c| c["jti"] = json!("")), Err(E::NoJti));
        assert_eq!(
            check(|c| c["events"] = json!([BACKCHANNEL_LOGOUT_EVENT])),
            Err(E::NoLogoutEvent)
        );
        assert_eq!(
            check(|c| c["events"] = json!({ BACKCHANNEL_LOGOUT_EVENT: true })),
            Err(E::NoLogoutEvent)
        );
        assert_eq!(
            check(|c| {
                c.as_object_mut().unwrap().remove("sid");
            }),
            Err(E::NoSubjectOrSession)
        );
        assert_eq!(check(|c| c["nonce"] = json!("n")), Err(E::Nonce));
    }

    #[test]
    fn several_audiences_need_our_azp_as_an_id_token_does() {
        use LogoutTokenError as E;
        assert!(check(|c| c["aud"] = json!("client")).is_ok());
        assert_eq!(
            check(|c| c["aud"] = json!(["other", "client"])),
            Err(E::AuthorizedParty)
        );
        assert!(check(|c| {
            c["aud"] = json!(["other", "client"]);
            c["azp"] = json!("client");
        })
        .is_ok());
        assert_eq!(
            check(|c| {
                c["aud"] = json!(["other", "client"]);
                c["azp"] = json!("other");
            }),
            Err(E::AuthorizedParty)
        );
        assert_eq!(
            check(|c| c["azp"] = json!("other")),
            Err(E::AuthorizedParty)
        );
        assert_eq!(check(|c| c["azp"] = json!(7)), Err(E::AuthorizedParty));
    }

    #[test]
    fn a_sub_or_sid_that_cannot_be_ours_refuses_the_token_instead_of_being_dropped() {
        use LogoutTokenError as E;
        let sub_and = |sid: Value| {
            check(|c| {
                c["sub"] = json!("alice");
                c["sid"] = sid;
            })
        };
        // Dropping the sid would leave a sub-only token: every session of
        // the person would end, not the one the provider meant.
        assert_eq!(sub_and(json!("s".repeat(256))), Err(E::BadSubjectOrSession));
        assert_eq!(sub_and(json!("")), Err(E::BadSubjectOrSession));
        assert_eq!(sub_and(json!(7)), Err(E::BadSubjectOrSession));
        assert_eq!(check(|c| c["sub"] = json!("")), Err(E::BadSubjectOrSession));
        assert_eq!(
            check(|c| c["sub"] = json!(null)),
            Err(E::BadSubjectOrSession)
        );
        let longest = sub_and(json!("s".repeat(255))).unwrap();
        assert_eq!(longest.subject.as_deref(), Some("alice"));
        assert_eq!(longest.provider_sid.map(|s| s.len()), Some(255));
    }

    #[test]
    fn only_signed_compact_jwts_with_an_allowed_algorithm_and_type_are_read() {
        use LogoutTokenError as E;
        let keys = CoreJsonWebKeySet::new(Vec::new());
        let b64 = |v: Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap());
        let token = |header: Value| format!("{}.{}.c2ln", b64(header), b64(valid()));
        let verify = |jwt: &str| verify(jwt, &expected(&keys));
        assert_eq!(verify("a.b"), Err(E::Malformed));
        assert_eq!(verify("a.b.c.d.e"), Err(E::Malformed));
        assert_eq!(verify(&token(json!({ "alg": "none" }))), Err(E::Algorithm));
        assert_eq!(verify(&token(json!({ "alg": "HS256" }))), Err(E::Algorithm));
        assert_eq!(
            verify(&token(json!({ "alg": "RS256", "typ": "at+jwt" }))),
            Err(E::WrongType)
        );
        assert_eq!(
            verify(&token(json!({ "alg": "RS256", "crit": ["x"] }))),
            Err(E::Malformed)
        );
        assert_eq!(
            verify(&token(json!({ "alg": "RS256", "typ": "logout+jwt" }))),
            Err(E::NoMatchingKey)
        );
        assert_eq!(verify(&"a".repeat(MAX_LEN + 1)), Err(E::Malformed));
    }

    #[test]
    fn typ_is_logout_jwt_as_a_media_type_or_absent() {
        use LogoutTokenError as E;
        // RFC 7515 4.1.9: a media type name, compared case-insensitively,
        // with `application/` implied when there is no slash.
        for typ in [
            "logout+jwt",
            "LOGOUT+JWT",
            "Logout+Jwt",
            "application/logout+jwt",
            "APPLICATION/LOGOUT+JWT",
        ] {
            assert_eq!(check_type(typ), Ok(()), "{typ}");
        }
        // Another type, even one a provider's other JWTs carry, is not a
        // logout token (section 2.4; Cross-JWT Confusion, section 4.1).
        for typ in [
            "JWT",
            "jwt",
            "application/jwt",
            "at+jwt",
            "secevent+jwt",
            "application/secevent+jwt",
            "text/logout+jwt",
            "application/logout+jwt; charset=utf-8",
            " logout+jwt",
            "logout+jwt ",
            "application//logout+jwt",
            "",
        ] {
            assert_eq!(check_type(typ), Err(E::WrongType), "{typ:?}");
        }
        // Absent, the token goes on to its signature.
        let keys = CoreJsonWebKeySet::new(Vec::new());
        let b64 = |v: Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap());
        let untyped = format!("{}.{}.c2ln", b64(json!({ "alg": "RS256" })), b64(valid()));
        assert_eq!(verify(&untyped, &expected(&keys)), Err(E::NoMatchingKey));
    }

    #[test]
    fn a_header_that_is_not_a_json_object_is_malformed() {
        // Caught by the model in fuzz/fuzz_targets/logout_token.rs: the
        // derived reader took `["RS256", null, "logout+jwt", null]` for
        // alg, kid, typ and crit.
        use LogoutTokenError as E;
        let keys = CoreJsonWebKeySet::new(Vec::new());
        let b64 = |v: Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap());
        let token = |header: Value| format!("{}.{}.c2ln", b64(header), b64(valid()));
        let verify = |jwt: &str| verify(jwt, &expected(&keys));
        assert_eq!(
            verify(&token(json!(["RS256", null, "logout+jwt", null]))),
            Err(E::Malformed)
        );
        assert_eq!(
            verify(&token(json!({ "alg": "RS256", "typ": "logout+jwt" }))),
            Err(E::NoMatchingKey),
            "an object still reads"
        );
        let spaced = format!(" \n{}", json!({ "alg": "RS256" }));
        let spaced = format!("{}.{}.c2ln", URL_SAFE_NO_PAD.encode(spaced), b64(valid()));
        assert_eq!(verify(&spaced), Err(E::NoMatchingKey));
    }
}

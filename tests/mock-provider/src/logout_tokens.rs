//! Logout tokens as a provider sends them to a relying party's
//! `backchannel_logout_uri` (OpenID Connect Back-Channel Logout 1.0,
//! <https://openid.net/specs/openid-connect-backchannel-1_0.html>), correct
//! or broken on request: tests take the claims of a valid one, change
//! them, and sign the result the way they want to test.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::state::{random_token, State};

/// The `events` member a logout token must carry (section 2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How a logout token is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogoutSigning {
    /// The current published RSA key, RS256, `typ: logout+jwt` (section 2.4).
    Published,
    /// The same, without `typ` (the spec only recommends it).
    PublishedWithoutTyp,
    /// The same, with this `typ` instead of `logout+jwt`.
    PublishedWithTyp(&'static str),
    /// An unpublished key with the published `kid`.
    UnpublishedKey,
    /// An unpublished key with a `kid` never published.
    UnknownKid,
    /// HS256 keyed with the published RSA public key PEM.
    HsWithPublicKey,
    /// `alg: none`, no signature.
    AlgNone,
}

/// The claims of a valid logout token for `sub` and/or `sid`, issued now
/// for two minutes, with a fresh `jti`.
pub fn claims(
    state: &State,
    issuer: &str,
    audience: &str,
    sub: Option<&str>,
    sid: Option<&str>,
) -> Value {
    let now = state.now();
    let mut claims = json!({
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + 120,
        "jti": random_token(),
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    });
    if let Some(sub) = sub {
        claims["sub"] = json!(sub);
    }
    if let Some(sid) = sid {
        claims["sid"] = json!(sid);
    }
    claims
}

pub fn sign(state: &State, claims: &Value, signing: LogoutSigning) -> String {
    let key = state.signing_key();
    let header = |alg: Algorithm, kid: &str| {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        header.typ = Some("logout+jwt".into());
        header
    };
    match signing {
        LogoutSigning::Published => {
            encode(&header(Algorithm::RS256, &key.kid), claims, &key.encoding).expect("RS256")
        }
        LogoutSigning::PublishedWithoutTyp => {
            let mut plain = header(Algorithm::RS256, &key.kid);
            plain.typ = None;
            encode(&plain, claims, &key.encoding).expect("RS256")
        }
        LogoutSigning::PublishedWithTyp(typ) => {
            let mut typed = header(Algorithm::RS256, &key.kid);
            typed.typ = Some(typ.to_owned());
            encode(&typed, claims, &key.encoding).expect("RS256")
        }
        LogoutSigning::UnpublishedKey => encode(
            &header(Algorithm::RS256, &key.kid),
            claims,
            &state.rogue.encoding,
        )
        .expect("RS256"),
        LogoutSigning::UnknownKid => encode(
            &header(Algorithm::RS256, &state.rogue.kid),
            claims,
            &state.rogue.encoding,
        )
        .expect("RS256"),
        LogoutSigning::HsWithPublicKey => {
            let secret = EncodingKey::from_secret(key.public_pem.as_bytes());
            encode(&header(Algorithm::HS256, &key.kid), claims, &secret).expect("HS256")
        }
        LogoutSigning::AlgNone => {
            let header = json!({ "alg": "none", "typ": "logout+jwt", "kid": key.kid });
            format!("{}.{}.", b64(&header), b64(claims))
        }
    }
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON encodes"))
}

//! Minting id_tokens, correct or broken on request.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::state::{Misbehaviour, MockUser, SigningAlg, State};

/// `at_hash`: the left half of SHA-256 of the access token, base64url.
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// `at_hash` for an ID token signed with `alg`: the hash is the one of
/// the signature algorithm (OpenID Connect Core 3.1.3.6), SHA-512 for
/// EdDSA with Ed25519 (whose signature hashes with SHA-512, RFC 8032 5.1),
/// as `openidconnect` and panva's `oidc-token-hash` compute it.
pub fn at_hash_for(alg: SigningAlg, access_token: &str) -> String {
    match alg {
        SigningAlg::EdDsa => {
            let digest = sha2::Sha512::digest(access_token.as_bytes());
            URL_SAFE_NO_PAD.encode(&digest[..32])
        }
        SigningAlg::Rs256 | SigningAlg::Es256 | SigningAlg::Ps256 => at_hash(access_token),
    }
}

pub struct IdTokenRequest<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub user: &'a MockUser,
    pub nonce: Option<&'a str>,
    pub access_token: Option<&'a str>,
    /// The provider session's id (`sid`), for back-channel logout.
    pub sid: Option<&'a str>,
}

/// An id_token as the provider would issue it, with every active
/// misbehaviour applied.
pub fn id_token(state: &State, request: &IdTokenRequest<'_>) -> String {
    let claims = claims(state, request);
    sign(state, &claims)
}

fn claims(state: &State, r: &IdTokenRequest<'_>) -> Value {
    let now = state.now();
    let mut claims = json!({
        "iss": r.issuer,
        "aud": r.audience,
        "azp": r.audience,
        "sub": r.user.sub,
        "email": r.user.email,
        "email_verified": r.user.email_verified,
        "iat": now,
        "exp": now + 3600,
    });
    // OpenID Connect Core 5.4: with an access token, the claims of the
    // `email` and `profile` scopes may come from UserInfo only.
    let from_userinfo_only = state.claims_only_in_userinfo && r.access_token.is_some();
    if from_userinfo_only {
        let c = claims.as_object_mut().expect("an object");
        c.remove("email");
        c.remove("email_verified");
    }
    if let (Some(name), false) = (&r.user.name, from_userinfo_only) {
        claims["name"] = json!(name);
    }
    if let (Some(hd), false) = (&r.user.hd, from_userinfo_only) {
        claims["hd"] = json!(hd);
    }
    if let Some(nonce) = r.nonce {
        claims["nonce"] = json!(nonce);
    }
    if let Some(sid) = r.sid {
        claims["sid"] = json!(sid);
    }
    if let Some(access_token) = r.access_token {
        claims["at_hash"] = json!(at_hash_for(state.signing_alg, access_token));
    }
    for m in &state.misbehaviours {
        match m {
            Misbehaviour::WrongNonce => claims["nonce"] = json!("not-the-nonce-you-sent"),
            Misbehaviour::WrongAudience => claims["aud"] = json!("another-client.apps.example"),
            Misbehaviour::WrongIssuer => claims["iss"] = json!("https://issuer.evil.example"),
            Misbehaviour::Expired => {
                claims["iat"] = json!(now - 7200);
                claims["exp"] = json!(now - 3600);
            }
            Misbehaviour::IssuedInFuture => {
                claims["iat"] = json!(now + 3600);
                claims["exp"] = json!(now + 7200);
            }
            Misbehaviour::MultipleAudiencesWithoutAzp => {
                claims["aud"] = json!([r.audience, "another-client.apps.example"]);
                claims.as_object_mut().map(|c| c.remove("azp"));
            }
            Misbehaviour::AzpMismatch => claims["azp"] = json!("another-client.apps.example"),
            Misbehaviour::MissingSub => {
                claims.as_object_mut().map(|c| c.remove("sub"));
            }
            Misbehaviour::WrongAtHash => {
                claims["at_hash"] = json!(at_hash_for(state.signing_alg, "some other access token"))
            }
            Misbehaviour::UnverifiedEmail => claims["email_verified"] = json!(false),
            Misbehaviour::UserinfoContradictsEmail if r.access_token.is_some() => {
                claims.as_object_mut().map(|c| c.remove("email_verified"));
            }
            _ => {}
        }
    }
    claims
}

fn sign(state: &State, claims: &Value) -> String {
    let key = state.signing_key();
    match state.signing_alg {
        SigningAlg::Rs256 => {}
        SigningAlg::Es256 => {
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some(state.ec_key.kid.clone());
            return encode(&header, claims, &state.ec_key.encoding).expect("ES256 signing");
        }
        SigningAlg::Ps256 => {
            let mut header = Header::new(Algorithm::PS256);
            header.kid = Some(key.ps256_kid());
            return encode(&header, claims, &key.encoding).expect("PS256 signing");
        }
        SigningAlg::EdDsa => {
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(state.ed_key.kid.clone());
            return encode(&header, claims, &state.ed_key.encoding).expect("EdDSA signing");
        }
    }
    if state.misbehaves(&Misbehaviour::AlgNone) {
        let header = json!({ "alg": "none", "typ": "JWT", "kid": key.kid });
        return format!("{}.{}.", b64(&header), b64(claims));
    }
    if state.misbehaves(&Misbehaviour::HsWithPublicKey) {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        let secret = EncodingKey::from_secret(key.public_pem.as_bytes());
        return encode(&header, claims, &secret).expect("HS256 signing");
    }
    let (signing, kid) = if state.misbehaves(&Misbehaviour::BadSignature) {
        (&state.rogue.encoding, Some(key.kid.clone()))
    } else if state.misbehaves(&Misbehaviour::UnknownKid) {
        (&state.rogue.encoding, Some(state.rogue.kid.clone()))
    } else if let (true, Some(retired)) = (
        state.misbehaves(&Misbehaviour::RetiredKey),
        state.retired.last(),
    ) {
        (&retired.encoding, Some(retired.kid.clone()))
    } else if state.misbehaves(&Misbehaviour::NoKid) {
        (&key.encoding, None)
    } else {
        (&key.encoding, Some(key.kid.clone()))
    };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid;
    encode(&header, claims, signing).expect("RS256 signing")
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON encodes"))
}

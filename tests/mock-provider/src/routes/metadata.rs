//! Discovery and the JWKS.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::status_misbehaviour;
use crate::google;
use crate::state::Shared;
use crate::state::{Misbehaviour, SigningAlg};

/// What a truncated JSON document looks like on the wire.
const TRUNCATED_JSON: &str = r#"{"issuer": "http://127.0.0.1/", "keys": [{"kty"#;

pub(super) async fn discovery(shared: web::Data<Shared>) -> HttpResponse {
    let (failure, delay, garbage) = {
        let mut state = shared.lock();
        state.discovery_fetches += 1;
        let failure = status_misbehaviour(&state, |m| match m {
            Misbehaviour::DiscoveryStatus(s) => Some(*s),
            _ => None,
        });
        let delay = state.delay(|m| match m {
            Misbehaviour::DiscoveryDelay(d) => Some(*d),
            _ => None,
        });
        (
            failure,
            delay,
            state.misbehaves(&Misbehaviour::DiscoveryGarbage),
        )
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(failure) = failure {
        return failure;
    }
    if garbage {
        return truncated_json();
    }
    let (dialect, signing_alg, iss_parameter, backchannel_logout) = {
        let state = shared.lock();
        (
            state.dialect,
            state.signing_alg,
            state.iss_in_authorization_response
                || state.misbehaves(&Misbehaviour::AuthorizationResponseNoIss),
            state.backchannel_logout(),
        )
    };
    let i = &shared.issuer;
    let mut document = json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/o/oauth2/v2/auth"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/v1/userinfo"),
        "jwks_uri": format!("{i}/oauth2/v3/certs"),
        "revocation_endpoint": format!("{i}/revoke"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": match signing_alg {
            SigningAlg::Rs256 => json!(["RS256"]),
            SigningAlg::Es256 => json!(["ES256", "RS256"]),
            SigningAlg::Ps256 => json!(["PS256", "RS256"]),
            SigningAlg::EdDsa => json!(["EdDSA", "RS256"]),
        },
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "email", "email_verified", "exp", "hd", "iat", "iss", "name", "sub"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
    });
    if google::has_end_session_endpoint(dialect) {
        document["end_session_endpoint"] = json!(format!("{i}/logout"));
    }
    if backchannel_logout {
        // Back-Channel Logout 1.0 section 2.1: both, since ID tokens carry `sid`.
        document["backchannel_logout_supported"] = json!(true);
        document["backchannel_logout_session_supported"] = json!(true);
    }
    if iss_parameter {
        document["authorization_response_iss_parameter_supported"] = json!(true);
    }
    HttpResponse::Ok().json(document)
}

pub(super) async fn jwks(shared: web::Data<Shared>) -> HttpResponse {
    let (failure, delay, garbage, keys, max_age) = {
        let mut state = shared.lock();
        state.jwks_fetches += 1;
        let failure = status_misbehaviour(&state, |m| match m {
            Misbehaviour::JwksStatus(s) => Some(*s),
            _ => None,
        });
        let delay = state.delay(|m| match m {
            Misbehaviour::JwksDelay(d) => Some(*d),
            _ => None,
        });
        let garbage = state.misbehaves(&Misbehaviour::JwksGarbage);
        let mut keys: Vec<_> = state.keys.iter().map(|k| k.jwk()).collect();
        match state.signing_alg {
            SigningAlg::Rs256 => {}
            SigningAlg::Es256 => keys.push(state.ec_key.jwk()),
            SigningAlg::Ps256 => keys.push(state.signing_key().ps256_jwk()),
            SigningAlg::EdDsa => keys.push(state.ed_key.jwk()),
        }
        (failure, delay, garbage, keys, state.jwks_max_age)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(failure) = failure {
        return failure;
    }
    if garbage {
        return truncated_json();
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={max_age}")))
        .json(json!({ "keys": keys }))
}

fn truncated_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(TRUNCATED_JSON)
}

//! The provider's HTTP endpoints, at Google's paths.

mod account;
mod authorize;
mod metadata;
mod token;

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;
use url::Url;

use crate::state::{Misbehaviour, Shared, State};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/.well-known/openid-configuration",
        web::get().to(metadata::discovery),
    )
    .route("/oauth2/v3/certs", web::get().to(metadata::jwks))
    .route("/o/oauth2/v2/auth", web::get().to(authorize::authorize))
    .route("/o/oauth2/v2/auth", web::post().to(authorize::decide))
    .route("/token", web::post().to(token::token))
    .route("/v1/userinfo", web::get().to(account::userinfo))
    .route("/revoke", web::post().to(account::revoke))
    .route("/logout", web::get().to(account::logout))
    .route(
        "/computeMetadata/v1/instance/service-accounts/default/identity",
        web::get().to(account::metadata_identity),
    )
    .route(
        "/metadata/{account}/computeMetadata/v1/instance/service-accounts/default/identity",
        web::get().to(account::metadata_identity_of),
    )
    .route("/trap", web::to(account::trap));
}

pub(crate) type Params = HashMap<String, String>;

pub(crate) fn params(raw: &str) -> Params {
    url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

pub(crate) fn oauth_error(status: StatusCode, error: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": error }))
}

pub(crate) fn status_misbehaviour(
    state: &State,
    pick: impl Fn(&Misbehaviour) -> Option<u16>,
) -> Option<HttpResponse> {
    let status = state.misbehaviours.iter().find_map(pick)?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Some(oauth_error(status, "server_error"))
}

pub(crate) fn scopes(p: &Params) -> Vec<String> {
    p.get("scope")
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// An authorization response in the redirect URI's fragment (the
/// implicit flow's): `pairs` and the request's `state`, form-encoded
/// (OpenID Connect Core 1.0, 3.2.2.5).
pub(crate) fn redirect_with_fragment(
    redirect: &Url,
    pairs: &[(&str, &str)],
    p: &Params,
) -> HttpResponse {
    let mut fragment = url::form_urlencoded::Serializer::new(String::new());
    fragment.extend_pairs(pairs);
    if let Some(state) = p.get("state") {
        fragment.append_pair("state", state);
    }
    let mut url = redirect.clone();
    url.set_fragment(Some(&fragment.finish()));
    HttpResponse::Found()
        .insert_header((header::LOCATION, url.as_str()))
        .finish()
}

/// The authorization response: `pairs`, the request's `state`, and `iss`
/// (RFC 9207) when this provider sends it.
pub(crate) fn redirect_with(
    shared: &Shared,
    redirect: &Url,
    pairs: &[(&str, &str)],
    p: &Params,
) -> HttpResponse {
    let iss = {
        let state = shared.lock();
        if state.misbehaves(&Misbehaviour::AuthorizationResponseWrongIss) {
            Some("https://issuer.evil.example".to_owned())
        } else if state.iss_in_authorization_response
            && !state.misbehaves(&Misbehaviour::AuthorizationResponseNoIss)
        {
            Some(shared.issuer.clone())
        } else {
            None
        }
    };
    let mut url = redirect.clone();
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
        if let Some(state) = p.get("state") {
            query.append_pair("state", state);
        }
        if let Some(iss) = &iss {
            query.append_pair("iss", iss);
        }
    }
    HttpResponse::Found()
        .insert_header((header::LOCATION, url.as_str()))
        .finish()
}

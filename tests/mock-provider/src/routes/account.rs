//! Userinfo, revocation, end-session, and the redirect trap.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use url::Url;

use super::{oauth_error, params, status_misbehaviour};
use crate::google;
use crate::state::Shared;
use crate::state::{Misbehaviour, MockUser};
use crate::tokens::{id_token, IdTokenRequest};

pub(super) async fn userinfo(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let delay = {
        let mut state = shared.lock();
        state.userinfo_calls += 1;
        state.delay(|m| match m {
            Misbehaviour::UserinfoDelay(d) => Some(*d),
            _ => None,
        })
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let state = shared.lock();
    if let Some(r) = status_misbehaviour(&state, |m| match m {
        Misbehaviour::UserinfoStatus(s) => Some(*s),
        _ => None,
    }) {
        return r;
    }
    if state.misbehaves(&Misbehaviour::UserinfoGarbage) {
        return HttpResponse::Ok()
            .content_type("text/html")
            .body("<html>surprise</html>");
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token.and_then(|t| state.access_tokens.get(t)) {
        Some(grant) if grant.expires_at > state.now() => {
            let u = &grant.user;
            let mut claims = json!({
                "sub": u.sub, "email": u.email, "email_verified": u.email_verified,
            });
            // Absent claims are omitted, not null (OpenID Connect Core 5.3.2).
            if let Some(name) = &u.name {
                claims["name"] = json!(name);
            }
            if let Some(hd) = &u.hd {
                claims["hd"] = json!(hd);
            }
            if state.misbehaves(&Misbehaviour::UserinfoWrongSub) {
                claims["sub"] = json!("1999999999999999999999");
            }
            if state.misbehaves(&Misbehaviour::UserinfoContradictsEmail) {
                claims["email"] = json!(crate::CONTRADICTING_EMAIL);
                claims["email_verified"] = json!(true);
            }
            HttpResponse::Ok().json(claims)
        }
        _ => HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#))
            .json(json!({ "error": "invalid_token" })),
    }
}

pub(super) async fn revoke(shared: web::Data<Shared>, body: String) -> HttpResponse {
    let p = params(&body);
    let Some(token) = p.get("token") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let mut state = shared.lock();
    let owner = state
        .refresh_tokens
        .get(token)
        .map(|g| g.user.sub.clone())
        .or_else(|| state.access_tokens.get(token).map(|g| g.user.sub.clone()));
    let Some(owner) = owner else {
        // Google's answer for a token it does not know or already revoked.
        state.revocation_answers.push(400);
        return HttpResponse::BadRequest().json(json!({
            "error": "invalid_token",
            "error_description": "Token expired or revoked",
        }));
    };
    state.refresh_tokens.remove(token);
    state.access_tokens.remove(token);
    if google::revocation_ends_the_grant(state.dialect) {
        state.refresh_tokens.retain(|_, g| g.user.sub != owner);
        state.access_tokens.retain(|_, g| g.user.sub != owner);
        state.consents.retain(|(sub, _), _| *sub != owner);
    }
    state.revoked.push(token.clone());
    state.revocation_answers.push(200);
    HttpResponse::Ok().finish()
}

pub(super) async fn logout(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let p = params(req.query_string());
    let Some(target) = p.get("post_logout_redirect_uri") else {
        return HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body("<!doctype html><title>Signed out</title><h1>You are signed out of the mock provider.</h1>");
    };
    let allowed = Url::parse(target).ok().is_some_and(|target| {
        shared
            .lock()
            .clients
            .values()
            .flat_map(|c| c.redirect_uris.iter())
            .any(|registered| Url::parse(registered).is_ok_and(|r| r.origin() == target.origin()))
    });
    if !allowed {
        return HttpResponse::BadRequest().body("post_logout_redirect_uri is not registered");
    }
    // RP-Initiated Logout 1.0: `state` goes back with the browser.
    let mut target = Url::parse(target).expect("checked above");
    if let Some(state) = p.get("state") {
        target.query_pairs_mut().append_pair("state", state);
    }
    HttpResponse::Found()
        .insert_header((header::LOCATION, target.as_str()))
        .finish()
}

/// The metadata server's identity endpoint, as Cloud Run serves it to a
/// service: an ID token of the configured service account for `audience`.
pub(super) async fn metadata_identity(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let account = shared.lock().metadata_account.clone();
    identity_for(&req, &shared, &account)
}

/// The same, for the service account named in the path: several apps in
/// one test each get a metadata server of their own.
pub(super) async fn metadata_identity_of(
    req: HttpRequest,
    shared: web::Data<Shared>,
    account: web::Path<String>,
) -> HttpResponse {
    identity_for(&req, &shared, &account)
}

fn identity_for(req: &HttpRequest, shared: &Shared, account: &str) -> HttpResponse {
    if req
        .headers()
        .get("Metadata-Flavor")
        .and_then(|v| v.to_str().ok())
        != Some("Google")
    {
        return HttpResponse::Forbidden().body("Missing Metadata-Flavor:Google header.");
    }
    let p = params(req.query_string());
    let Some(audience) = p.get("audience").filter(|a| !a.is_empty()) else {
        return HttpResponse::BadRequest().body("non-empty audience parameter required");
    };
    let state = shared.lock();
    let account = MockUser {
        name: None,
        ..MockUser::new(account)
    };
    let token = id_token(
        &state,
        &IdTokenRequest {
            issuer: &shared.issuer,
            audience,
            user: &account,
            nonce: None,
            access_token: None,
            sid: None,
        },
    );
    HttpResponse::Ok().content_type("text/html").body(token)
}

pub(super) async fn trap(shared: web::Data<Shared>) -> HttpResponse {
    shared.lock().trap_hits += 1;
    HttpResponse::Ok().json(json!({
        "access_token": "followed-a-redirect",
        "token_type": "Bearer",
        "expires_in": 3599,
        "id_token": "followed.a.redirect",
    }))
}

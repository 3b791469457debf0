//! The token endpoint: client authentication, the code exchange with PKCE,
//! and the refresh-token grant with optional rotation.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{oauth_error, params, Params};
use crate::google;
use crate::state::Shared;
use crate::state::{random_token, AccessGrant, CodeGrant, Misbehaviour, RefreshGrant, State};
use crate::tokens::{id_token, IdTokenRequest};

const ACCESS_TOKEN_LIFETIME: u64 = 3599;

pub(super) async fn token(
    req: HttpRequest,
    shared: web::Data<Shared>,
    body: String,
) -> HttpResponse {
    let (delay, early) = {
        let mut state = shared.lock();
        state.token_calls += 1;
        let delay = state.misbehaviours.iter().find_map(|m| match m {
            Misbehaviour::TokenEndpointDelay(d) => Some(*d),
            _ => None,
        });
        let early = transport_misbehaviour(&state, &shared.issuer);
        (delay, early)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(response) = early {
        return response;
    }
    let p = params(&body);
    let client_id = match authenticate_client(&req, &p, &shared.lock()) {
        Some(client_id) => client_id,
        None => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client"),
    };
    match p.get("grant_type").map(String::as_str) {
        Some("authorization_code") => exchange_code(&shared, &client_id, &p),
        Some("refresh_token") => refresh(&shared, &client_id, &p),
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

fn transport_misbehaviour(state: &State, issuer: &str) -> Option<HttpResponse> {
    state.misbehaviours.iter().find_map(|m| match m {
        Misbehaviour::TokenEndpointStatus(s) => Some(oauth_error(
            StatusCode::from_u16(*s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "server_error",
        )),
        Misbehaviour::TokenEndpointGarbage => Some(
            HttpResponse::Ok()
                .content_type("text/html")
                .body("<html>surprise</html>"),
        ),
        Misbehaviour::TokenEndpointRedirect => Some(
            HttpResponse::Found()
                .insert_header((header::LOCATION, format!("{issuer}/trap")))
                .finish(),
        ),
        _ => None,
    })
}

/// `client_secret_basic` or `client_secret_post`, exactly one of them.
fn authenticate_client(req: &HttpRequest, p: &Params, state: &State) -> Option<String> {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(|encoded| {
            let decoded = STANDARD.decode(encoded.trim()).ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (id, secret) = decoded.split_once(':')?;
            let unescape = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((unescape(id)?, unescape(secret)?))
        });
    let post = p.get("client_secret").map(|secret| {
        (
            p.get("client_id").cloned().unwrap_or_default(),
            secret.clone(),
        )
    });
    let (id, secret) = match (basic, post) {
        (Some(Some(basic)), None) => basic,
        (None, Some(post)) => post,
        _ => return None,
    };
    let client = state.client(&id)?;
    // An extension's client is public: it has no secret to authenticate with.
    if client.extension || !bool::from(client.secret.as_bytes().ct_eq(secret.as_bytes())) {
        return None;
    }
    Some(id)
}

fn exchange_code(shared: &Shared, client_id: &str, p: &Params) -> HttpResponse {
    let invalid_grant = || oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let mut state = shared.lock();
    let Some(grant) = p.get("code").and_then(|c| state.codes.remove(c)) else {
        return invalid_grant();
    };
    if grant.expires_at < state.now()
        || grant.client_id != client_id
        || p.get("redirect_uri") != Some(&grant.redirect_uri)
        || !pkce_ok(&grant, p.get("code_verifier"))
    {
        return invalid_grant();
    }
    let access_token = random_token();
    state.issued.push(access_token.clone());
    let expires_at = state.now() + ACCESS_TOKEN_LIFETIME;
    state.access_tokens.insert(
        access_token.clone(),
        AccessGrant {
            user: grant.user.clone(),
            expires_at,
            scopes: grant.scopes.clone(),
        },
    );
    // Each code exchange is a sign-in, a provider session of its own:
    // its `sid` (Back-Channel Logout 1.0 section 2.1) names it.
    let sid = state.backchannel_logout().then(random_token);
    if let Some(sid) = &sid {
        state.sessions.push((grant.user.sub.clone(), sid.clone()));
    }
    let id_token = id_token(
        &state,
        &IdTokenRequest {
            issuer: &shared.issuer,
            audience: client_id,
            user: &grant.user,
            nonce: grant.nonce.as_deref(),
            access_token: Some(&access_token),
            sid: sid.as_deref(),
        },
    );
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME,
        "scope": google::reported_scope(state.dialect, &grant.scopes),
        "id_token": id_token,
    });
    if grant.refresh_due {
        let refresh_token = format!("1//{}", random_token());
        state.issued.push(refresh_token.clone());
        let issued_at = state.now();
        state.refresh_tokens.insert(
            refresh_token.clone(),
            RefreshGrant {
                user: grant.user,
                client_id: client_id.to_owned(),
                scopes: grant.scopes,
                issued_at,
            },
        );
        body["refresh_token"] = json!(refresh_token);
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

fn pkce_ok(grant: &CodeGrant, verifier: Option<&String>) -> bool {
    match (&grant.code_challenge, verifier) {
        (None, None) => true,
        (Some((challenge, method)), Some(verifier)) => {
            let computed = match method.as_str() {
                "S256" => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
                "plain" => verifier.clone(),
                _ => return false,
            };
            bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
        }
        _ => false,
    }
}

fn refresh(shared: &Shared, client_id: &str, p: &Params) -> HttpResponse {
    let mut state = shared.lock();
    let Some(presented) = p.get("refresh_token") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let now = state.now();
    let expired = state.refresh_tokens.get(presented).is_some_and(|grant| {
        google::refresh_token_expired(state.testing_app, grant.issued_at, now)
    });
    if expired {
        state.refresh_tokens.remove(presented);
    }
    let valid = state
        .refresh_tokens
        .get(presented)
        .is_some_and(|grant| grant.client_id == client_id);
    if !valid {
        return HttpResponse::BadRequest().json(json!({
            "error": "invalid_grant",
            "error_description": "Token has been expired or revoked.",
        }));
    }
    let (user, scopes, issued_at) = {
        let grant = &state.refresh_tokens[presented];
        (grant.user.clone(), grant.scopes.clone(), grant.issued_at)
    };
    let carried = match p.get("scope") {
        Some(asked) if !state.refresh_ignores_scope => match narrowed(&scopes, asked) {
            Some(carried) => carried,
            None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope"),
        },
        _ => scopes.clone(),
    };
    let access_token = random_token();
    state.issued.push(access_token.clone());
    let expires_at = state.now() + ACCESS_TOKEN_LIFETIME;
    state.access_tokens.insert(
        access_token.clone(),
        AccessGrant {
            user: user.clone(),
            expires_at,
            scopes: carried.clone(),
        },
    );
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME,
        "scope": google::reported_scope(state.dialect, &carried),
    });
    if state.rotation {
        let rotated = format!("1//{}", random_token());
        state.issued.push(rotated.clone());
        state.refresh_tokens.remove(presented);
        state.refresh_tokens.insert(
            rotated.clone(),
            RefreshGrant {
                user,
                client_id: client_id.to_owned(),
                scopes,
                issued_at,
            },
        );
        body["refresh_token"] = json!(rotated);
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// RFC 6749 §6: a refresh may ask for a narrower `scope`, which "MUST NOT
/// include any scope not originally granted" (else `invalid_scope`, §5.2).
/// Google's own client library sends it the same way and documents that
/// "all scopes must be authorized for the refresh token"
/// (`refresh_grant` in googleapis/google-auth-library-python,
/// `google/oauth2/_client.py`). `email` and `profile` match their long
/// names ([`google::same_scope`]). The grant's spelling is kept.
fn narrowed(granted: &[String], asked: &str) -> Option<Vec<String>> {
    let mut carried = Vec::new();
    for scope in asked.split(' ').filter(|s| !s.is_empty()) {
        let held = granted.iter().find(|g| google::same_scope(g, scope))?;
        if !carried.contains(held) {
            carried.push(held.clone());
        }
    }
    (!carried.is_empty()).then_some(carried)
}

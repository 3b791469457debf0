//! The authorization endpoint: the sign-in form or the automatic mode, and
//! the consent decision that makes a refresh token due. Two flows: the
//! code flow (`response_type=code`, the login service's) and, for a Chrome
//! extension's client, the implicit ID-token flow (`response_type=id_token`,
//! the ID token in the redirect URI's fragment; see [`crate::google`]).

use actix_web::{web, HttpRequest, HttpResponse};
use url::Url;

use super::{params, redirect_with, redirect_with_fragment, scopes, Params};
use crate::google::Dialect;
use crate::google::{answers_in_fragment, ImplicitRefusal};
use crate::state::Shared;
use crate::state::{random_token, CodeGrant, Decision, MockUser, State};
use crate::tokens::{id_token, IdTokenRequest};

const CODE_LIFETIME: u64 = 60;

pub(super) async fn authorize(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let p = params(req.query_string());
    shared.lock().authorization_requests.push(p.clone());
    let redirect = match checked_redirect_uri(&shared.lock(), &p) {
        Ok(redirect) => redirect,
        Err(mismatch) => return mismatch.page(),
    };
    // Bound first: the lock must be released before `refuse` takes it.
    let checked = checked_request(&shared.lock(), &p);
    if let Err(refusal) = checked {
        return refuse(&shared, &redirect, refusal, &p);
    }
    if shared.interactive {
        return sign_in_form(&p);
    }
    let (decision, user) = {
        let state = shared.lock();
        (state.decision, state.user.clone())
    };
    match decision {
        Decision::Deny => refuse(&shared, &redirect, "access_denied", &p),
        Decision::Approve => approve(&shared, &redirect, &p, user),
    }
}

/// The request's flow and parameters, checked once its client and
/// redirect URI are: the `error` to send back otherwise.
fn checked_request(state: &State, p: &Params) -> Result<(), &'static str> {
    let response_type = p
        .get("response_type")
        .map(String::as_str)
        .unwrap_or_default();
    let implicit = match response_type {
        "code" => false,
        "id_token" => true,
        _ => return Err("unsupported_response_type"),
    };
    if !scopes(p).iter().any(|s| s == "openid") {
        return Err(if implicit {
            ImplicitRefusal::NoOpenIdScope.error()
        } else {
            "invalid_scope"
        });
    }
    if implicit {
        let client_id = p.get("client_id").map(String::as_str).unwrap_or_default();
        if !state.client(client_id).is_some_and(|c| c.extension) {
            return Err(ImplicitRefusal::NotAnImplicitClient.error());
        }
        if p.get("nonce").is_none_or(|n| n.is_empty()) {
            return Err(ImplicitRefusal::MissingNonce.error());
        }
    }
    Ok(())
}

/// The error response, in the query or, for a flow that answers with
/// tokens in it, the fragment.
fn refuse(shared: &Shared, redirect: &Url, error: &str, p: &Params) -> HttpResponse {
    let response_type = p
        .get("response_type")
        .map(String::as_str)
        .unwrap_or_default();
    if answers_in_fragment(response_type) {
        redirect_with_fragment(redirect, &[("error", error)], p)
    } else {
        redirect_with(shared, redirect, &[("error", error)], p)
    }
}

/// The sign-in form posts here: approve or deny as the typed address.
pub(super) async fn decide(shared: web::Data<Shared>, body: String) -> HttpResponse {
    let p = params(&body);
    let redirect = match checked_redirect_uri(&shared.lock(), &p) {
        Ok(redirect) => redirect,
        Err(mismatch) => return mismatch.page(),
    };
    // The form's fields are the request's: checked again, since anyone
    // can post them.
    // Bound first: the lock must be released before `refuse` takes it.
    let checked = checked_request(&shared.lock(), &p);
    if let Err(refusal) = checked {
        return refuse(&shared, &redirect, refusal, &p);
    }
    if p.get("action").map(String::as_str) != Some("approve") {
        return refuse(&shared, &redirect, "access_denied", &p);
    }
    let email = p.get("email").map(|e| e.trim()).unwrap_or_default();
    if !email.contains('@') {
        return sign_in_form(&p);
    }
    approve(&shared, &redirect, &p, MockUser::new(email))
}

/// An unknown client or unregistered redirect URI: shown, never redirected to.
struct RedirectUriMismatch;

impl RedirectUriMismatch {
    fn page(self) -> HttpResponse {
        HttpResponse::BadRequest()
            .content_type("text/html; charset=utf-8")
            .body(
                "<!doctype html><title>Error 400</title><h1>Error 400: redirect_uri_mismatch</h1>",
            )
    }
}

fn checked_redirect_uri(state: &State, p: &Params) -> Result<Url, RedirectUriMismatch> {
    let client_id = p.get("client_id").map(String::as_str).unwrap_or_default();
    let redirect_uri = p
        .get("redirect_uri")
        .map(String::as_str)
        .unwrap_or_default();
    let known = state
        .client(client_id)
        .is_some_and(|c| c.redirect_uris.iter().any(|u| u == redirect_uri));
    match (known, Url::parse(redirect_uri)) {
        (true, Ok(url)) => Ok(url),
        _ => Err(RedirectUriMismatch),
    }
}

/// Issues a code, deciding like Google whether a consent screen was shown
/// and so whether a refresh token is due; or, in the implicit flow, the
/// ID token itself.
fn approve(shared: &Shared, redirect: &Url, p: &Params, user: MockUser) -> HttpResponse {
    if p.get("response_type").map(String::as_str) == Some("id_token") {
        return approve_implicit(shared, redirect, p, user);
    }
    let client_id = p.get("client_id").cloned().unwrap_or_default();
    let requested = scopes(p);
    // Google's `access_type=offline`; a plain provider's `offline_access`
    // scope (OpenID Connect Core 11).
    let offline = p.get("access_type").map(String::as_str) == Some("offline")
        || (shared.lock().dialect == Dialect::Generic
            && requested.iter().any(|s| s == "offline_access"));
    let forced = p
        .get("prompt")
        .is_some_and(|prompt| prompt.split(' ').any(|v| v == "consent"));
    let include_granted = p.get("include_granted_scopes").map(String::as_str) == Some("true");
    let code = random_token();
    {
        let mut state = shared.lock();
        let key = (user.sub.clone(), client_id.clone());
        let granted = state.consents.get(&key).cloned().unwrap_or_default();
        let consent_shown =
            forced || granted.is_empty() || !requested.iter().all(|s| granted.contains(s));
        if consent_shown {
            state.consent_prompts += 1;
        }
        let all = state.consents.entry(key).or_default();
        all.extend(requested.iter().cloned());
        let mut token_scopes: Vec<String> = if include_granted {
            all.iter().cloned().collect()
        } else {
            requested
        };
        token_scopes.sort();
        let expires_at = state.now() + CODE_LIFETIME;
        let challenge = p.get("code_challenge").map(|c| {
            let method = p
                .get("code_challenge_method")
                .cloned()
                .unwrap_or_else(|| "plain".into());
            (c.clone(), method)
        });
        state.codes.insert(
            code.clone(),
            CodeGrant {
                client_id,
                redirect_uri: redirect.to_string(),
                code_challenge: challenge,
                nonce: p.get("nonce").cloned(),
                user,
                scopes: token_scopes,
                refresh_due: offline && consent_shown,
                expires_at,
            },
        );
    }
    // What a person running the local stack sees of the provider's side;
    // never the code itself.
    tracing::info!(client_id = %p.get("client_id").map(String::as_str).unwrap_or_default(), offline, "sign-in approved, code issued");
    redirect_with(shared, redirect, &[("code", &code)], p)
}

/// The implicit flow's answer: an ID token for the extension's client
/// (`aud`, `azp`) carrying the request's `nonce`, in the fragment with
/// `state`. No access token is asked for, so none comes, and no `at_hash`.
fn approve_implicit(shared: &Shared, redirect: &Url, p: &Params, user: MockUser) -> HttpResponse {
    let client_id = p.get("client_id").cloned().unwrap_or_default();
    let token = {
        let mut state = shared.lock();
        let key = (user.sub.clone(), client_id.clone());
        let requested = scopes(p);
        let granted = state.consents.entry(key).or_default();
        let consent_shown = granted.is_empty() || !requested.iter().all(|s| granted.contains(s));
        granted.extend(requested);
        if consent_shown {
            state.consent_prompts += 1;
        }
        id_token(
            &state,
            &IdTokenRequest {
                issuer: &shared.issuer,
                audience: &client_id,
                user: &user,
                nonce: p.get("nonce").map(String::as_str),
                access_token: None,
                sid: None,
            },
        )
    };
    redirect_with_fragment(redirect, &[("id_token", &token)], p)
}

fn sign_in_form(p: &Params) -> HttpResponse {
    let hidden: String = p
        .iter()
        .filter(|(k, _)| k.as_str() != "email" && k.as_str() != "action")
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                escape(k),
                escape(v)
            )
        })
        .collect();
    let hint = p.get("login_hint").map(|h| escape(h)).unwrap_or_default();
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Mock provider: sign in</title>
<style>body{{font-family:system-ui,sans-serif;background:#eef1f5;margin:0}}main{{max-width:24rem;margin:14vh auto;background:#fff;padding:2rem;border-radius:10px;box-shadow:0 4px 18px rgba(0,0,0,.08)}}
h1{{font-size:1.3rem}}input[type=email]{{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;margin:.4rem 0 1rem}}
button{{padding:.6rem 1.1rem;font-size:1rem;border-radius:6px;border:0;cursor:pointer;margin-right:.5rem}}.approve{{background:#1a73e8;color:#fff}}.deny{{background:#e8eaed}}
p.note{{color:#666;font-size:.85rem}}</style></head><body><main>
<h1>Mock provider</h1><p>Sign in to continue. This test provider accepts any address.</p>
<form method="post" action="/o/oauth2/v2/auth">{hidden}
<label for="email">E-mail</label><input id="email" type="email" name="email" value="{hint}" required autofocus>
<button class="approve" id="approve" name="action" value="approve">Approve</button>
<button class="deny" id="deny" name="action" value="deny" formnovalidate>Deny</button></form>
<p class="note">Test-only. Never a real account.</p></main></body></html>"#
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

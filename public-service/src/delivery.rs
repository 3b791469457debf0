//! Handing a signed-in browser to an app, in the configured way.
//!
//! Cookie delivery sets the handoff token as a cookie (for the shared
//! parent domain, named for the app, or host-only) and redirects to
//! `return_to`. Code delivery redirects to the app's `/auth/handoff?code=…`
//! with a one-time code (256 random bits, stored only as its SHA-256,
//! bound to the app and to the browser's binding, valid
//! [`HandoffSettings::code_ttl`]); the app redeems it over
//! the back channel, with the browser's verifier, for the token. No code
//! is issued without a binding (see `handoff_guard::handoff_binding`). The token
//! never travels in a URL either way.

use std::time::Duration;

use actix_web::http::header;
use actix_web::HttpResponse;
use sha2::{Digest, Sha256};

use crate::apps::{Delivery, ReturnTo};
use crate::policy::Identity;
use crate::state::AppState;
use crate::store::{NewCode, StoreError};
use handoff_guard::login_service::SigningKey;

pub struct HandoffSettings {
    pub signing_key: SigningKey,
    pub previous_keys: Vec<SigningKey>,
    pub ttl: Duration,
    pub delivery: Delivery,
    /// How long a one-time handoff code may wait for its redemption.
    pub code_ttl: Duration,
}

/// The app route that redeems codes (see `handoff_guard::handoff_code`).
pub const APP_HANDOFF_PATH: &str = "/auth/handoff";
/// The app route that forgets the app's own cookie after sign-out.
pub const APP_SIGNED_OUT_PATH: &str = "/auth/signed-out";
/// The app route that gives a browser a binding and sends it back to sign in.
pub const APP_START_PATH: &str = "/auth/start";

/// The binding of a browser (SHA-256 of the verifier the app keeps in the
/// browser's cookie), as `/login` and `/renew` receive it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BrowserBinding([u8; 32]);

impl BrowserBinding {
    /// The `binding` parameter decoded, or `None` when it is not one.
    pub fn parse(param: &str) -> Option<Self> {
        handoff_guard::login_service::parse_binding(param).map(Self)
    }

    /// The form it travels in (inside the sealed login transaction).
    pub fn encoded(&self) -> String {
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, self.0)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for BrowserBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BrowserBinding(..)")
    }
}

/// Where a browser that came to `/login` or `/renew` without a binding goes
/// with code delivery: to the app, which gives it a verifier and sends it
/// back with the binding. No code is ever issued unbound.
pub fn bounce_to_app(return_to: &ReturnTo, renew: bool, scope: Option<&str>) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((
            header::LOCATION,
            app_start_url(return_to, renew, scope).as_str(),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The app's [`APP_START_PATH`], which gives the browser a binding and
/// sends it on to `/login` (or `/renew` with `renew`).
pub fn app_start_url(return_to: &ReturnTo, renew: bool, scope: Option<&str>) -> url::Url {
    let mut url = return_to.app_url();
    url.set_path(APP_START_PATH);
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("return_to", &return_to.path_and_query());
        if renew {
            query.append_pair("renew", "1");
        }
        if let Some(scope) = scope {
            query.append_pair("scope", scope);
        }
    }
    url
}

#[derive(Debug, thiserror::Error)]
pub enum HandOffError {
    #[error("signing the handoff token failed")]
    Signing(#[from] handoff_guard::login_service::SignError),
    #[error("storage unavailable: {0}")]
    Store(#[from] StoreError),
    #[error("a code without a browser binding was asked for")]
    Unbound,
}

/// The response that takes the browser, signed in as `identity` under
/// session `session_id`, to `return_to`; with code delivery, the code is
/// bound to `binding`, and there is none without one.
pub async fn hand_off(
    state: &AppState,
    identity: &Identity,
    session_id: &str,
    return_to: &ReturnTo,
    binding: Option<&BrowserBinding>,
    mut response: actix_web::HttpResponseBuilder,
) -> Result<HttpResponse, HandOffError> {
    let delivery = match state.handoff.delivery() {
        Delivery::Cookie { .. } => "cookie",
        Delivery::Code => "code",
    };
    service_kit::metrics::count(
        "handoffs_total",
        "Browsers handed to an app, by delivery.",
        &[("delivery", delivery)],
    );
    // For the sessions page ("which apps it has been handed to"); a
    // failure here must not stop the sign-in.
    if let Err(e) = state
        .store
        .record_session_app(session_id, return_to.audience(), state.clock.unix_seconds())
        .await
    {
        tracing::warn!(reason = %e, "the app a session was handed to was not recorded");
    }
    let location = match state.handoff.delivery() {
        Delivery::Cookie { .. } => {
            let token = state
                .handoff
                .issue(identity, return_to.audience(), session_id)?;
            response.cookie(state.handoff.cookie(token, return_to.audience()));
            return_to.as_str().to_owned()
        }
        Delivery::Code => {
            let binding = binding.ok_or(HandOffError::Unbound)?;
            let code = service_kit::random::url_safe_token(32);
            let now = state.clock.unix_seconds();
            state
                .store
                .create_handoff_code(&NewCode {
                    code_hash: code_hash(&code),
                    audience: return_to.audience().to_owned(),
                    session_id: session_id.to_owned(),
                    return_to: return_to.path_and_query(),
                    binding_hash: binding.as_bytes().to_vec(),
                    created_at: now,
                    expires_at: now + state.code_ttl.as_secs(),
                })
                .await?;
            let mut url = return_to.app_url();
            url.set_path(APP_HANDOFF_PATH);
            url.query_pairs_mut().append_pair("code", &code);
            url.into()
        }
    };
    Ok(response
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

pub fn code_hash(code: &str) -> Vec<u8> {
    Sha256::digest(code.as_bytes()).to_vec()
}

/// Default lifetime of a code: long enough for a redirect and one
/// back-channel call, short enough that a leaked one is useless.
pub const CODE_TTL: Duration = Duration::from_secs(60);

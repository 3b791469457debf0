//! The app's side of the separate-sites delivery: redeem a one-time code
//! for a handoff token over the back channel, set the app's own host-only
//! cookie, and forget it after sign-out.
//!
//! Mount with [`configure`] and register a [`CodeRedemption`] as app data:
//! - `GET /auth/start?return_to=…[&scope=…][&renew=1]`: where the public
//!   service sends a browser that came to its `/login` or `/renew` without
//!   a binding (a bookmark, a link): the browser gets a verifier for this
//!   sign-in here and goes back to sign in with its binding (see
//!   [`crate::handoff_binding`]).
//! - `GET /auth/handoff?code=…`: the public service sends the browser here
//!   after sign-in or renewal. The code is posted to the public service's
//!   `/handoff/redeem` with this app's service-account ID token and the
//!   browser's pending verifiers; the token that comes back goes into
//!   `__Host-handoff` (never into a URL or a page), the verifier the code
//!   was bound to is forgotten, and the browser continues to the path
//!   stored with the code. A browser without the verifier the code was
//!   bound to gets a page saying so, and keeps the cookies it had.
//!   Throttled per client address: every request costs a back-channel
//!   call.
//! - `POST /auth/logout`: the app's sign-out button. Same-origin only (its
//!   `Origin` must be this app). The public service's session cookie does
//!   not travel with a request from another site, so the session is ended
//!   server to server: this app posts the handoff token it holds to the
//!   public service's `/sessions/end`, clears its cookie and sends the
//!   browser to the signed-out page.
//! - `GET /auth/signed-out`: the public service sends the browser here after
//!   a sign-out started on its own pages; the browser continues to the
//!   public service's signed-out page. The cookie is cleared only when the
//!   public service confirms (`/sessions/status`) that its token's session
//!   has ended: any site can send a browser here, and a `GET` must not sign
//!   anyone out of the app while their session stays valid.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::claims::Audience;
use crate::clock::{SharedClock, SystemClock};
use crate::handoff_binding::MAX_PENDING;
use crate::metadata::IdTokenSource;

/// `GET`: gives a browser a binding and sends it to sign in (see
/// [`CodeRedemption::start`]). The public service sends browsers to these
/// paths on the app's origin, so they are part of the contract: mount the
/// routes at these paths and no others.
pub const START_PATH: &str = "/auth/start";
/// `GET ?code=…`: redeems a one-time code and sets the app's cookie (see
/// [`CodeRedemption::handoff`]).
pub const HANDOFF_PATH: &str = "/auth/handoff";
/// `POST`: the app's sign-out button (see [`CodeRedemption::logout`]).
pub const LOGOUT_PATH: &str = "/auth/logout";
/// `GET`: where a sign-out started at the public service comes back
/// through (see [`CodeRedemption::signed_out`]).
pub const SIGNED_OUT_PATH: &str = "/auth/signed-out";

const MAX_CODE_LEN: usize = 128;
/// Longest handoff lifetime honoured for the cookie, whatever the answer says.
const MAX_COOKIE_LIFETIME: Duration = Duration::from_secs(3600);

/// A rate limit the host application puts in front of the routes that
/// cost a back-channel call. The library keeps no limiter of its own.
#[cfg(feature = "actix")]
pub trait Throttle: Send + Sync {
    /// `Some(answer)` (typically a `429`) when `req` is over its limit.
    fn refuse(&self, req: &actix_web::HttpRequest) -> Option<actix_web::HttpResponse>;
}

/// Why a back-channel call to the public service (redeeming a code, ending
/// a session, asking whether one ended) did not succeed. No message quotes
/// a code, a token or a URL.
#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    /// This app could not get its own service-account ID token to
    /// authenticate the call (the text is the [`crate::MetadataError`]).
    #[error("this app's ID token is unavailable: {0}")]
    Credentials(String),
    /// The call got no answer: the connection failed, or no answer came
    /// within 5 s; the text says which kind.
    #[error("the public service could not be reached: {0}")]
    Unreachable(String),
    /// The public service answered this status instead of 2xx. `400`
    /// refuses the code or token itself (unknown, used, expired, another
    /// app's, bound to another browser, or its session ended); other
    /// statuses are about this app's account, its rate or an outage.
    #[error("the public service refused the code ({0})")]
    Refused(u16),
    /// A 2xx answer this library cannot read: not the expected JSON, a
    /// `verifier_index` beyond the verifiers sent, or a `signed_out_url`
    /// that is not a URL.
    #[error("the public service answered something unexpected")]
    Malformed,
}

/// What a redeemed code gave this app.
pub struct Redeemed {
    /// The handoff token for this app: a credential, for the app's own
    /// cookie only, never a URL, a page or a log line.
    pub token: SecretString,
    /// How long the token, and so its cookie, lives: what the public
    /// service says, at most an hour.
    pub expires_in: Duration,
    /// Where the browser continues, as stored with the code (a path on this
    /// app). It comes from another service: follow it only if it is a local
    /// path, as [`CodeRedemption::handoff`] does.
    pub return_to: String,
    /// Which of the verifiers presented the code was bound to.
    pub verifier_index: usize,
}

/// The app's side of the separate-sites delivery (see the module docs):
/// the back-channel calls and the handlers of the four routes. With
/// actix-web, register it as `web::Data` and mount `configure`; with axum,
/// use `axum::code_redemption_routes`. [`crate::Guard`] builds one for
/// code delivery.
pub struct CodeRedemption {
    redeem_url: Url,
    end_session_url: Url,
    status_url: Url,
    audience: Audience,
    auth_url: Url,
    tokens: Arc<IdTokenSource>,
    http: reqwest::Client,
    /// Per client address, on `/auth/handoff`.
    #[cfg(feature = "actix")]
    limiter: Option<Arc<dyn Throttle>>,
    /// Dates the binding verifiers.
    clock: SharedClock,
}

impl CodeRedemption {
    /// `backchannel_url`: where this app reaches the public service;
    /// `auth_url`: its public URL (for browsers); `audience`: this app's
    /// origin; `tokens`: this app's ID tokens for the public service.
    pub fn new(
        backchannel_url: &Url,
        auth_url: &Url,
        audience: Audience,
        tokens: Arc<IdTokenSource>,
    ) -> Self {
        let mut redeem_url = backchannel_url.clone();
        redeem_url.set_path("/handoff/redeem");
        redeem_url.set_query(None);
        let mut end_session_url = redeem_url.clone();
        end_session_url.set_path("/sessions/end");
        let mut status_url = redeem_url.clone();
        status_url.set_path("/sessions/status");
        Self {
            redeem_url,
            end_session_url,
            status_url,
            audience,
            auth_url: auth_url.clone(),
            tokens,
            http: crate::back_channel::client(Duration::from_secs(5)),
            #[cfg(feature = "actix")]
            limiter: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Dates binding verifiers by `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Limits `/auth/handoff` (and the sign-out form) with `limiter`.
    #[cfg(feature = "actix")]
    pub fn throttled(mut self, limiter: Arc<dyn Throttle>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Redeems `code` with the browser's pending binding `verifiers` (at
    /// most four, the most one browser keeps); the answer names the one the
    /// code was bound to.
    pub async fn redeem(&self, code: &str, verifiers: &[&str]) -> Result<Redeemed, RedeemError> {
        #[derive(Deserialize)]
        struct Answer {
            handoff_token: String,
            expires_in: u64,
            return_to: String,
            verifier_index: usize,
        }
        let verifiers = &verifiers[..verifiers.len().min(MAX_PENDING)];
        let body = serde_json::json!({
            "code": code,
            "audience": self.audience.as_str(),
            "verifiers": verifiers,
        });
        let answer: Answer = self.post(&self.redeem_url, &body).await?;
        if answer.verifier_index >= verifiers.len() {
            return Err(RedeemError::Malformed);
        }
        Ok(Redeemed {
            token: SecretString::from(answer.handoff_token),
            expires_in: Duration::from_secs(answer.expires_in).min(MAX_COOKIE_LIFETIME),
            return_to: answer.return_to,
            verifier_index: answer.verifier_index,
        })
    }

    /// Ends the session `handoff_token` belongs to at the public service;
    /// returns where to send the browser.
    pub async fn end_session(&self, handoff_token: &str) -> Result<Url, RedeemError> {
        #[derive(Deserialize)]
        struct Answer {
            signed_out_url: String,
        }
        let body = serde_json::json!({ "handoff_token": handoff_token });
        let answer: Answer = self.post(&self.end_session_url, &body).await?;
        Url::parse(&answer.signed_out_url).map_err(|_| RedeemError::Malformed)
    }

    /// Whether the session `handoff_token` belongs to has ended (a token
    /// the public service no longer recognises as this app's counts as
    /// ended: it opens nothing here either).
    pub async fn session_ended(&self, handoff_token: &str) -> Result<bool, RedeemError> {
        #[derive(Deserialize)]
        struct Answer {
            ended: bool,
        }
        let body = serde_json::json!({ "handoff_token": handoff_token });
        match self.post::<Answer>(&self.status_url, &body).await {
            Ok(answer) => Ok(answer.ended),
            Err(RedeemError::Refused(400)) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Posts `body` to the public service as this app, reading the JSON answer.
    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
        body: &serde_json::Value,
    ) -> Result<T, RedeemError> {
        let bearer = self
            .tokens
            .bearer()
            .await
            .map_err(|e| RedeemError::Credentials(e.to_string()))?;
        let response = self
            .http
            .post(url.clone())
            .header(reqwest::header::AUTHORIZATION, bearer)
            .json(body)
            .send()
            .await
            .map_err(|e| RedeemError::Unreachable(crate::back_channel::describe(&e)))?;
        if !response.status().is_success() {
            return Err(RedeemError::Refused(response.status().as_u16()));
        }
        response.json().await.map_err(|_| RedeemError::Malformed)
    }

    /// The public service's own sign-out page, where a sign-out this app
    /// could not complete is finished by the user.
    fn public_logout_page(&self) -> Url {
        let mut url = self.auth_url.clone();
        url.set_path("/logout");
        url.query_pairs_mut()
            .append_pair("return_to", &format!("{}/", self.audience));
        url
    }

    fn signed_out_page(&self) -> Url {
        let mut url = self.auth_url.clone();
        url.set_path("/signed-out");
        url.query_pairs_mut()
            .append_pair("return_to", &format!("{}/", self.audience));
        url
    }
}

/// Mounts `/auth/start`, `/auth/handoff`, `/auth/logout` and
/// `/auth/signed-out` on actix-web; register the [`CodeRedemption`] as
/// `web::Data`.
#[cfg(feature = "actix")]
pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    use actix_web::web;
    cfg.route(START_PATH, web::get().to(actix_routes::start))
        .route(HANDOFF_PATH, web::get().to(actix_routes::handoff))
        .route(LOGOUT_PATH, web::post().to(actix_routes::logout))
        .route(SIGNED_OUT_PATH, web::get().to(actix_routes::signed_out));
}

#[cfg(feature = "actix")]
mod actix_routes {
    use actix_web::{web, HttpRequest, HttpResponse};

    use super::CodeRedemption;

    fn throttle(req: &HttpRequest, redemption: &CodeRedemption) -> Option<HttpResponse> {
        redemption.limiter.as_ref().and_then(|l| l.refuse(req))
    }

    pub async fn logout(req: HttpRequest, redemption: web::Data<CodeRedemption>) -> HttpResponse {
        redemption.logout(&req).await.into()
    }

    pub async fn start(req: HttpRequest, redemption: web::Data<CodeRedemption>) -> HttpResponse {
        redemption.start(&req).into()
    }

    pub async fn handoff(req: HttpRequest, redemption: web::Data<CodeRedemption>) -> HttpResponse {
        if let Some(refusal) = throttle(&req, &redemption) {
            return refusal;
        }
        redemption.handoff(&req).await.into()
    }

    pub async fn signed_out(
        req: HttpRequest,
        redemption: web::Data<CodeRedemption>,
    ) -> HttpResponse {
        // Asking whether the session ended costs a back-channel call:
        // throttled like `/auth/handoff` when there is a token to ask about.
        let has_token = crate::cookie::handoff_token(&req, crate::cookie::HOST_ONLY_NAME).is_some();
        if has_token {
            if let Some(refusal) = throttle(&req, &redemption) {
                return refusal;
            }
        }
        redemption.signed_out(&req).await.into()
    }
}

mod routes;

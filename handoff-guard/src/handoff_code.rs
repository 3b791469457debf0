// Over 400 lines: the four routes of one protocol (start, handoff, logout, signed-out) and their client; splitting them would scatter one exchange.
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

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::claims::Audience;
use crate::clock::{SharedClock, SystemClock};
use crate::cookie::{handoff_cookie, removal_cookie, CookieScope, HOST_ONLY_NAME};
use crate::handoff_binding::{PendingVerifiers, BINDING_PARAM, MAX_PENDING};
use crate::metadata::IdTokenSource;
use crate::page::Reply;
use crate::request_head::RequestHead;

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

impl CodeRedemption {
    /// `POST /auth/logout`: ends the session at the public service and
    /// sends the browser on to its signed-out page.
    pub async fn logout(&self, req: &impl RequestHead) -> Reply {
        if !same_origin(req, &self.audience) {
            tracing::warn!("sign-out refused: not posted from this app");
            return Reply::text(403, "Sign out from this app's sign-out button.");
        }
        let destination = match crate::cookie::handoff_token(req, HOST_ONLY_NAME) {
            Some(token) => match self.end_session(token).await {
                Ok(url) => {
                    tracing::info!("signed out");
                    url
                }
                Err(e) => {
                    tracing::warn!(reason = %e, "sign-out at the public service failed; handing over to its page");
                    self.public_logout_page()
                }
            },
            None => self.public_logout_page(),
        };
        Reply::continue_to(&destination)
            .cookie(&removal_cookie(&CookieScope::HostOnly, &self.audience))
    }

    /// `GET /auth/start`: sends the browser back to the public service
    /// with a binding: to `/login`, or `/renew` with `renew=1`;
    /// `return_to` is a path on this app or a URL on it, anything else is
    /// this app's root.
    pub fn start(&self, req: &impl RequestHead) -> Reply {
        let param = |name: &str| {
            url::form_urlencoded::parse(req.query().as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let mut return_to = Url::parse(&self.audience).expect("an origin is a URL");
        if let Some(asked) = param("return_to") {
            let path = match Url::parse(&asked) {
                Ok(url) if url.origin().ascii_serialization() == self.audience.as_str() => {
                    let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
                    format!("{}{query}", url.path())
                }
                Ok(_) => "/".to_owned(),
                Err(_) => asked,
            };
            let path = local_path(&path);
            let (path, query) = path.split_once('?').unwrap_or((path, ""));
            return_to.set_path(path);
            return_to.set_query(Some(query).filter(|q| !q.is_empty()));
        }
        let now = self.clock.unix_seconds();
        let mut pending = PendingVerifiers::from_request(req, now);
        let binding = pending.start(now);
        let renew = param("renew").as_deref() == Some("1");
        let mut url = self.auth_url.clone();
        url.set_path(if renew { "/renew" } else { "/login" });
        url.set_query(None);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("return_to", return_to.as_str());
            query.append_pair(BINDING_PARAM, &binding);
            if let (false, Some(scope)) = (renew, param("scope")) {
                query.append_pair("scope", &scope);
            }
        }
        Reply::redirect(302, url.as_str()).cookie(&pending.cookie(now))
    }

    /// `GET /auth/handoff?code=…`: redeems the code with the browser's
    /// pending verifiers, sets this app's cookie and continues to the page
    /// stored with the code.
    pub async fn handoff(&self, req: &impl RequestHead) -> Reply {
        let code = url::form_urlencoded::parse(req.query().as_bytes())
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .filter(|c| !c.is_empty() && c.len() <= MAX_CODE_LEN);
        let Some(code) = code else {
            return sign_in_again(400);
        };
        // No pending verifier: the code was not asked for by this browser (or
        // its sign-in outlived the verifier). Nothing to redeem, and nothing is
        // overwritten.
        let now = self.clock.unix_seconds();
        let mut pending = PendingVerifiers::from_request(req, now);
        if pending.is_empty() {
            tracing::warn!("handoff code brought by a browser without a binding; not redeemed");
            return sign_in_again(400);
        }
        match self.redeem(&code, &pending.verifiers()).await {
            Ok(redeemed) => {
                tracing::info!("handoff code redeemed; signed in");
                let cookie = handoff_cookie(
                    redeemed.token.expose_secret().to_owned(),
                    redeemed.expires_in,
                    &CookieScope::HostOnly,
                    &self.audience,
                );
                // Its binding may sit in a request log: from now on it matches
                // nothing this browser holds.
                pending.forget(redeemed.verifier_index);
                Reply::redirect(303, local_path(&redeemed.return_to))
                    .cookie(&cookie)
                    .cookie(&pending.cookie(now))
            }
            Err(e @ RedeemError::Refused(_)) => {
                tracing::warn!(reason = %e, "handoff code not redeemed");
                sign_in_again(400)
            }
            Err(e) => {
                tracing::error!(reason = %e, "handoff code redemption failed");
                sign_in_again(503)
            }
        }
    }

    /// `GET /auth/signed-out`: continues to the public service's
    /// signed-out page, forgetting this app's cookie only when the public
    /// service confirms that its session has ended.
    pub async fn signed_out(&self, req: &impl RequestHead) -> Reply {
        let page = Reply::redirect(303, self.signed_out_page().as_str());
        let Some(token) = crate::cookie::handoff_token(req, HOST_ONLY_NAME) else {
            return page;
        };
        match self.session_ended(token).await {
            Ok(true) => page.cookie(&removal_cookie(&CookieScope::HostOnly, &self.audience)),
            Ok(false) => {
                tracing::warn!("signed-out page visited with a live session; cookie kept");
                page
            }
            Err(e) => {
                tracing::warn!(reason = %e, "session status unavailable; cookie kept");
                page
            }
        }
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
        let has_token = crate::cookie::handoff_token(&req, super::HOST_ONLY_NAME).is_some();
        if has_token {
            if let Some(refusal) = throttle(&req, &redemption) {
                return refusal;
            }
        }
        redemption.signed_out(&req).await.into()
    }
}

/// `Origin` (or `Referer` when there is none) is this app's origin.
fn same_origin(req: &impl RequestHead, own_origin: &str) -> bool {
    crate::request_origin::claimed(req.header_values("origin"), req.header_values("referer"))
        .is_some_and(|origin| origin == own_origin)
}

/// A path on this app, or `/`: the stored `return_to` comes from the public
/// service, but a redirect target is checked wherever it comes from.
fn local_path(return_to: &str) -> &str {
    let safe = return_to.starts_with('/')
        && !return_to.starts_with("//")
        && !return_to.starts_with("/\\")
        && !return_to.chars().any(|c| c.is_control() || c == '\\');
    if safe {
        return_to
    } else {
        "/"
    }
}

fn sign_in_again(status: u16) -> Reply {
    let (title, message) = if status == 400 {
        (
            "This sign-in link has expired",
            "It was already used, took too long, was started in another browser, or was meant for another app. Nothing has changed here.",
        )
    } else {
        (
            "Sign-in is unavailable",
            "The sign-in service could not be reached. Please try again in a moment.",
        )
    };
    Reply::html(
        status,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><main><h1 id=\"error-title\">{title}</h1><p>{message}</p>\
             <p><a id=\"sign-in\" href=\"/\">Sign in again</a></p></main></body></html>"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path("/reports?tab=2"), "/reports?tab=2");
        assert_eq!(local_path("//evil.example/"), "/");
        assert_eq!(local_path("/\\evil.example/"), "/");
        assert_eq!(local_path("https://evil.example/"), "/");
        assert_eq!(local_path("/a\r\nSet-Cookie: x"), "/");
        assert_eq!(local_path(""), "/");
    }
}

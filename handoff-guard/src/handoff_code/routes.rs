//! The four routes' handlers, framework-neutral: each reads the request
//! through [`RequestHead`] and answers a [`Reply`] that the actix-web and
//! axum adapters send as it is.

use secrecy::ExposeSecret;
use url::Url;

use super::{CodeRedemption, RedeemError, MAX_CODE_LEN};
use crate::cookie::{handoff_cookie, removal_cookie, CookieScope, HOST_ONLY_NAME};
use crate::handoff_binding::{PendingVerifiers, BINDING_PARAM};
use crate::page::Reply;
use crate::request_head::RequestHead;

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

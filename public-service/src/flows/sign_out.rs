//! Signing out: a person's own sign-out from a browser, and an app's on
//! its user's behalf, server to server.
//!
//! Either way the session is revoked (the apps learn of it from the
//! revoked-sessions feed), the grant is revoked at the provider when
//! `SIGN_OUT_REVOKES_GRANT` says so, and the browser's way on may pass
//! through the provider's end-session endpoint.

use handoff_guard::HandoffClaims;
use url::Url;

use crate::apps::{AppRegistry, Delivery, ReturnTo};
use crate::boundary::AppCaller;
use crate::delivery::APP_SIGNED_OUT_PATH;
use crate::handoff::HandoffIssuer;
use crate::oidc::OidcClient;
use crate::sessions::Sessions;
use crate::state::AppState;
use crate::state::SignOutSettings;
use crate::store::{SessionRecord, SessionStore, StoreError};
use crate::token_broker::TokenBroker;

/// What signing out needs.
pub struct SignOut<'a> {
    pub sessions: &'a Sessions,
    pub store: &'a dyn SessionStore,
    pub grants: &'a TokenBroker,
    pub provider: &'a OidcClient,
    pub issuer: &'a HandoffIssuer,
    pub apps: &'a AppRegistry,
    pub settings: SignOutSettings,
    /// This service's `/signed-out` page.
    pub signed_out_page: Url,
}

#[derive(Debug, thiserror::Error)]
pub enum SignOutError {
    #[error("the request is not a sign-out")]
    Unreadable,
    /// The token is not one this service handed to an app of the caller's.
    #[error("no valid handoff token of the caller's apps")]
    NotHandedToCaller,
    #[error("storage unavailable: {0}")]
    Store(#[from] StoreError),
}

/// Ends `session`, the browser's (if it has one), and says where the
/// browser goes on its way to `return_to`. The cookies are the caller's
/// to clear, whatever happened.
pub async fn sign_out(
    deps: &SignOut<'_>,
    session: Option<&SessionRecord>,
    return_to: &ReturnTo,
) -> Result<Url, SignOutError> {
    match session {
        Some(session) => {
            end(deps, session).await?;
            tracing::info!("signed out");
        }
        None => tracing::info!("sign-out without a valid session; clearing cookies"),
    }
    let mut destination = deps.signed_out_page.clone();
    destination
        .query_pairs_mut()
        .append_pair("return_to", return_to.as_str());
    if *deps.issuer.delivery() == Delivery::Code {
        // The app's cookie is its own: let the app forget it on the way.
        destination = return_to.app_url();
        destination.set_path(APP_SIGNED_OUT_PATH);
    }
    Ok(through_the_provider(deps, return_to.as_str())
        .await
        .unwrap_or(destination))
}

/// An app signs its user out: the session of `handoff_token`, which the
/// caller must have been handed. Answers where the app sends the browser.
pub async fn sign_out_for_app(
    deps: &SignOut<'_>,
    caller: &AppCaller,
    handoff_token: &str,
) -> Result<Url, SignOutError> {
    let claims = handed_to(deps, caller, handoff_token).await?;
    if let Some(session) = deps.store.session(claims.sid.as_str()).await? {
        end(deps, &session).await?;
        tracing::info!(app = %claims.aud, "signed out by the app");
    }
    let return_to = format!("{}/", claims.aud);
    let mut signed_out = deps.signed_out_page.clone();
    signed_out
        .query_pairs_mut()
        .append_pair("return_to", &return_to);
    Ok(through_the_provider(deps, &return_to)
        .await
        .unwrap_or(signed_out))
}

/// Whether the session of a handoff token the caller holds is over.
pub async fn has_ended(
    deps: &SignOut<'_>,
    caller: &AppCaller,
    handoff_token: &str,
) -> Result<bool, SignOutError> {
    let claims = handed_to(deps, caller, handoff_token).await?;
    Ok(match deps.store.session(claims.sid.as_str()).await? {
        Some(session) => deps.sessions.validity(&session).is_err(),
        None => true,
    })
}

/// Revokes the session, then (when configured) the grant; a grant the
/// provider would not revoke is logged, not fatal: the session is over.
async fn end(deps: &SignOut<'_>, session: &SessionRecord) -> Result<(), SignOutError> {
    deps.sessions.revoke(session).await?;
    if deps.settings.revoke_grant {
        if let Err(e) = deps.grants.revoke(&session.subject).await {
            tracing::warn!(reason = %e, "grant not revoked at sign-out");
        }
    }
    Ok(())
}

/// The provider's end-session URL, when configured and advertised; the
/// provider sends the browser to the registered `/signed-out` exactly,
/// with `return_to` in `state`.
async fn through_the_provider(deps: &SignOut<'_>, return_to: &str) -> Option<Url> {
    if !deps.settings.end_provider_session {
        return None;
    }
    deps.provider
        .end_session_url(&deps.signed_out_page, return_to)
        .await
}

/// The claims of `handoff_token` if it was handed to an app whose service
/// account `caller` is.
async fn handed_to(
    deps: &SignOut<'_>,
    caller: &AppCaller,
    handoff_token: &str,
) -> Result<HandoffClaims, SignOutError> {
    for app in caller.apps(deps.apps) {
        if let Ok(verified) = deps.issuer.verify_for(handoff_token, app.audience()).await {
            return Ok(verified);
        }
    }
    tracing::warn!(caller = %caller.account(), "refused: no valid handoff token for the caller's app");
    Err(SignOutError::NotHandedToCaller)
}

/// The flow's view of the service's state.
impl AppState {
    /// What signing out needs.
    pub fn sign_out(&self) -> SignOut<'_> {
        SignOut {
            sessions: &self.sessions,
            store: &*self.store,
            grants: &self.broker,
            provider: &self.oidc,
            issuer: &self.handoff,
            apps: &self.apps,
            settings: self.sign_out,
            signed_out_page: self.url("/signed-out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::fixture::{self, caller, APP, APP_ACCOUNT, OTHER_ACCOUNT};

    #[actix_web::test]
    async fn a_browsers_sign_out_ends_its_session_and_goes_through_the_apps_signed_out_route() {
        let f = fixture::with_code_delivery().await;
        let session = f.signed_in("alice@example.com").await;
        let return_to = f
            .state
            .apps
            .return_to(&format!("{APP}/page"))
            .expect("registered");
        let destination = sign_out(&f.state.sign_out(), Some(&session), &return_to)
            .await
            .expect("signed out");
        assert_eq!(destination.as_str(), format!("{APP}{APP_SIGNED_OUT_PATH}"));
        let stored = f.state.store.session(&session.id).await.unwrap().unwrap();
        assert!(
            f.state.sessions.validity(&stored).is_err(),
            "the session ended"
        );
        // Without a session there is nothing to end, and the way on is the same.
        let again = sign_out(&f.state.sign_out(), None, &return_to)
            .await
            .unwrap();
        assert_eq!(again, destination);
    }

    #[actix_web::test]
    async fn an_app_ends_only_a_session_it_was_handed() {
        let f = fixture::with_code_delivery().await;
        let session = f.signed_in("alice@example.com").await;
        let identity = Sessions::identity(&session);
        let token = f.state.handoff.issue(&identity, APP, &session.id).unwrap();

        let deps = f.state.sign_out();
        let other = sign_out_for_app(&deps, &caller(OTHER_ACCOUNT), &token).await;
        assert!(
            matches!(other, Err(SignOutError::NotHandedToCaller)),
            "{other:?}"
        );
        assert!(!has_ended(&deps, &caller(APP_ACCOUNT), &token)
            .await
            .unwrap());

        let url = sign_out_for_app(&deps, &caller(APP_ACCOUNT), &token)
            .await
            .expect("signed out by its app");
        assert_eq!(url.path(), "/signed-out");
        assert!(url.query().unwrap_or_default().contains("return_to="));
        assert!(has_ended(&deps, &caller(APP_ACCOUNT), &token)
            .await
            .unwrap());
        let forged = has_ended(&deps, &caller(APP_ACCOUNT), "a.b.c").await;
        assert!(
            matches!(forged, Err(SignOutError::NotHandedToCaller)),
            "{forged:?}"
        );
    }
}

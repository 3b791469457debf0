//! Renewing: a fresh handoff for a browser whose token expired, without a
//! trip to the provider while its session lives.
//!
//! The session must be valid and its person must still pass the access
//! policy (an operator may have removed them: then the session and the
//! grant are revoked, at the provider too); with `RENEWAL_CHECKS_GRANT`,
//! the provider grant must also still refresh. Otherwise a sign-in starts.

use crate::apps::ReturnTo;
use crate::delivery::BrowserBinding;
use crate::flows::sign_in::{Provider, SignInDeps, SignInRequest};
use crate::policy::Identity;
use crate::sessions::Sessions;
use crate::store::{SessionRecord, StoreError};
use crate::token_broker::BrokerError;

/// How a renewal goes on.
pub enum Renewal {
    /// No valid session, or a grant that needs consent again: a sign-in.
    SignIn(SignInRequest),
    /// The person no longer passes the access policy; their session and
    /// grant are revoked.
    Denied,
    /// The session goes on: hand the browser off again.
    Renewed {
        identity: Identity,
        session: SessionRecord,
    },
}

/// Renews the browser's valid session `current` (if any) for `return_to`.
pub async fn renew<P: Provider>(
    deps: &SignInDeps<'_, P>,
    current: Option<SessionRecord>,
    return_to: ReturnTo,
    binding: Option<BrowserBinding>,
) -> Result<Renewal, StoreError> {
    let Some(session) = current else {
        return Ok(Renewal::SignIn(SignInRequest {
            return_to,
            extra_scopes: Vec::new(),
            force_consent: false,
            login_hint: None,
            binding,
            to_sessions_page: false,
        }));
    };
    let identity = Sessions::identity(&session);
    if let Err(denial) = deps.policy.check(&identity) {
        tracing::warn!(reason = %denial, "a session's user no longer passes the access policy");
        deps.sessions.revoke(&session).await?;
        // The grant too: no broker call, nor a later policy change, should
        // find a refresh token of a user the policy turned away.
        if let Err(e) = deps.grants.revoke(&session.subject).await {
            tracing::warn!(reason = %e, "the denied user's grant was not revoked; the broker still refuses them");
        }
        return Ok(Renewal::Denied);
    }
    if deps.sessions.settings().renewal_checks_grant {
        match deps.grants.check_grant(&session.subject).await {
            Ok(()) => {}
            Err(BrokerError::ConsentRequired { .. }) => {
                tracing::info!("the provider grant no longer refreshes; signing in again");
                return Ok(Renewal::SignIn(SignInRequest {
                    return_to,
                    extra_scopes: Vec::new(),
                    force_consent: true,
                    login_hint: Some(session.email),
                    binding,
                    to_sessions_page: false,
                }));
            }
            // An outage of the provider does not sign everyone out.
            Err(e) => tracing::warn!(reason = %e, "grant check failed; renewing anyway"),
        }
    }
    deps.sessions.touch(&session).await?;
    tracing::info!(app = return_to.audience(), "handoff renewed");
    Ok(Renewal::Renewed { identity, session })
}

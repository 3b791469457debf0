//! `GET /renew?return_to=…`: a fresh handoff token for a browser whose
//! token expired, without a trip to the provider while its session lives.
//!
//! The session must be valid (not revoked, used within the idle timeout,
//! within its absolute lifetime) and its user must still pass the access
//! policy (an operator may have removed them: then the session and the
//! grant are revoked, at the provider too); with
//! `RENEWAL_CHECKS_GRANT`, the provider grant must also still refresh.
//! Otherwise this is `/login`: a new sign-in starts. With code delivery,
//! a browser without a binding is sent to the app to be given one first:
//! no code is issued unbound.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::boundary::MaybeSession;
use crate::delivery::{bounce_to_app, hand_off};
use crate::pages::error_page;
use crate::routes::login::{binding, return_to, start_sign_in, Bound, LoginError, SignInRequest};
use crate::sessions::Sessions;
use crate::state::AppState;
use crate::token_broker::BrokerError;

pub async fn renew(
    MaybeSession(session): MaybeSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, LoginError> {
    let return_to = return_to(&req, &state)?;
    let binding = match binding(&req, &state)? {
        Bound::Yes(binding) => Some(binding),
        Bound::NotNeeded => None,
        Bound::Missing => return Ok(bounce_to_app(&return_to, true, None)),
    };
    let Some(session) = session else {
        count_renewal("sign_in");
        return Ok(start_sign_in(
            &state,
            &req,
            SignInRequest {
                return_to,
                extra_scopes: Vec::new(),
                force_consent: false,
                login_hint: None,
                binding,
            },
        )
        .await?);
    };
    let identity = Sessions::identity(&session);
    if let Err(denial) = state.policy.check(&identity) {
        tracing::warn!(reason = %denial, "a session's user no longer passes the access policy");
        state.sessions.revoke(&session).await?;
        // The grant too: no broker call, nor a later policy change, should
        // find a refresh token of a user the policy turned away.
        if let Err(e) = state.broker.revoke(&session.subject).await {
            tracing::warn!(reason = %e, "the denied user's grant was not revoked; the broker still refuses them");
        }
        let mut response = error_page(
            StatusCode::FORBIDDEN,
            "Access denied",
            "The account you signed in with is no longer allowed to use this service.",
            None,
        );
        let _ = response.add_cookie(&Sessions::removal_cookie());
        for cookie in state.handoff.removal_cookies(&state.apps) {
            let _ = response.add_cookie(&cookie);
        }
        return Ok(response);
    }
    if state.sessions.settings().renewal_checks_grant {
        match state.broker.check_grant(&session.subject).await {
            Ok(()) => {}
            Err(BrokerError::ConsentRequired { .. }) => {
                tracing::info!("the provider grant no longer refreshes; signing in again");
                return Ok(start_sign_in(
                    &state,
                    &req,
                    SignInRequest {
                        return_to,
                        extra_scopes: Vec::new(),
                        force_consent: true,
                        login_hint: Some(session.email),
                        binding,
                    },
                )
                .await?);
            }
            // An outage of the provider does not sign everyone out.
            Err(e) => tracing::warn!(reason = %e, "grant check failed; renewing anyway"),
        }
    }
    state.sessions.touch(&session).await?;
    tracing::info!(app = return_to.audience(), "handoff renewed");
    count_renewal("renewed");
    Ok(hand_off(
        &state,
        &identity,
        &session.id,
        &return_to,
        binding.as_ref(),
        HttpResponse::Found(),
    )
    .await?)
}

fn count_renewal(outcome: &'static str) {
    service_kit::metrics::count(
        "renewals_total",
        "Renewal requests: renewed silently, or sent to sign in.",
        &[("outcome", outcome)],
    );
}

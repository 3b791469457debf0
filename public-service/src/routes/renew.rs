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
use crate::flows::renew::{self, Renewal};
use crate::flows::sign_in;
use crate::pages::error_page;
use crate::routes::sign_in_query::{binding, return_to, Bound, LoginError, SignInQuery};
use crate::sessions::Sessions;
use crate::state::AppState;

pub async fn renew(
    MaybeSession(session): MaybeSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, LoginError> {
    let query = SignInQuery::read(&req);
    let return_to = return_to(&query, &state)?;
    let binding = match binding(&query, &state)? {
        Bound::Yes(binding) => Some(binding),
        Bound::NotNeeded => None,
        Bound::Missing => return Ok(bounce_to_app(&return_to, true, None)),
    };
    if session.is_none() {
        count_renewal("sign_in");
    }
    let deps = state.sign_in();
    match renew::renew(&deps, session, return_to.clone(), binding).await? {
        Renewal::SignIn(request) => Ok(sign_in::start(&deps, &req, request).await?),
        Renewal::Denied => {
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
            Ok(response)
        }
        Renewal::Renewed { identity, session } => {
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
    }
}

fn count_renewal(outcome: &'static str) {
    service_kit::metrics::count(
        "renewals_total",
        "Renewal requests: renewed silently, or sent to sign in.",
        &[("outcome", outcome)],
    );
}

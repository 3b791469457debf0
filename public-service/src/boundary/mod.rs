//! Who may call a route, checked once before its handler runs.
//!
//! Each check is an extractor a handler names in its signature, so a
//! handler that takes none of them cannot reach a session, a grant or a
//! code:
//! - [`AppCaller`]: an app's service account on the back channel,
//!   authenticated and within its budget;
//! - [`BrokerCaller`]: a trusted backend of the token broker;
//! - [`CurrentSession`] / [`MaybeSession`]: the browser's valid session;
//! - [`SameOriginForm`]: a state-changing form posted from our pages (or
//!   an app's, for sign-out).
//!
//! [`crate::routes::table`] registers each route under the group whose
//! check its handler must take first, and refuses at compile time a
//! handler that does not.

mod browser;
mod callers;

pub use browser::{
    from_allowed_origin, BrowserForm, BrowserRefusal, CurrentSession, EndedSessionCookie,
    FormPages, MaybeSession, Origins, SameOriginForm,
};
pub use callers::{AppCaller, BrokerCaller, CallerBudget, CallerRefusal};

use actix_web::{web, HttpRequest};

use crate::state::AppState;

/// The service's shared state, as the extractors read it.
fn shared_state(req: &HttpRequest) -> Option<web::Data<AppState>> {
    req.app_data::<web::Data<AppState>>().cloned()
}

//! HTTP routes of the public service, one module per route; [`table`]
//! lists them all with the check each gets.

pub mod account_sessions;
pub mod app_sign_out;
pub mod backchannel_logout;
pub mod broker;
pub mod callback;
pub mod health;
pub mod jwks;
pub mod login;
pub mod logout;
pub mod redeem;
pub mod renew;
pub mod revocations;
pub mod sign_in_query;
pub mod start;
pub mod table;

use actix_web::HttpRequest;

use crate::apps::ReturnTo;
pub use crate::http::{
    json_answer, json_object, query_param, query_params, temporarily_unavailable, QueryError,
    MAX_PARAM_LEN, SESSIONS_PAGE,
};
use crate::state::AppState;

/// `return_to`, or `state` when the provider's end-session endpoint sent
/// the browser back (it carries `return_to`); a registered app either way.
pub fn requested_return_to(req: &HttpRequest, state: &AppState) -> ReturnTo {
    let param = |name: &str| query_param(req, name).ok().flatten();
    param("return_to")
        .or_else(|| param("state"))
        .and_then(|raw| state.apps.return_to(&raw).ok())
        .unwrap_or_else(|| state.apps.default_return_to())
}

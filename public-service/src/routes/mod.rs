//! HTTP routes of the public service, one module per route.

pub mod app_sign_out;
pub mod broker;
pub mod callback;
pub mod health;
pub mod jwks;
pub mod login;
pub mod logout;
pub mod redeem;
pub mod renew;
pub mod revocations;
pub mod start;

use actix_web::HttpRequest;

/// Longest query parameter value read; longer ones are refused.
const MAX_PARAM_LEN: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query repeats a parameter")]
    Repeated,
    #[error("a query parameter is too long")]
    TooLong,
}

/// One query parameter; repeated parameters are refused rather than
/// resolved, so two parsers can never disagree about which one counts.
pub fn query_param(req: &HttpRequest, name: &str) -> Result<Option<String>, QueryError> {
    let mut found = None;
    for (key, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        if key != name {
            continue;
        }
        if found.is_some() {
            return Err(QueryError::Repeated);
        }
        if value.len() > MAX_PARAM_LEN {
            return Err(QueryError::TooLong);
        }
        found = Some(value.into_owned());
    }
    Ok(found)
}

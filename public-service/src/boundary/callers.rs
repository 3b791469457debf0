//! The back channel's callers: an app's service account ([`AppCaller`])
//! and a trusted backend of the token broker ([`BrokerCaller`]), each
//! authenticated by a provider-signed ID token and held to its own budget
//! before the handler runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use handoff_guard::login_service::{CallerError, ServiceCallers};
use service_kit::rate_limit::CallerLimiter;

use crate::apps::{App, AppRegistry};
use crate::boundary::shared_state;
use crate::http::json_answer;

/// The per-caller budget of the routes it is attached to (as resource
/// data): the callers (apps on Cloud Run, say) often leave through
/// addresses they share with others, so a limit per address would let
/// anyone behind the same address use up theirs.
#[derive(Clone)]
pub struct CallerBudget(pub Arc<CallerLimiter>);

/// Why a back-channel caller was refused; the answer is JSON, never
/// cached, and names no more than the caller needs.
#[derive(Debug, thiserror::Error)]
pub enum CallerRefusal {
    /// Nobody is configured to call these routes.
    #[error("{0}")]
    Disabled(&'static str),
    #[error(transparent)]
    Unauthenticated(#[from] CallerError),
    #[error("over its budget")]
    OverBudget {
        budget: CallerBudget,
        wait: Duration,
    },
}

impl ResponseError for CallerRefusal {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Disabled(_) => StatusCode::NOT_FOUND,
            Self::Unauthenticated(e) => e.status_code(),
            Self::OverBudget { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Disabled(message) => json_answer(
                StatusCode::NOT_FOUND,
                serde_json::json!({ "error": "not_found", "message": message }),
            ),
            Self::Unauthenticated(e) => e.error_response(),
            Self::OverBudget { budget, wait } => budget.0.refusal(*wait),
        }
    }
}

impl std::fmt::Debug for CallerBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerBudget")
    }
}

/// The service account of a registered app, authenticated and within its
/// budget. Which apps it may act for is [`AppCaller::apps`]: an app's
/// back-channel call about another app's code, token or session is
/// refused by the flow that receives it.
#[derive(Debug)]
pub struct AppCaller {
    account: String,
}

impl AppCaller {
    /// A caller the flows' tests stand in for an authenticated one.
    #[cfg(test)]
    pub(crate) fn authenticated(account: String) -> Self {
        Self { account }
    }

    /// The service account's e-mail address.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The registered apps this account is the service account of.
    pub fn apps<'a>(&'a self, registry: &'a AppRegistry) -> impl Iterator<Item = &'a App> + 'a {
        registry
            .apps()
            .iter()
            .filter(|app| app.service_account() == Some(self.account.as_str()))
    }

    /// Whether this account is the registered service account of the app
    /// at `audience`.
    pub fn acts_for(&self, registry: &AppRegistry, audience: &str) -> bool {
        registry
            .by_audience(audience)
            .and_then(App::service_account)
            .is_some_and(|account| account == self.account)
    }
}

/// A trusted backend allowed to ask the token broker for users' access
/// tokens, authenticated and within its budget.
#[derive(Debug)]
pub struct BrokerCaller {
    account: String,
}

impl BrokerCaller {
    /// The service account's e-mail address, which names its rules.
    pub fn account(&self) -> &str {
        &self.account
    }
}

type Checked<T> = Pin<Box<dyn Future<Output = Result<T, CallerRefusal>>>>;

/// Authenticates with `callers` and takes one token of the route's budget.
async fn authenticate(
    req: &HttpRequest,
    callers: Option<&ServiceCallers>,
    disabled: &'static str,
) -> Result<String, CallerRefusal> {
    let callers = callers.ok_or(CallerRefusal::Disabled(disabled))?;
    let caller = callers.authenticate(req).await?;
    if let Some(budget) = req.app_data::<CallerBudget>() {
        budget
            .0
            .check_caller(&caller.email, Instant::now())
            .map_err(|wait| CallerRefusal::OverBudget {
                budget: budget.clone(),
                wait,
            })?;
    }
    Ok(caller.email)
}

impl FromRequest for AppCaller {
    type Error = CallerRefusal;
    type Future = Checked<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = shared_state(&req);
            let callers = state.as_ref().and_then(|s| s.app_callers.as_ref());
            let account =
                authenticate(&req, callers, "No app service accounts are configured.").await?;
            Ok(Self { account })
        })
    }
}

impl FromRequest for BrokerCaller {
    type Error = CallerRefusal;
    type Future = Checked<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = shared_state(&req);
            let callers = state.as_ref().and_then(|s| s.callers.as_ref());
            let account = authenticate(&req, callers, "The token broker is not enabled.").await?;
            Ok(Self { account })
        })
    }
}

//! Every route of the public service, grouped by who calls it.
//!
//! The table is the only place routes are registered, and the group of a
//! route decides the check it gets:
//! - a group checked by an extractor ([`Group::AppBackChannel`],
//!   [`Group::Broker`], [`Group::SessionPage`], [`Group::BrowserForm`])
//!   accepts only a handler whose first argument is that extractor; a
//!   handler without it does not compile ([`checked`]);
//! - the groups checked around the handler ([`Group::SignIn`],
//!   [`Group::ProviderLogout`]) get their per-address limit as the
//!   resource's middleware here.
//!
//! The route-table test (`public-service/tests/route_table.rs`) sends each
//! route a request without its group's credential and checks the group's
//! refusal comes back.

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{guard, web, FromRequest, Handler, Responder};
use service_kit::rate_limit::{limited, RateLimiter};

use crate::boundary::{
    AppCaller, BrokerCaller, BrowserForm, CallerBudget, CurrentSession, SameOriginForm,
};
use crate::routes;

/// Who calls a route, and so what is checked before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Anyone: documents and pages that read no session and change nothing.
    Public,
    /// Browsers starting, finishing or renewing a sign-in: limited per
    /// address; they read the session only through
    /// [`crate::boundary::MaybeSession`].
    SignIn,
    /// Browsers on a page of their own session: [`CurrentSession`].
    SessionPage,
    /// Browsers changing state with a form from our pages:
    /// [`SameOriginForm`].
    BrowserForm,
    /// Apps' service accounts: [`AppCaller`].
    AppBackChannel,
    /// The token broker's callers: [`BrokerCaller`].
    Broker,
    /// The provider's back-channel logout: limited per address; the logout
    /// token's signature is the check.
    ProviderLogout,
    /// Operators: metrics, behind their own token (`METRICS_TOKEN`).
    Operator,
}

/// The extractor that does a group's check.
pub trait Check {
    const GROUP: Group;
}

impl Check for AppCaller {
    const GROUP: Group = Group::AppBackChannel;
}
impl Check for BrokerCaller {
    const GROUP: Group = Group::Broker;
}
impl Check for CurrentSession {
    const GROUP: Group = Group::SessionPage;
}
impl<T: BrowserForm> Check for SameOriginForm<T> {
    const GROUP: Group = Group::BrowserForm;
}

/// A handler's arguments whose first is a group's check.
pub trait ChecksFirst {
    const GROUP: Group;
}

macro_rules! checks_first {
    ($first:ident $(, $rest:ident)*) => {
        impl<$first: Check $(, $rest)*> ChecksFirst for ($first, $($rest,)*) {
            const GROUP: Group = $first::GROUP;
        }
    };
}
checks_first!(A);
checks_first!(A, B);
checks_first!(A, B, C);
checks_first!(A, B, C, D);

/// What the table's per-route checks need, built once at start.
#[derive(Clone)]
pub struct Limits {
    /// Sign-ins, callbacks and renewals, per client address.
    pub sign_in: Arc<RateLimiter>,
    /// The provider's logout tokens, per client address.
    pub provider_logout: Arc<RateLimiter>,
    /// Code redemptions, per app.
    pub redeem: CallerBudget,
    /// Broker calls, per caller.
    pub broker: CallerBudget,
}

/// What a route gets besides its handler's own checks.
#[derive(Clone)]
enum Around {
    Nothing,
    /// A budget per authenticated caller, read by its caller's check.
    Budget(CallerBudget),
    /// A limit per client address, as the resource's middleware.
    PerAddress(Arc<RateLimiter>),
}

/// One route: its method, path and group, and how it is registered.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub group: Group,
    register: Box<dyn Fn(&mut web::ServiceConfig)>,
}

impl Route {
    pub fn register(&self, config: &mut web::ServiceConfig) {
        (self.register)(config)
    }
}

/// The groups whose check is not a handler's extractor: only these can
/// be given to [`open`], so a route of an extractor-checked group can only
/// be registered through [`checked`].
#[derive(Debug, Clone, Copy)]
enum Open {
    Public,
    SignIn,
    ProviderLogout,
    Operator,
}

impl From<Open> for Group {
    fn from(open: Open) -> Self {
        match open {
            Open::Public => Group::Public,
            Open::SignIn => Group::SignIn,
            Open::ProviderLogout => Group::ProviderLogout,
            Open::Operator => Group::Operator,
        }
    }
}

/// A route of a group checked around its handler, or not at all.
fn open<F, Args>(
    method: Method,
    path: &'static str,
    group: Open,
    around: Around,
    handler: F,
) -> Route
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    route(method, path, group.into(), around, handler)
}

fn route<F, Args>(
    method: Method,
    path: &'static str,
    group: Group,
    around: Around,
    handler: F,
) -> Route
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let guarded = method.clone();
    let register = Box::new(move |config: &mut web::ServiceConfig| {
        // The method guard on the resource lets a path carry a resource per
        // method (`GET` and `POST /logout`), as `App::route` does.
        let resource = web::resource(path).guard(guard::Method(guarded.clone()));
        let route = web::method(guarded.clone()).to(handler.clone());
        match &around {
            Around::Nothing => config.service(resource.route(route)),
            Around::Budget(budget) => {
                config.service(resource.app_data(budget.clone()).route(route))
            }
            Around::PerAddress(limiter) => config.service(
                resource
                    .wrap(from_fn(limited(limiter.clone())))
                    .route(route),
            ),
        };
    });
    Route {
        method,
        path,
        group,
        register,
    }
}

/// A route of a group checked by an extractor: the handler must take it
/// first.
fn checked<F, Args>(method: Method, path: &'static str, around: Around, handler: F) -> Route
where
    F: Handler<Args>,
    Args: FromRequest + ChecksFirst + 'static,
    F::Output: Responder + 'static,
{
    route(method, path, Args::GROUP, around, handler)
}

/// Every route of the service.
pub fn all(limits: &Limits) -> Vec<Route> {
    use routes::*;
    let (get, post) = (Method::GET, Method::POST);
    let sign_in = || Around::PerAddress(limits.sign_in.clone());
    vec![
        open(
            get.clone(),
            "/",
            Open::Public,
            Around::Nothing,
            start::start,
        ),
        open(get.clone(), "/login", Open::SignIn, sign_in(), login::login),
        open(
            get.clone(),
            "/callback",
            Open::SignIn,
            sign_in(),
            callback::callback,
        ),
        open(get.clone(), "/renew", Open::SignIn, sign_in(), renew::renew),
        open(
            get.clone(),
            "/logout",
            Open::Public,
            Around::Nothing,
            logout::confirm,
        ),
        checked(post.clone(), "/logout", Around::Nothing, logout::logout),
        open(
            get.clone(),
            "/signed-out",
            Open::Public,
            Around::Nothing,
            logout::signed_out,
        ),
        checked(
            get.clone(),
            account_sessions::PAGE_PATH,
            Around::Nothing,
            account_sessions::page,
        ),
        checked(
            post.clone(),
            "/account/sessions/end",
            Around::Nothing,
            account_sessions::end_one,
        ),
        checked(
            post.clone(),
            "/account/sessions/end-others",
            Around::Nothing,
            account_sessions::end_others,
        ),
        checked(
            post.clone(),
            "/broker/token",
            Around::Budget(limits.broker.clone()),
            broker::access_token,
        ),
        checked(
            get.clone(),
            "/sessions/revoked",
            Around::Nothing,
            revocations::revoked_sessions,
        ),
        checked(
            post.clone(),
            "/handoff/redeem",
            Around::Budget(limits.redeem.clone()),
            redeem::redeem,
        ),
        checked(
            post.clone(),
            "/sessions/end",
            Around::Nothing,
            app_sign_out::end_session,
        ),
        checked(
            post.clone(),
            "/sessions/status",
            Around::Nothing,
            app_sign_out::session_status,
        ),
        open(
            post.clone(),
            "/backchannel-logout",
            Open::ProviderLogout,
            Around::PerAddress(limits.provider_logout.clone()),
            backchannel_logout::backchannel_logout,
        ),
        open(
            get.clone(),
            "/.well-known/jwks.json",
            Open::Public,
            Around::Nothing,
            jwks::jwks,
        ),
        open(
            get.clone(),
            "/healthz",
            Open::Public,
            Around::Nothing,
            health::healthz,
        ),
        open(
            get.clone(),
            "/readyz",
            Open::Public,
            Around::Nothing,
            health::readyz,
        ),
        open(
            get.clone(),
            "/metrics",
            Open::Operator,
            Around::Nothing,
            service_kit::metrics::endpoint,
        ),
        open(
            get.clone(),
            "/favicon.svg",
            Open::Public,
            Around::Nothing,
            crate::pages::favicon,
        ),
        open(
            get,
            "/favicon.ico",
            Open::Public,
            Around::Nothing,
            crate::pages::favicon,
        ),
    ]
}

/// Registers every route of [`all`].
pub fn configure(limits: &Limits, config: &mut web::ServiceConfig) {
    for route in all(limits) {
        route.register(config);
    }
}

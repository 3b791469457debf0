//! Walks the route table: every route of a protected group refuses a
//! request that lacks its group's check, with that check's own refusal,
//! and every route the table lists is served where it says.

use std::net::TcpListener;
use std::sync::Arc;

use public_service::boundary::CallerBudget;
use public_service::routes::table::{self, Group, Limits};
use public_service::settings::Settings;
use public_service::startup::Application;
use service_kit::config::Env;
use service_kit::rate_limit::{CallerLimiter, Limit, RateLimiter};

/// Nothing listens here: the provider and the callers' keys are never
/// reached (tests never call Google), and a route that needed them would
/// answer `503`, not its group's refusal.
const NOWHERE: &str = "http://127.0.0.1:9/";
const APP: &str = "https://app.example.com";

async fn spawn() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("bound").port();
    let env = Env::from_map([
        ("DEV_MODE", "true".to_owned()),
        ("HANDOFF_COOKIE_DOMAIN", "example.com".to_owned()),
        ("PUBLIC_URL", "https://auth.example.com".to_owned()),
        ("APP_ORIGINS", APP.to_owned()),
        ("OIDC_ISSUER_URL", NOWHERE.to_owned()),
        ("OIDC_CLIENT_ID", "client".to_owned()),
        ("OIDC_CLIENT_SECRET", "secret".to_owned()),
        ("ALLOWED_DOMAINS", "example.com".to_owned()),
        ("CALLER_TOKEN_JWKS_URL", NOWHERE.to_owned()),
        (
            "APP_SERVICE_ACCOUNTS",
            format!("{APP}=app@project.iam.gserviceaccount.com"),
        ),
        (
            "BROKER_ALLOWED_CALLERS",
            "backend@project.iam.gserviceaccount.com".to_owned(),
        ),
        (
            "BROKER_CALLER_SCOPES",
            "backend@project.iam.gserviceaccount.com=openid email".to_owned(),
        ),
        (
            "METRICS_TOKEN",
            "a-metrics-token-long-enough-to-pass".to_owned(),
        ),
    ]);
    let settings = Settings::from_env(&env).expect("valid settings");
    let app = Application::build_with(
        settings,
        Some(listener),
        Arc::new(handoff_guard::SystemClock),
    )
    .await
    .expect("the service starts");
    actix_web::rt::spawn(app.run_until_stopped());
    format!("http://127.0.0.1:{port}")
}

/// The table as the service registers it (the limits only fill it in).
fn routes() -> Vec<table::Route> {
    let address = || RateLimiter::new("test", Limit::per_minute(60), 0);
    let caller = || CallerBudget(CallerLimiter::per_caller("test", Limit::per_minute(60)));
    table::all(&Limits {
        sign_in: address(),
        provider_logout: address(),
        redeem: caller(),
        broker: caller(),
    })
}

/// The route's method as the HTTP client spells it.
fn method_of(route: &table::Route) -> reqwest::Method {
    reqwest::Method::from_bytes(route.method.as_str().as_bytes()).expect("a method")
}

/// A group's refusal of a request that brings nothing: its status and a
/// word its answer must carry.
fn refusal(group: Group) -> Option<(u16, &'static str)> {
    match group {
        Group::AppBackChannel | Group::Broker => Some((401, "invalid_token")),
        Group::SessionPage => Some((401, "You are not signed in")),
        Group::BrowserForm => Some((403, "not")),
        Group::Operator => Some((401, "")),
        Group::Public | Group::SignIn | Group::ProviderLogout => None,
    }
}

#[actix_web::test]
async fn every_protected_route_refuses_a_request_without_its_check() {
    let base = spawn().await;
    let client = reqwest::Client::new();
    let mut protected = 0;
    for route in &routes() {
        let Some((status, word)) = refusal(route.group) else {
            continue;
        };
        protected += 1;
        // Everything a handler could act on, but none of the group's
        // credentials: a session-shaped cookie, a form, a JSON body.
        let response = client
            .request(method_of(route), format!("{base}{}", route.path))
            .header("cookie", "__Host-session=unknown.secret")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(r#"session=x&token=y&return_to=https%3A%2F%2Fapp.example.com%2F"#)
            .send()
            .await
            .expect("the service answers");
        let got = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(
            got, status,
            "{} {} ({:?}) answered {got}: {body}",
            route.method, route.path, route.group
        );
        assert!(
            body.contains(word),
            "{} {}: {body}",
            route.method,
            route.path
        );
    }
    assert!(
        protected >= 9,
        "only {protected} protected routes in the table"
    );
}

#[actix_web::test]
async fn a_cross_site_form_is_refused_even_with_the_service_accounts_token_shape() {
    let base = spawn().await;
    let client = reqwest::Client::new();
    for route in routes().iter().filter(|r| r.group == Group::BrowserForm) {
        for origin in [
            "https://evil.example.net",
            "null",
            "https://auth.example.com.evil.net",
        ] {
            let response = client
                .post(format!("{base}{}", route.path))
                .header("origin", origin)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("return_to=https%3A%2F%2Fapp.example.com%2F")
                .send()
                .await
                .expect("the service answers");
            assert_eq!(
                response.status().as_u16(),
                403,
                "{} from {origin}",
                route.path
            );
        }
    }
}

#[actix_web::test]
async fn every_listed_route_is_served_and_nothing_else_is() {
    let base = spawn().await;
    let client = reqwest::Client::new();
    for route in &routes() {
        let response = client
            .request(method_of(route), format!("{base}{}", route.path))
            .send()
            .await
            .expect("the service answers");
        assert!(
            ![404, 405].contains(&response.status().as_u16())
                || matches!(route.group, Group::ProviderLogout | Group::Operator),
            "{} {} is listed but answered {}",
            route.method,
            route.path,
            response.status()
        );
    }
    for (method, path) in [
        (reqwest::Method::GET, "/handoff/redeem"),
        (reqwest::Method::PUT, "/logout"),
        (reqwest::Method::GET, "/account/sessions/end"),
        (reqwest::Method::GET, "/admin"),
    ] {
        let response = client
            .request(method.clone(), format!("{base}{path}"))
            .send()
            .await
            .expect("the service answers");
        assert_eq!(response.status().as_u16(), 404, "{method} {path}");
    }
}

#[test]
fn the_architecture_map_lists_every_route_of_the_table_and_no_other() {
    let map = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md");
    let listed: Vec<&str> = map
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once("` |").map(|(route, _)| route))
        .filter(|route| route.starts_with("GET ") || route.starts_with("POST "))
        .collect();
    let served: Vec<String> = routes()
        .iter()
        .map(|route| format!("{} {}", route.method, route.path))
        .collect();
    for route in &served {
        assert!(
            listed.contains(&route.as_str()),
            "ARCHITECTURE.md does not list {route}"
        );
    }
    for route in &listed {
        assert!(
            served.iter().any(|s| s == route),
            "ARCHITECTURE.md lists {route}, which is not served"
        );
    }
}

//! The gate as the second app: an upstream that answers every request
//! with the headers it received, as JSON, and `handoff-gate` in front of
//! it on the second app's port, configured as an operator would (the
//! login service's URL, the app's URL, the delivery mode, the Chrome
//! extension's client id and origin) plus the harness's back channel,
//! metadata server and stand-in for Google's ID tokens. A test may put an
//! app of its own behind the gate instead of the echo
//! (`TestOptions::gate_upstream`).

use std::collections::BTreeMap;
use std::net::TcpListener;

use axum::http::{HeaderMap, Uri};
use gate::paths::PublicPaths;
use gate::settings::{PersonIdTokens, Settings, Timeouts};
use handoff_guard::Delivery;
use private_service::settings::AppDelivery;
use url::Url;

use super::{
    AppContext, EXTENSION_CLIENT_ID, EXTENSION_ORIGIN, REVOCATION_POLL_INTERVAL, TASKS_ACCOUNT,
    TEST_HOSTS,
};

/// What the upstream answers: the path and query it was asked for, and
/// every header it received (lowercase names, each with all its values
/// in order), so a test reads what crossed the gate.
async fn echo(uri: Uri, headers: HeaderMap) -> axum::Json<serde_json::Value> {
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &headers {
        seen.entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    axum::Json(serde_json::json!({
        "path": uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        "headers": seen,
    }))
}

/// Starts the gate on `listener`, for `app_url`, in front of the test's
/// upstream or else of the echoing one.
pub(super) async fn spawn(
    listener: TcpListener,
    app_url: &Url,
    metadata_url: &str,
    ctx: &AppContext<'_>,
) {
    let upstream_url = match &ctx.gate_upstream {
        Some(url) => url.clone(),
        None => spawn_echo().await,
    };
    let settings = Settings {
        bind_address: "127.0.0.1".into(),
        port: 0,
        upstream_url,
        app_url: app_url.clone(),
        auth_url: ctx.auth_url.clone(),
        // The gate reaches the login service on loopback directly, as the
        // other apps of the deployment do.
        backchannel_url: Some(Url::parse(&format!("http://{}", ctx.auth_addr)).unwrap()),
        metadata_url: Some(Url::parse(metadata_url).unwrap()),
        delivery: match ctx.delivery {
            AppDelivery::Code => Delivery::Code,
            AppDelivery::Cookie => Delivery::ParentDomainCookie,
        },
        revocation_poll_interval: Some(REVOCATION_POLL_INTERVAL),
        service_accounts: vec![TASKS_ACCOUNT.into()],
        // The extension, as the private app admits it.
        person_id_tokens: Some(PersonIdTokens {
            audiences: vec![EXTENSION_CLIENT_ID.into()],
            people: ctx.people.clone(),
        }),
        cors_origins: vec![EXTENSION_ORIGIN.into()],
        public_paths: PublicPaths::default(),
        max_body_bytes: ctx.gate_max_body_bytes,
        timeouts: Timeouts::default(),
        trusted_proxy_hops: ctx.trusted_proxy_hops,
        // As the other apps of the harness are configured.
        handoff_per_minute: 60,
        identity: Default::default(),
        loopback_names: TEST_HOSTS.iter().map(|h| (*h).to_owned()).collect(),
        // The mock provider mints the ID tokens (service accounts' and the
        // extension's), as it does for the other apps (Google's cannot be
        // had in a test).
        id_token_issuer: Some((
            ctx.provider.issuer(),
            Url::parse(&format!("{}/oauth2/v3/certs", ctx.provider.issuer())).unwrap(),
        )),
    };
    let gate = gate::startup::Application::build_on(settings, listener)
        .await
        .expect("the gate starts");
    tokio::spawn(gate.run_until_stopped());
}

/// Starts the echoing upstream on a loopback port; its URL.
async fn spawn_echo() -> Url {
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("the upstream binds");
    let upstream_url = Url::parse(&format!("http://{}", upstream.local_addr().unwrap())).unwrap();
    tokio::spawn(async move {
        axum::serve(upstream, axum::Router::new().fallback(echo))
            .await
            .expect("the upstream serves");
    });
    upstream_url
}

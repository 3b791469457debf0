//! Discovery and the provider's keys against a stub provider on
//! 127.0.0.1:0 that serves a discovery document and a JWKS, counts the
//! fetches and misbehaves on demand.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use handoff_guard::OffsetClock;
use openidconnect::JsonWebKey;
use serde_json::{json, Value};
use url::Url;

use super::*;
use crate::oidc::{IdTokenAlgorithm, OfflineAccess, OidcClient, ProviderSettings};

/// A 2048-bit RSA modulus, and a 1024-bit one (the e2e mock provider's
/// test-only weak key).
const STRONG_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
const WEAK_N: &str = "0MZP7ne1Euke0pNE2AE7rTly0MYUya0UpAqfmj8p7tKnLGfKC4AifWQW7vR2f88nI-jSmnHiNaPMq69Jv28f7wPZLQH3rL3SlWzyK2_czrR1hDVIJ097lWtzZ6scfI-0E8bwzPBhsnK8uWcue0KPfxnaAU_nM-7M1UOfH6e65U0";

fn rsa_key(kid: &str, n: &str) -> Value {
    json!({ "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": n, "e": "AQAB" })
}

struct ProviderState {
    /// The `issuer` the document names; `None`: the stub's own URL.
    issuer: Option<String>,
    discovery_status: u16,
    jwks_status: u16,
    /// Answer the JWKS with something that is not one.
    jwks_garbage: bool,
    keys: Vec<Value>,
    max_age: u64,
    jwks_fetches: usize,
}

struct StubProvider {
    url: Url,
    state: Arc<Mutex<ProviderState>>,
}

impl StubProvider {
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(ProviderState {
            issuer: None,
            discovery_status: 200,
            jwks_status: 200,
            jwks_garbage: false,
            keys: vec![rsa_key("k1", STRONG_N)],
            max_age: 3600,
            jwks_fetches: 0,
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let (shared, base) = (state.clone(), url.as_str().trim_end_matches('/').to_owned());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new((shared.clone(), base.clone())))
                .route("/.well-known/openid-configuration", web::get().to(document))
                .route("/jwks", web::get().to(jwks))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { url, state }
    }

    fn issuer(&self) -> IssuerUrl {
        IssuerUrl::new(self.url.as_str().trim_end_matches('/').to_owned()).unwrap()
    }

    fn set(&self, change: impl FnOnce(&mut ProviderState)) {
        change(&mut self.state.lock().unwrap());
    }

    fn jwks_fetches(&self) -> usize {
        self.state.lock().unwrap().jwks_fetches
    }
}

type Shared = web::Data<(Arc<Mutex<ProviderState>>, String)>;

async fn document(shared: Shared) -> HttpResponse {
    let (state, base) = shared.get_ref();
    let state = state.lock().unwrap();
    let issuer = state.issuer.clone().unwrap_or_else(|| base.clone());
    let body = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    HttpResponse::build(status(state.discovery_status)).json(body)
}

async fn jwks(shared: Shared) -> HttpResponse {
    // A slow answer makes concurrent lookups overlap.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut state = shared.0.lock().unwrap();
    state.jwks_fetches += 1;
    let mut answer = HttpResponse::build(status(state.jwks_status));
    answer.insert_header((
        "cache-control",
        format!("public, max-age={}", state.max_age),
    ));
    if state.jwks_garbage {
        return answer.content_type("application/json").body("<html>");
    }
    answer.json(json!({ "keys": state.keys }))
}

fn status(code: u16) -> actix_web::http::StatusCode {
    actix_web::http::StatusCode::from_u16(code).unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn stopped_clock() -> OffsetClock {
    let clock = OffsetClock::default();
    clock.stop();
    clock
}

async fn discovered(
    provider: &StubProvider,
    interval: Duration,
    clock: &OffsetClock,
) -> Discovered {
    discover(
        &provider.issuer(),
        &http(),
        interval,
        Arc::new(clock.clone()),
    )
    .await
    .unwrap()
}

/// Looks for `kid` as a verification does: `Ok(true)` found.
async fn has_kid(discovered: &Discovered, kid: &str) -> Result<bool, JwksError> {
    let found = discovered
        .keys
        .find(|keys| {
            keys.keys()
                .iter()
                .any(|key| key.key_id().map(|id| id.as_str()) == Some(kid))
                .then_some(())
        })
        .await?;
    Ok(found.is_some())
}

#[tokio::test]
async fn a_document_naming_another_issuer_is_refused() {
    let provider = StubProvider::start().await;
    provider.set(|s| s.issuer = Some("https://accounts.example.org".into()));
    let refused = discover(
        &provider.issuer(),
        &http(),
        Duration::ZERO,
        Arc::new(stopped_clock()),
    )
    .await;
    let Err(ProviderError::Discovery(reason)) = refused else {
        panic!("another issuer's document was taken");
    };
    assert!(reason.starts_with("invalid document"), "{reason}");
    // Not even a trailing slash: issuers are compared as strings.
    provider.set(|s| s.issuer = Some(format!("{}/", provider.issuer().as_str())));
    let refused = discover(
        &provider.issuer(),
        &http(),
        Duration::ZERO,
        Arc::new(stopped_clock()),
    )
    .await;
    assert!(matches!(refused, Err(ProviderError::Discovery(_))));
}

#[tokio::test]
async fn a_provider_that_is_down_then_up_is_discovered_once_it_answers() {
    let provider = StubProvider::start().await;
    provider.set(|s| s.discovery_status = 503);
    let settings = ProviderSettings {
        issuer_url: provider.url.clone(),
        display_name: "Stub".into(),
        client_id: "our-client".into(),
        client_secret: "our-secret".to_owned().into(),
        auth_method: crate::oidc::ClientAuthMethod::ClientSecretBasic,
        scopes: vec!["openid".into(), "email".into()],
        optional_scopes: Vec::new(),
        offline: OfflineAccess::Off,
        extra_auth_params: Vec::new(),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        jwks_refetch_interval: Duration::from_secs(30),
        id_token_algorithms: vec![IdTokenAlgorithm::Rs256],
        hosted_domain_needed: false,
        backchannel_logout: true,
    };
    let redirect = Url::parse("http://127.0.0.1/callback").unwrap();
    let client = OidcClient::new(&settings, &redirect, Arc::new(stopped_clock())).unwrap();
    assert!(matches!(
        client.metadata().await,
        Err(ProviderError::Discovery(reason)) if reason == "status 503 Service Unavailable"
    ));
    assert!(!client.is_discovered());
    // Its JWKS failing holds discovery back too.
    provider.set(|s| (s.discovery_status, s.jwks_status) = (200, 500));
    assert!(client.metadata().await.is_err());
    assert!(!client.is_discovered());

    provider.set(|s| s.jwks_status = 200);
    let metadata = client.metadata().await.unwrap();
    assert!(client.is_discovered());
    assert_eq!(metadata.issuer().as_str(), provider.issuer().as_str());
    assert!(metadata.jwks().keys().is_empty(), "the keys are kept apart");
    // Discovered once: the document is not fetched again.
    provider.set(|s| s.discovery_status = 503);
    assert!(client.metadata().await.is_ok());
    assert!(!client.backchannel_logout_enabled().await.unwrap());
}

#[tokio::test]
async fn discoverys_keys_count_for_a_minute_then_the_answers_max_age() {
    let provider = StubProvider::start().await;
    let clock = stopped_clock();
    let discovered = discovered(&provider, Duration::ZERO, &clock).await;
    assert_eq!(provider.jwks_fetches(), 1, "discovery fetched the keys");
    assert!(has_kid(&discovered, "k1").await.unwrap());
    assert_eq!(provider.jwks_fetches(), 1);

    // Discovery's copy came without its headers: a minute at most.
    provider.set(|s| s.max_age = 120);
    clock.advance(JWKS_MIN_FRESH + Duration::from_secs(1));
    assert!(has_kid(&discovered, "k1").await.unwrap());
    assert_eq!(provider.jwks_fetches(), 2);
    // The answer's max-age (120 s) holds from then on.
    clock.advance(Duration::from_secs(119));
    assert!(has_kid(&discovered, "k1").await.unwrap());
    assert_eq!(provider.jwks_fetches(), 2);
    clock.advance(Duration::from_secs(2));
    assert!(has_kid(&discovered, "k1").await.unwrap());
    assert_eq!(provider.jwks_fetches(), 3);

    // `no-store` still leaves the keys fresh for the least time.
    provider.set(|s| s.max_age = 0);
    clock.advance(Duration::from_secs(121));
    assert!(has_kid(&discovered, "k1").await.unwrap());
    assert_eq!(provider.jwks_fetches(), 4);
    clock.advance(JWKS_MIN_FRESH - Duration::from_secs(1));
    assert!(has_kid(&discovered, "k1").await.unwrap());
    assert_eq!(provider.jwks_fetches(), 4);
}

#[tokio::test]
async fn a_rotated_key_is_found_with_one_fetch_and_made_up_kids_cost_one_per_interval() {
    let provider = StubProvider::start().await;
    let discovered = discovered(&provider, Duration::from_secs(60), &stopped_clock()).await;
    // Discovery does not count against the interval: a rotation right
    // after start is picked up at once.
    provider.set(|s| s.keys.push(rsa_key("k2", STRONG_N)));
    assert!(has_kid(&discovered, "k2").await.unwrap());
    assert_eq!(provider.jwks_fetches(), 2);
    for i in 0..10 {
        assert!(!has_kid(&discovered, &format!("made-up-{i}")).await.unwrap());
    }
    assert_eq!(provider.jwks_fetches(), 2, "within the interval, no fetch");
}

#[tokio::test]
async fn concurrent_lookups_of_a_new_kid_share_one_fetch() {
    let provider = StubProvider::start().await;
    let discovered = Arc::new(discovered(&provider, Duration::ZERO, &stopped_clock()).await);
    provider.set(|s| s.keys.push(rsa_key("k2", STRONG_N)));
    let lookups: Vec<_> = (0..10)
        .map(|_| {
            let discovered = discovered.clone();
            tokio::spawn(async move { has_kid(&discovered, "k2").await })
        })
        .collect();
    for lookup in lookups {
        assert!(lookup.await.unwrap().unwrap());
    }
    assert_eq!(provider.jwks_fetches(), 2, "one fetch for all ten");
}

#[tokio::test]
async fn rsa_keys_under_2048_bits_are_dropped_whenever_the_keys_are_read() {
    let provider = StubProvider::start().await;
    provider.set(|s| s.keys.push(rsa_key("weak", WEAK_N)));
    let discovered = discovered(&provider, Duration::ZERO, &stopped_clock()).await;
    assert_eq!(discovered.keys.held().unwrap().keys().len(), 1);
    assert!(!has_kid(&discovered, "weak").await.unwrap());
    // Fetched again on that unknown kid, and dropped again.
    assert_eq!(provider.jwks_fetches(), 2);
    assert_eq!(discovered.keys.held().unwrap().keys().len(), 1);
}

#[tokio::test]
async fn a_key_server_outage_keeps_the_stale_keys_in_use_but_cannot_refuse_a_new_kid() {
    let provider = StubProvider::start().await;
    let clock = stopped_clock();
    let discovered = discovered(&provider, Duration::ZERO, &clock).await;
    provider.set(|s| s.jwks_status = 500);
    clock.advance(Duration::from_secs(3600));
    assert!(
        has_kid(&discovered, "k1").await.unwrap(),
        "a stale key beats none"
    );
    // The key may be there: "try again", not "refused".
    assert!(matches!(
        has_kid(&discovered, "k2").await,
        Err(JwksError::Fetch(_))
    ));
    provider.set(|s| (s.jwks_status, s.jwks_garbage) = (200, true));
    assert_eq!(has_kid(&discovered, "k2").await, Err(JwksError::Malformed));
    assert!(has_kid(&discovered, "k1").await.unwrap());
}

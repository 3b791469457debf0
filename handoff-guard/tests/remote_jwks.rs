//! The remote JWKS cache against a real HTTP server that counts fetches.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use handoff_guard::login_service::SigningKey;
use handoff_guard::{RemoteJwks, RemoteJwksOptions};
use jsonwebtoken::jwk::JwkSet;

struct JwksServer {
    url: url::Url,
    fetches: Arc<AtomicUsize>,
    keys: Arc<Mutex<JwkSet>>,
    up: Arc<std::sync::atomic::AtomicBool>,
    /// `false`: answers wait until it is `true` again.
    open: Arc<tokio::sync::watch::Sender<bool>>,
}

async fn serve(initial: &SigningKey) -> JwksServer {
    serve_with(initial, None).await
}

/// `cache_control`: the `Cache-Control` header of every answer.
async fn serve_with(initial: &SigningKey, cache_control: Option<&'static str>) -> JwksServer {
    let fetches = Arc::new(AtomicUsize::new(0));
    let keys = Arc::new(Mutex::new(JwkSet {
        keys: vec![initial.public_jwk().clone()],
    }));
    let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let open = Arc::new(tokio::sync::watch::Sender::new(true));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = url::Url::parse(&format!(
        "http://{}/jwks.json",
        listener.local_addr().unwrap()
    ))
    .unwrap();
    let (f, k, u, o) = (fetches.clone(), keys.clone(), up.clone(), open.clone());
    let server = HttpServer::new(move || {
        let (f, k, u, o) = (f.clone(), k.clone(), u.clone(), o.clone());
        App::new().route(
            "/jwks.json",
            web::get().to(move || {
                let (f, k, u, o) = (f.clone(), k.clone(), u.clone(), o.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    // A slow answer makes concurrent misses overlap.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let _ = o.subscribe().wait_for(|open| *open).await;
                    if !u.load(Ordering::SeqCst) {
                        return HttpResponse::ServiceUnavailable().finish();
                    }
                    let body = k.lock().unwrap().clone();
                    let mut response = HttpResponse::Ok();
                    if let Some(value) = cache_control {
                        response.insert_header(("cache-control", value));
                    }
                    response.json(body)
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    JwksServer {
        url,
        fetches,
        keys,
        up,
        open,
    }
}

fn options(min_refetch: Duration) -> RemoteJwksOptions {
    RemoteJwksOptions {
        min_refetch_interval: min_refetch,
        max_age: Duration::from_secs(300),
        timeout: Duration::from_secs(2),
        ..RemoteJwksOptions::default()
    }
}

#[tokio::test]
async fn unknown_kids_cause_at_most_one_fetch_per_interval() {
    let key = SigningKey::generate();
    let server = serve(&key).await;
    let jwks = RemoteJwks::new(server.url.clone(), options(Duration::from_secs(60)));

    assert!(jwks.key(Some(key.kid())).await.unwrap().is_some());
    for i in 0..20 {
        assert!(jwks
            .key(Some(&format!("made-up-{i}")))
            .await
            .unwrap()
            .is_none());
    }
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn concurrent_misses_on_a_cold_cache_share_one_fetch() {
    let key = SigningKey::generate();
    let server = serve(&key).await;
    let jwks = Arc::new(RemoteJwks::new(server.url.clone(), options(Duration::ZERO)));
    let lookups = (0..20).map(|_| {
        let jwks = jwks.clone();
        let kid = key.kid().to_owned();
        tokio::spawn(async move { jwks.key(Some(&kid)).await })
    });
    for lookup in lookups {
        assert!(lookup.await.unwrap().unwrap().is_some());
    }
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_rotated_key_is_found_with_one_more_fetch() {
    let old = SigningKey::generate();
    let server = serve(&old).await;
    let jwks = RemoteJwks::new(server.url.clone(), options(Duration::ZERO));
    assert!(jwks.key(Some(old.kid())).await.unwrap().is_some());

    let new = SigningKey::generate();
    server
        .keys
        .lock()
        .unwrap()
        .keys
        .push(new.public_jwk().clone());
    assert!(jwks.key(Some(new.kid())).await.unwrap().is_some());
    assert!(jwks.key(Some(old.kid())).await.unwrap().is_some());
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn cached_keys_outlive_an_outage_of_the_jwks_endpoint() {
    let key = SigningKey::generate();
    let server = serve(&key).await;
    let mut opts = options(Duration::ZERO);
    opts.max_age = Duration::ZERO; // every lookup wants a refresh
    let jwks = RemoteJwks::new(server.url.clone(), opts);
    assert!(jwks.key(Some(key.kid())).await.unwrap().is_some());

    server.up.store(false, Ordering::SeqCst);
    assert!(
        jwks.key(Some(key.kid())).await.unwrap().is_some(),
        "a stale key beats no key"
    );
    assert!(
        jwks.key(Some("unknown")).await.is_err(),
        "an unknown kid during an outage is an error"
    );
}

#[tokio::test]
async fn the_key_servers_cache_control_decides_how_long_keys_stay_fresh() {
    let key = SigningKey::generate();
    // Google's certs say how long to keep them; a short max-age wins over
    // the configured default, and keys are fetched again after it.
    let server = serve_with(&key, Some("public, max-age=1, must-revalidate")).await;
    let jwks = RemoteJwks::new(server.url.clone(), options(Duration::ZERO));
    assert!(jwks.key(Some(key.kid())).await.unwrap().is_some());
    assert!(jwks.key(Some(key.kid())).await.unwrap().is_some());
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        1,
        "fresh within max-age"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(jwks.key(Some(key.kid())).await.unwrap().is_some());
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        2,
        "fetched again after max-age"
    );

    // A configured max_age shorter than the header's wins: an operator can
    // make retired keys drop out sooner.
    let server = serve_with(&key, Some("public, max-age=3600")).await;
    let jwks = RemoteJwks::new(
        server.url.clone(),
        RemoteJwksOptions {
            max_age: Duration::from_millis(100),
            ..options(Duration::ZERO)
        },
    );
    assert!(jwks.key(Some(key.kid())).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(jwks.key(Some(key.kid())).await.unwrap().is_some());
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_stale_key_is_used_while_another_request_refreshes_the_set() {
    let key = SigningKey::generate();
    let server = serve(&key).await;
    let mut opts = options(Duration::ZERO);
    opts.max_age = Duration::ZERO; // every lookup wants a refresh
    let jwks = Arc::new(RemoteJwks::new(server.url.clone(), opts));
    assert!(jwks.key(Some(key.kid())).await.unwrap().is_some());

    server.open.send_replace(false);
    let refreshing = tokio::spawn({
        let (jwks, kid) = (jwks.clone(), key.kid().to_owned());
        async move { jwks.key(Some(&kid)).await }
    });
    while server.fetches.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let meanwhile = tokio::time::timeout(Duration::from_secs(10), jwks.key(Some(key.kid())))
        .await
        .expect("a request waited for another's refresh");
    assert!(meanwhile.unwrap().is_some());
    assert!(!refreshing.is_finished(), "the refresh is still held");
    assert!(
        tokio::time::timeout(Duration::from_millis(100), jwks.key(Some("unknown")))
            .await
            .is_err(),
        "an unknown kid waits for the refresh under way"
    );

    server.open.send_replace(true);
    assert!(refreshing.await.unwrap().unwrap().is_some());
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2);
}

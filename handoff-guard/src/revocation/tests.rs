use super::*;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

use actix_web::{web, App, HttpResponse, HttpServer};
use base64::Engine;

/// A public service's revocation feed and a metadata server, in one.
#[derive(Default)]
struct Feed {
    revoked: Mutex<Vec<RevokedSession>>,
    fetches: AtomicUsize,
    down: AtomicBool,
}

async fn serve(feed: Arc<Feed>) -> Url {
    let identity = {
        let claims = serde_json::json!({ "exp": 4_000_000_000u64 });
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("e30.{body}.c2ln")
    };
    let data = web::Data::from(feed);
    let server = HttpServer::new(move || {
        let identity = identity.clone();
        App::new()
            .app_data(data.clone())
            .route(
                "/computeMetadata/v1/instance/service-accounts/default/identity",
                web::get().to(move || {
                    let identity = identity.clone();
                    async move { HttpResponse::Ok().body(identity) }
                }),
            )
            .route(
                "/sessions/revoked",
                web::get().to(
                    |feed: web::Data<Feed>, query: web::Query<HashMap<String, String>>| async move {
                        feed.fetches.fetch_add(1, Ordering::SeqCst);
                        if feed.down.load(Ordering::SeqCst) {
                            return HttpResponse::ServiceUnavailable().finish();
                        }
                        HttpResponse::Ok().json(page_of(&feed, &query))
                    },
                ),
            )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    tokio::spawn(server.run());
    Url::parse(&format!("http://{addr}/")).unwrap()
}

/// What the public service answers: pages of [`PAGE`] on the
/// (revoked_at, sid) cursor.
const PAGE: usize = 1000;

fn page_of(feed: &Feed, query: &HashMap<String, String>) -> RevokedPage {
    let since: u64 = query["since"].parse().unwrap();
    let after = query.get("after").cloned().unwrap_or_default();
    let mut all = feed.revoked.lock().unwrap().clone();
    all.sort_by(|a, b| (a.revoked_at, &a.sid).cmp(&(b.revoked_at, &b.sid)));
    let revoked: Vec<_> = all
        .into_iter()
        .filter(|r| r.revoked_at > since || (r.revoked_at == since && r.sid > after))
        .take(PAGE)
        .collect();
    RevokedPage {
        more: revoked.len() == PAGE,
        revoked,
        now: unix_now(),
    }
}

fn unix_now() -> u64 {
    use crate::clock::Clock;
    crate::clock::SystemClock.unix_seconds()
}

/// A feed with no background task: what a request path sees on a host
/// that gives CPU only to requests.
fn request_driven(base: &Url, interval: Duration) -> Arc<RevocationFeed> {
    let clock: SharedClock = Arc::new(crate::clock::SystemClock);
    RevocationFeed::new(
        base.join("sessions/revoked").unwrap(),
        Arc::new(IdTokenSource::new(base, "https://auth.example")),
        interval,
        Arc::new(RevokedSessions::default()),
        clock,
    )
}

#[actix_web::test]
async fn a_request_after_the_interval_waits_for_a_fetch_and_sees_the_revocation() {
    let feed = Arc::new(Feed::default());
    let base = serve(feed.clone()).await;
    let interval = Duration::from_millis(400);
    let revocations = request_driven(&base, interval);
    assert!(!revocations.has_fetched());

    revocations.ensure_fresh().await;
    assert!(revocations.has_fetched(), "the first request fetched");
    assert_eq!(feed.fetches.load(Ordering::SeqCst), 1);
    revocations.ensure_fresh().await;
    assert_eq!(feed.fetches.load(Ordering::SeqCst), 1, "fresh: no fetch");

    feed.revoked.lock().unwrap().push(RevokedSession {
        sid: "signed-out".into(),
        revoked_at: unix_now(),
    });
    // No timer runs: only requests move the list on.
    tokio::time::sleep(interval).await;
    revocations.ensure_fresh().await;
    assert!(
        revocations.revoked().is_revoked("signed-out"),
        "a request one interval later saw the sign-out"
    );
}

#[actix_web::test]
async fn more_revocations_in_one_second_than_a_page_holds_are_all_read() {
    let feed = Arc::new(Feed::default());
    let now = unix_now();
    *feed.revoked.lock().unwrap() = (0..2 * PAGE + 500)
        .map(|i| RevokedSession {
            sid: format!("s{i:05}"),
            revoked_at: now,
        })
        .collect();
    let base = serve(feed.clone()).await;
    let revocations = request_driven(&base, Duration::from_secs(60));
    revocations.ensure_fresh().await;
    assert_eq!(revocations.revoked().len(), 2 * PAGE + 500);
    assert_eq!(feed.fetches.load(Ordering::SeqCst), 3, "three pages");
}

#[actix_web::test]
async fn concurrent_requests_on_a_stale_list_share_one_fetch() {
    let feed = Arc::new(Feed::default());
    let base = serve(feed.clone()).await;
    let revocations = request_driven(&base, Duration::from_secs(60));
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let revocations = revocations.clone();
            tokio::spawn(async move { revocations.ensure_fresh().await })
        })
        .collect();
    for request in requests {
        request.await.unwrap();
    }
    assert_eq!(feed.fetches.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn a_feed_that_cannot_be_read_is_not_waited_for_on_every_request() {
    let feed = Arc::new(Feed::default());
    feed.down.store(true, Ordering::SeqCst);
    let base = serve(feed.clone()).await;
    let revocations = request_driven(&base, Duration::from_secs(60));
    for _ in 0..10 {
        revocations.ensure_fresh().await;
    }
    assert!(!revocations.has_fetched());
    assert_eq!(
        feed.fetches.load(Ordering::SeqCst),
        1,
        "one attempt, then requests go on without waiting for a while"
    );
    tokio::time::sleep(AFTER_FAILURE).await;
    feed.down.store(false, Ordering::SeqCst);
    revocations.ensure_fresh().await;
    assert!(revocations.has_fetched(), "tried again after a pause");
}

#[test]
fn a_page_is_read_as_the_public_service_writes_it_and_within_bounds() {
    let entry = |sid: String| serde_json::json!({ "sid": sid, "revoked_at": 5 });
    let page = |entries: Vec<serde_json::Value>| {
        serde_json::json!({ "revoked": entries, "now": 9 }).to_string()
    };
    let read = RevokedPage::parse(page(vec![entry("s1".into())]).as_bytes()).unwrap();
    assert_eq!(
        (read.revoked[0].sid.as_str(), read.revoked[0].revoked_at),
        ("s1", 5)
    );
    assert_eq!((read.now, read.more), (9, false));
    let full = page(vec![entry("s".repeat(MAX_SID_LEN)); PAGE_LEN]);
    assert_eq!(
        RevokedPage::parse(full.as_bytes()).unwrap().revoked.len(),
        PAGE_LEN
    );
    for refused in [
        page(vec![entry("s".into()); PAGE_LEN + 1]),
        page(vec![entry("s".repeat(MAX_SID_LEN + 1))]),
        page(vec![entry(String::new())]),
        r#"{"now":9}"#.into(),
    ] {
        assert!(
            RevokedPage::parse(refused.as_bytes()).is_none(),
            "{refused}"
        );
    }
}

#[test]
fn a_page_or_entry_that_is_an_array_is_refused() {
    // Of the class fuzz/fuzz_targets/back_channel_json.rs caught in a
    // body of the public service: derived readers take arrays.
    for refused in [
        r#"[[], 9]"#,
        r#"[[{"sid":"s","revoked_at":5}], 9, false]"#,
        r#"{"revoked":[["s",5]],"now":9}"#,
    ] {
        assert!(
            RevokedPage::parse(refused.as_bytes()).is_none(),
            "{refused}"
        );
    }
}

#[test]
fn the_next_pages_url_names_the_last_entry_read() {
    let feed = Url::parse("https://auth.example/sessions/revoked").unwrap();
    assert_eq!(page_url(&feed, 7, None).query(), Some("since=7"));
    let last = RevokedSession {
        sid: "a b&c".into(),
        revoked_at: 9,
    };
    assert_eq!(
        page_url(&feed, 7, Some(&last)).query(),
        Some("since=9&after=a+b%26c")
    );
}

#[test]
fn revoked_ids_are_forgotten_once_no_token_can_name_them() {
    let revoked = RevokedSessions::default();
    let entry = |sid: &str, at: u64| RevokedSession {
        sid: sid.into(),
        revoked_at: at,
    };
    revoked.record(&[entry("old", 1_000), entry("new", 2_000)], 2_000);
    assert!(revoked.is_revoked("old") && revoked.is_revoked("new"));
    revoked.record(&[], 1_000 + REMEMBER_FOR.as_secs() + 1);
    assert!(!revoked.is_revoked("old"));
    assert!(revoked.is_revoked("new"));
    assert!(!revoked.is_revoked("never"));
}

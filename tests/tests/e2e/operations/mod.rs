// Over 400 lines: readiness, shutdown, metrics and start-up warnings each need a whole running service; they share its set-up here.
//! Running like a production service: readiness that follows the
//! database and the provider, and a graceful stop on SIGTERM.

use std::time::Duration;

use integration_tests::app::TestOptions;
use integration_tests::db::Backend;
use integration_tests::proxy::CuttableProxy;
use integration_tests::TestApp;
use mock_provider::Misbehaviour;

mod request_log;

async fn readyz(app: &TestApp) -> (u16, serde_json::Value) {
    let response = reqwest::get(format!("http://{}/readyz", app.auth_addr))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn wait_for_readiness(app: &TestApp, status: u16) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    for _ in 0..50 {
        let (now, body) = readyz(app).await;
        if now == status {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("readiness never became {status}: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database_without_a_restart() {
    if std::env::var_os(integration_tests::db::POSTGRES_URL_VAR).is_none() {
        integration_tests::skipped(format_args!(
            "needs PostgreSQL ({} is not set)",
            integration_tests::db::POSTGRES_URL_VAR
        ));
        return;
    }
    let proxy = CuttableProxy::to_postgres().await;
    let app = TestApp::try_spawn_with(TestOptions {
        backend: Backend::Postgres,
        database_port: Some(proxy.port()),
        ..TestOptions::default()
    })
    .await
    .unwrap();
    let body = wait_for_readiness(&app, 200).await;
    assert_eq!(body["storage"], "ok");
    assert_eq!(body["provider"], "ok");

    proxy.cut().await;
    let body = wait_for_readiness(&app, 503).await;
    assert_eq!(body["storage"], "unavailable");
    // Liveness is not readiness: the process is fine.
    let live = reqwest::get(format!("http://{}/healthz", app.auth_addr))
        .await
        .unwrap();
    assert_eq!(live.status(), 200);

    proxy.restore().await;
    let body = wait_for_readiness(&app, 200).await;
    assert_eq!(body["storage"], "ok");
    // And it works again, without a restart: a sign-in stores its session.
    let browser = app.browser();
    let hops = app.sign_in(&browser, "alice@example.com").await;
    assert_eq!(hops.last().unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_is_ready_only_once_it_has_read_the_revocation_feed() {
    let app = TestApp::spawn().await;
    let (status, body) = app_readyz(&app).await;
    assert_eq!(
        (status, &body["revocations"]),
        (200, &"ok".into()),
        "{body}"
    );

    // The public service does not know the app's account: the feed answers
    // 404 for ever, and sign-outs could not reach the app.
    let unheard = TestApp::spawn_with(TestOptions {
        app_accounts_registered: false,
        ..TestOptions::default()
    })
    .await;
    let (status, body) = app_readyz(&unheard).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["revocations"], "unavailable");
    assert_eq!(body["keys"], "ok");
}

async fn app_readyz(app: &TestApp) -> (u16, serde_json::Value) {
    let response = reqwest::get(format!("http://{}/readyz", app.app_addr))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_read_only_with_the_metrics_token() {
    let app = TestApp::spawn().await;
    for addr in [app.auth_addr, app.app_addr] {
        let client = reqwest::Client::new();
        let url = format!("http://{addr}/metrics");
        let anonymous = client.get(&url).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
        assert!(anonymous.headers().contains_key("www-authenticate"));
        let wrong = client
            .get(&url)
            .bearer_auth("test-metrics-token-6f1c2f")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        app.metrics_of(addr).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_the_providers_discovery() {
    let app = TestApp::spawn_with(TestOptions {
        discovery_fails_at_start: true,
        ..TestOptions::default()
    })
    .await;
    let body = wait_for_readiness(&app, 503).await;
    assert_eq!(body["provider"], "unavailable");
    assert_eq!(body["storage"], "ok");
    app.provider.behave();
    wait_for_readiness(&app, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigterm_in_flight_requests_finish_and_the_process_exits_in_time() {
    let app = TestApp::spawn().await;
    app.restart_public_service(env!("CARGO_BIN_EXE_public-service-under-test"))
        .await;
    let pid = app
        .public_process_id()
        .expect("the public service runs as a process");

    // A sign-in whose code exchange takes two seconds is in flight...
    let browser = app.browser();
    let callback = app.callback_url_for(&browser, "alice@example.com").await;
    app.provider
        .misbehave(Misbehaviour::TokenEndpointDelay(Duration::from_secs(2)));
    let in_flight = {
        let browser = browser.clone();
        tokio::spawn(async move { browser.get(&callback).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    // ...when Cloud Run sends SIGTERM.
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = reqwest::get(format!("http://{}/healthz", app.auth_addr)).await;
    assert!(refused.is_err(), "new connections are no longer accepted");

    let page = in_flight.await.unwrap();
    assert_eq!(
        page.status, 302,
        "the in-flight sign-in finished: {}",
        page.body
    );
    let status = app
        .wait_for_public_exit(Duration::from_secs(10))
        .await
        .expect("the process exits within Cloud Run's 10 s grace period");
    assert!(status.success(), "a graceful stop exits 0: {status:?}");
}

/// The JSON lines the child process wrote that satisfy `keep`.
fn json_lines(keep: impl Fn(&serde_json::Value) -> bool) -> Vec<serde_json::Value> {
    integration_tests::logs::captured()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| keep(line))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_logs_are_cloud_logging_json_with_request_and_trace_ids() {
    let app = TestApp::spawn().await;
    // Every request's line, successes too (the default is in request_log).
    app.restart_public_service_with(
        env!("CARGO_BIN_EXE_public-service-under-test"),
        &[("REQUEST_LOG", "all")],
    )
    .await;
    let trace = "105445aa7843bc8bf206b12000100000";
    let browser = app.browser();
    let login = browser
        .request(
            &app.auth(&format!("/login?return_to={}", app.app_url)),
            &[("x-cloud-trace-context", &format!("{trace}/1;o=1"))],
        )
        .await;
    assert_eq!(login.status, 302);
    let request_id = login
        .header("x-request-id")
        .expect("a request id")
        .to_owned();

    let mut lines = Vec::new();
    for _ in 0..40 {
        lines = json_lines(|l| l["request_id"] == request_id.as_str());
        if lines.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let access = lines
        .iter()
        .find(|l| l["message"] == "request")
        .unwrap_or_else(|| panic!("no request line for {request_id}: {lines:?}"));
    assert_eq!(access["severity"], "INFO");
    assert_eq!(access["httpRequest"]["requestMethod"], "GET");
    assert_eq!(
        access["httpRequest"]["requestUrl"], "/login",
        "never the query string"
    );
    assert_eq!(access["httpRequest"]["status"], 302);
    assert!(access["httpRequest"]["latency"]
        .as_str()
        .unwrap()
        .ends_with('s'));
    assert_eq!(
        access["logging.googleapis.com/trace"],
        format!("projects/test-project/traces/{trace}")
    );
    assert!(access["timestamp"]["seconds"].as_u64().unwrap() > 1_700_000_000);
    // Every line of the request carries its id and trace: here the
    // sign-in's own line too.
    let started = lines
        .iter()
        .find(|l| l["message"] == "sign-in started")
        .expect("the route's own line");
    assert_eq!(
        started["logging.googleapis.com/trace"],
        access["logging.googleapis.com/trace"]
    );
    for line in &lines {
        let text = line.to_string();
        for secret in &app.configured_secrets {
            assert!(!text.contains(secret.as_str()), "a secret in a log line");
        }
        assert!(!text.contains("state="), "no query string in a log line");
    }
    // A forged trace header cannot inject into the line.
    let forged = browser
        .request(
            &app.auth("/healthz"),
            &[("x-cloud-trace-context", "\"}{\"severity\":\"ERROR/1")],
        )
        .await;
    let forged_id = forged.header("x-request-id").unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let line = json_lines(|l| l["request_id"] == forged_id.as_str());
    assert_eq!(line.len(), 1);
    assert!(line[0].get("logging.googleapis.com/trace").is_none());
    assert_eq!(line[0]["severity"], "INFO");
}

/// The value of the first series of `metrics` starting with `series`.
fn metric(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics_count_sign_ins_handoffs_renewals_and_time_verifications() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let hops = app.sign_in(&browser, "alice@example.com").await;
    assert_eq!(hops.last().unwrap().status, 200);
    let denied = app.browser();
    app.sign_in(&denied, "mallory@example.net").await;
    let renewed = browser
        .get(&app.auth(&format!("/renew?return_to={}", app.app_url)))
        .await;
    assert_eq!(renewed.status, 302);

    let public = reqwest::Client::new()
        .get(format!("http://{}/metrics", app.auth_addr))
        .bearer_auth(integration_tests::app::METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(public.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let public = public.text().await.unwrap();
    assert!(public.contains("# TYPE signins_total counter"));
    assert!(metric(&public, r#"signins_total{outcome="success""#) >= 1.0);
    assert!(
        metric(
            &public,
            r#"signins_total{outcome="failed",reason="denied"}"#
        ) >= 1.0
    );
    assert!(metric(&public, r#"handoffs_total{delivery="cookie"}"#) >= 2.0);
    assert!(metric(&public, r#"renewals_total{outcome="renewed"}"#) >= 1.0);

    let private = app.metrics_of(app.app_addr).await;
    assert!(private.contains("# TYPE handoff_verification_seconds histogram"));
    assert!(metric(&private, "handoff_verification_seconds_count") >= 1.0);
    assert!(metric(&private, r#"handoff_verifications_total{outcome="valid"}"#) >= 1.0);
    for secret in &app.configured_secrets {
        assert!(!public.contains(secret.as_str()) && !private.contains(secret.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_out_key_verifies_during_the_overlap_and_not_after_retirement() {
    let app = TestApp::spawn_with(TestOptions {
        previous_signing_key: true,
        jwks_max_age: Duration::from_secs(1),
        ..TestOptions::default()
    })
    .await;
    let jwks: serde_json::Value =
        reqwest::get(format!("http://{}/.well-known/jwks.json", app.auth_addr))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "active and previous keys published"
    );

    let old = app.sign_with_previous_key(&app.claims_for("alice@example.com"));
    let new = app.sign(&app.claims_for("alice@example.com"));
    let me = |token: String| {
        let url = format!("http://{}/api/me", app.app_addr);
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        me(old.clone()).await,
        200,
        "a token of the previous key, during the overlap"
    );
    assert_eq!(me(new.clone()).await, 200);

    // Retirement: the operator redeploys without the previous key.
    app.restart_public_service_with(
        env!("CARGO_BIN_EXE_public-service-under-test"),
        &[("PREVIOUS_SIGNING_KEYS", "")],
    )
    .await;
    let mut refused = false;
    for _ in 0..40 {
        if me(old.clone()).await == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        refused,
        "the retired key's tokens are refused once the app's keys refresh"
    );
    assert_eq!(me(new).await, 200, "the active key's tokens still verify");
}

/// An app that polls the revoked-sessions feed (every
/// app does by default) but has no entry in `APP_SERVICE_ACCOUNTS` gets
/// `404` for ever and is never ready. The public service names each such
/// app at start, not only when the whole list is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_without_a_service_account_is_named_at_start() {
    let app = TestApp::spawn_with(TestOptions {
        second_app: true,
        ..TestOptions::default()
    })
    .await;
    let only_first = format!(
        "{}={}",
        app.app_audience(),
        integration_tests::app::APP_ACCOUNT
    );
    app.restart_public_service_with(
        env!("CARGO_BIN_EXE_public-service-under-test"),
        &[("APP_SERVICE_ACCOUNTS", only_first.as_str())],
    )
    .await;
    let logs = integration_tests::logs::captured();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("has no service account in APP_SERVICE_ACCOUNTS"))
        .collect();
    let other = app.other_app_audience();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("\"app\":\"{other}\""))
                && l.contains("revoked-sessions feed")
                && l.contains("REVOCATION_POLL_INTERVAL=off")),
        "no warning names {other}: {lines:?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains(&format!("\"app\":\"{}\"", app.app_audience()))),
        "the app with an account was named: {lines:?}"
    );
}

fn free_port() -> u16 {
    integration_tests::ports::for_a_child()
}

/// `cargo run --bin local-stack`: each log line names its service, the
/// banner comes once everything is ready (the app answers at once), and
/// routine polling stays out of the info lines.
#[tokio::test]
async fn the_local_stack_tags_each_line_and_prints_its_banner_when_ready() {
    use tokio::io::AsyncBufReadExt;
    let (mock, auth, app) = (free_port(), free_port(), free_port());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_local-stack"))
        .env("MOCK_PORT", mock.to_string())
        .env("AUTH_PORT", auth.to_string())
        .env("APP_PORT", app.to_string())
        .env_remove("RUST_LOG")
        .env_remove("OIDC_CLIENT_ID")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("local-stack starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut before = Vec::new();
    let banner = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("Open http://localhost:") {
                return line;
            }
            before.push(line);
        }
        panic!("local-stack ended without a banner: {before:#?}");
    })
    .await
    .expect("the banner within a minute");
    assert!(banner.contains(&format!(":{app}/")), "{banner}");
    // The provider and the login service speak before the banner (the
    // app's first line, its request line, is checked below).
    for tag in ["[provider]", "[auth]"] {
        assert!(
            before.iter().any(|l| l.starts_with(tag)),
            "no {tag} line before the banner: {before:#?}"
        );
    }
    for line in before.iter().filter(|l| !l.trim().is_empty()) {
        assert!(
            ["[provider]", "[auth]", "[app]", "[stack]"]
                .iter()
                .any(|tag| line.starts_with(tag)),
            "an untagged line: {line}"
        );
    }
    // Ready when the banner says so: the app answers a request at once.
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("http://localhost:{app}/api/me"))
        .send()
        .await
        .expect("the app answers once the banner is out");
    assert_eq!(answer.status(), 401);
    let mut after = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            after.push(line);
        }
    })
    .await;
    assert!(
        after
            .iter()
            .any(|l| l.starts_with("[app]") && l.contains("path=/api/me status=401")),
        "the app's request line, tagged: {after:#?}"
    );
    // The app's first revocation poll and key fetch, and the banner's own
    // readiness checks, all happened: none of them at info.
    assert!(
        !before
            .iter()
            .chain(&after)
            .any(|l| l.contains("/sessions/revoked")
                || l.contains("/readyz")
                || l.contains("jwks.json")),
        "routine polling at info: {before:#?} {after:#?}"
    );
}

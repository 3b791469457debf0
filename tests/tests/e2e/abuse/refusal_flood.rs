//! A flood of forged tokens is not a flood of log lines: anyone can send
//! tokens, and every refused one used to write its lines (the request's
//! `401` line at info, the reason at debug; the public service's refused
//! callers at warn), so ten thousand forged tokens a second were ten
//! thousand lines a second in Cloud Logging. Now the first few refusals of
//! each reason are written in full, then one summary per interval carries
//! the count of the others; the counters on `/metrics` still count every
//! refusal.
//!
//! The services' clock is stopped, so the interval ends when the test
//! says so, however long the flood takes. The lines of each flood are
//! picked out of every test's by the trace id its requests carry.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use handoff_guard::RefusalLog;
const IN_FULL: u64 = RefusalLog::IN_FULL;
const INTERVAL: std::time::Duration = RefusalLog::INTERVAL;
use integration_tests::app::BROKER_CALLER;
use integration_tests::{logs, tokens, TestApp};

const ALICE: &str = "alice@example.com";
const FLOOD: usize = 1000;
/// Requests in flight at once.
const CONCURRENCY: usize = 8;

/// `auth_refusals_total{reason="…"}` on a `/metrics` page.
fn refusals(metrics: &str, reason: &str) -> u64 {
    let series = format!("auth_refusals_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Sends `request(i)` for each `i` in `range`, some at once; the statuses.
async fn send_all(
    range: std::ops::Range<usize>,
    request: impl Fn(usize) -> reqwest::RequestBuilder,
) -> Vec<u16> {
    stream::iter(range.map(request))
        .map(|r| async move { r.send().await.unwrap().status().as_u16() })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

fn trace_header(trace: &str, i: usize) -> (&'static str, String) {
    ("x-cloud-trace-context", format!("{trace}/{i};o=1"))
}

/// The lines of `lines` containing `needle`.
fn with<'a>(lines: &'a [String], needle: &str) -> Vec<&'a String> {
    lines.iter().filter(|l| l.contains(needle)).collect()
}

/// What a summary line says in the words of the text format.
const SUMMARY: &str = "not logged one by one";
/// A request line (the request log's own).
const REQUEST_LINE: &str = "}: request method=";

/// The lines about refusals among `lines`: in full or summaries (not,
/// say, the debug lines of the key fetch the first request makes).
fn about_refusals(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| {
            [
                REQUEST_LINE,
                SUMMARY,
                "request not authenticated",
                "service caller refused",
            ]
            .iter()
            .any(|needle| l.contains(needle))
        })
        .collect()
}

/// The one summary line among `lines` with `field` (`refusal=…` or
/// `status=…`): how many it says were not logged, and over how long.
fn summary(lines: &[String], field: &str) -> (u64, u64) {
    let found: Vec<&String> = with(lines, SUMMARY)
        .into_iter()
        .filter(|l| l.split_whitespace().any(|f| f == field))
        .collect();
    assert_eq!(found.len(), 1, "one summary with {field}: {lines:#?}");
    let number = |name: &str| -> u64 {
        found[0]
            .split_whitespace()
            .find_map(|f| f.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} in {}", found[0]))
            .parse()
            .unwrap()
    };
    (number("not_logged="), number("seconds="))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_forged_handoff_tokens_writes_a_bounded_number_of_lines_and_counts_them_all() {
    let app = TestApp::spawn().await;
    app.public_clock.stop();
    let trace = "6b0c3e9a1d2f4a5b8c7d6e5f4a3b2c1d";
    let before = refusals(&app.metrics_of(app.app_addr).await, "handoff_token");
    // Tokens of the app's own shape and key id, signed with a key of the
    // attacker's: each one different, as a flood of forgeries would be.
    let attacker = tokens::new_p256_pem();
    let forged: Vec<String> = (0..=FLOOD)
        .map(|_| tokens::sign_es256(&attacker, app.kid(), &app.claims_for(ALICE)))
        .collect();
    let client = reqwest::Client::new();
    // Half as Bearer tokens on the API, half as the handoff cookie on
    // forward auth: one reason, two ways in.
    let cookie = app.handoff_cookie();
    let request = |i: usize| {
        let (name, value) = trace_header(trace, i);
        let builder = if i.is_multiple_of(2) {
            client
                .get(format!("http://{}/api/me", app.app_addr))
                .bearer_auth(&forged[i])
        } else {
            client
                .get(format!("http://{}/auth/verify", app.app_addr))
                .header("cookie", format!("{cookie}={}", forged[i]))
        };
        builder
            .header("accept", "application/json")
            .header(name, value)
    };
    let statuses = send_all(0..FLOOD, request).await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");

    let lines = logs::lines_of_trace(trace);
    let reasons = with(&lines, "request not authenticated");
    let requests = with(&lines, REQUEST_LINE);
    assert_eq!(
        (reasons.len(), requests.len()),
        (IN_FULL as usize, IN_FULL as usize),
        "only the first {IN_FULL} refusals of the interval in full: {lines:#?}"
    );
    assert_eq!(
        about_refusals(&lines).len(),
        2 * IN_FULL as usize,
        "{lines:#?}"
    );
    let counted = refusals(&app.metrics_of(app.app_addr).await, "handoff_token") - before;
    assert!(
        counted >= FLOOD as u64,
        "every refusal is counted: {counted} of {FLOOD}"
    );

    // The interval ends; the next refusal brings the summaries, with the
    // exact number of refusals not written one by one.
    app.advance_time(INTERVAL);
    let last = send_all(FLOOD..FLOOD + 1, request).await;
    assert_eq!(last, [401]);
    let lines = logs::lines_of_trace(trace);
    let expected = ((FLOOD as u64) - IN_FULL, INTERVAL.as_secs());
    assert_eq!(summary(&lines, "refusal=handoff_token"), expected);
    assert_eq!(summary(&lines, "status=401"), expected);
    assert_eq!(
        about_refusals(&lines).len(),
        2 * (IN_FULL as usize + 1) + 2,
        "the first of the next interval in full, and two summaries: {lines:#?}"
    );
    let forged: Vec<&str> = forged.iter().map(String::as_str).collect();
    logs::assert_not_logged(&forged);
    logs::assert_no_service_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_forged_caller_tokens_at_the_public_service_writes_a_bounded_number_of_lines() {
    let app = TestApp::spawn().await;
    let trace = "7c1d4f0b2e3a5b6c9d8e7f6a5b4c3d2e";
    let flood = 300;
    // Minted before the clock stops: never "issued in the future" to it.
    let genuine_token = app.caller_token(BROKER_CALLER);
    app.public_clock.stop();
    let before = refusals(&app.metrics_of(app.auth_addr).await, "caller_token");
    let client = reqwest::Client::new();
    // A service-account token for another audience than the public service.
    let forged = app
        .provider
        .mint_service_account_token(BROKER_CALLER, "https://elsewhere.example");
    let request = |i: usize| {
        let (name, value) = trace_header(trace, i);
        client
            .post(format!("http://{}/broker/token", app.auth_addr))
            .bearer_auth(&forged)
            .header(name, value)
            .json(&serde_json::json!({ "subject": "someone" }))
    };
    let statuses = send_all(0..flood, request).await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let lines = logs::lines_of_trace(trace);
    assert_eq!(
        (
            with(&lines, "service caller refused").len(),
            with(&lines, REQUEST_LINE).len()
        ),
        (IN_FULL as usize, IN_FULL as usize),
        "{lines:#?}"
    );
    assert_eq!(
        about_refusals(&lines).len(),
        2 * IN_FULL as usize,
        "{lines:#?}"
    );
    let counted = refusals(&app.metrics_of(app.auth_addr).await, "caller_token") - before;
    assert!(counted >= flood as u64, "{counted} of {flood} counted");

    // No further refusal: the next caller after the interval, a genuine
    // one, brings the summaries.
    app.advance_time(INTERVAL + Duration::from_secs(1));
    let genuine = client
        .post(format!("http://{}/broker/token", app.auth_addr))
        .bearer_auth(&genuine_token)
        .header("x-cloud-trace-context", format!("{trace}/{flood};o=1"))
        .json(&serde_json::json!({ "subject": "someone" }))
        .send()
        .await
        .unwrap();
    assert_eq!(genuine.status(), 403, "nobody signed in as someone");
    let lines = logs::lines_of_trace(trace);
    let expected = (flood as u64 - IN_FULL, INTERVAL.as_secs() + 1);
    assert_eq!(summary(&lines, "refusal=caller_token"), expected);
    assert_eq!(summary(&lines, "status=401"), expected);
    assert!(!logs::captured().contains(&forged));
    logs::assert_no_service_panics();
}

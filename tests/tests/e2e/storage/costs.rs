//! What each flow costs on Firestore, in the document operations the
//! public service's own store counted as Firestore bills them: the figures
//! deploy/README.md's cost table is computed from. Each flow is also held
//! to a ceiling, so that a change that makes one dearer fails here.
//!
//! The deployment is the one Cloud Run gets by default: code delivery
//! (separate sites), offline access. The app's revocation poll is set an
//! hour apart so that no poll lands inside a measured step; a poll is
//! measured on its own.

use std::future::Future;
use std::time::Duration;

use handoff_guard::Clock;
use integration_tests::app::{TestDelivery, TestOptions, APP_ACCOUNT, BROKER_CALLER};
use integration_tests::db::Backend;
use integration_tests::{Browser, TestApp};
use mock_provider::MockUser;
use public_service::store::Operations;
use serde_json::json;

const ALICE: &str = "alice@example.com";
/// Long enough for a purge of a few documents on the emulator (its first
/// calls are the slowest).
const PURGE_SETTLES: Duration = Duration::from_secs(2);

/// The operations `step` made the public service's store perform.
async fn cost<T>(app: &TestApp, step: impl Future<Output = T>) -> (Operations, T) {
    let before = app
        .public_storage
        .billed_operations()
        .expect("Firestore counts");
    let out = step.await;
    let after = app
        .public_storage
        .billed_operations()
        .expect("Firestore counts");
    (after - before, out)
}

async fn poll(app: &TestApp, since: u64) -> u16 {
    reqwest::Client::new()
        .get(format!(
            "http://{}/sessions/revoked?since={since}",
            app.auth_addr
        ))
        .bearer_auth(app.caller_token(APP_ACCOUNT))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn row(flow: &str, ops: Operations) -> String {
    format!(
        "| {flow} | {} | {} | {} |",
        ops.reads, ops.writes, ops.deletes
    )
}

/// `ops` is within `ceiling` on every count.
fn within(flow: &str, ops: Operations, ceiling: (u64, u64, u64)) {
    assert!(
        ops.reads <= ceiling.0 && ops.writes <= ceiling.1 && ops.deletes <= ceiling.2,
        "{flow}: {ops:?} is more than the ceiling {ceiling:?} (reads, writes, deletes)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firestore_operations_per_flow() {
    let Some(app) = TestApp::try_spawn_with(TestOptions {
        backend: Backend::Firestore,
        delivery: TestDelivery::Code,
        revocation_poll_interval: Duration::from_secs(3600),
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    // The first request of the instance's life starts the purge that is
    // due at once; it runs beside the request, so it is let finish here
    // and measured below on its own.
    let now = app.public_clock.unix_seconds();
    assert_eq!(poll(&app, now).await, 200);
    tokio::time::sleep(PURGE_SETTLES).await;
    let browser = app.browser();
    let mut table = vec![
        "| flow | reads | writes | deletes |".to_owned(),
        "|---|--:|--:|--:|".to_owned(),
    ];

    let (signed_in, hops) = cost(&app, app.sign_in(&browser, ALICE)).await;
    assert_eq!(hops.last().unwrap().status, 200, "signed in");
    table.push(row(
        "sign-in (first, with the code redeemed by the app)",
        signed_in,
    ));
    within("sign-in", signed_in, (8, 5, 0));

    let (renewed, landed) = cost(&app, renew(&app, &browser)).await;
    assert!(landed, "renewed");
    table.push(row("renewal (a new code, redeemed)", renewed));
    within("renewal", renewed, (5, 4, 0));

    let subject = json!({ "subject": MockUser::new(ALICE).sub });
    let caller = app.caller_token(BROKER_CALLER);
    let (cached, answer) = cost(&app, app.broker(Some(&caller), subject.clone())).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    table.push(row("broker call, cached access token", cached));
    within("cached broker call", cached, (1, 0, 0));

    let now = app.public_clock.unix_seconds();
    let (empty_poll, status) = cost(&app, poll(&app, now)).await;
    assert_eq!(status, 200);
    table.push(row("revocation poll, nothing revoked", empty_poll));
    within("empty poll", empty_poll, (1, 0, 0));

    let (signed_out, status) = cost(&app, sign_out(&app, &browser)).await;
    assert_eq!(status, 200, "signed out");
    table.push(row("sign-out (from the app)", signed_out));
    within("sign-out", signed_out, (3, 1, 0));

    let (one_revoked, status) = cost(&app, poll(&app, now)).await;
    assert_eq!(status, 200);
    table.push(row("revocation poll, one session revoked", one_revoked));
    within("poll with one revocation", one_revoked, (1, 0, 0));

    // An hour later the access token has expired, and the hourly purge of
    // expired codes and sessions is due: the first request pays for it.
    app.advance_time(Duration::from_secs(3600));
    let now = app.public_clock.unix_seconds();
    let (purge, status) = cost(&app, async {
        let status = poll(&app, now).await;
        tokio::time::sleep(PURGE_SETTLES).await;
        status
    })
    .await;
    assert_eq!(status, 200);
    table.push(row(
        "the hourly purge, started by the first request after it is due (here a poll, counted in)",
        purge,
    ));
    within("hourly purge", purge, (6, 0, 2));
    let caller = app.caller_token(BROKER_CALLER);
    let (refreshed, answer) = cost(&app, app.broker(Some(&caller), subject.clone())).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    table.push(row("broker call, refreshed at the provider", refreshed));
    within("refreshing broker call", refreshed, (3, 2, 0));

    // The figures docs and deploy/README.md quote, printed for the record.
    println!("Firestore operations per flow:\n{}", table.join("\n"));
}

/// The app's cookie expires and the browser comes back: a silent renewal
/// through a new code. Whether it landed on the app's page.
async fn renew(app: &TestApp, browser: &Browser) -> bool {
    let session = browser.cookie("__Host-session").expect("a public session");
    browser.clear_cookies();
    browser.put_cookie(&session.name, &session.value, &session.domain, true);
    let hops = browser.navigate(&app.app("/")).await;
    hops.last().is_some_and(|page| page.status == 200)
        && hops.iter().any(|page| page.url.path() == "/renew")
}

/// The person signs out from the app's page; the app ends the session at
/// the public service with the token it holds, and the browser lands on
/// the public service's signed-out page. That page's status.
async fn sign_out(app: &TestApp, browser: &Browser) -> u16 {
    let out = browser
        .post_form(
            &app.app("/auth/logout"),
            &[],
            &[("origin", &app.app_audience())],
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    let target = out.refresh_target().expect("sent on to the public service");
    let hops = browser.navigate(target.as_str()).await;
    hops.last().map_or(0, |page| page.status.as_u16())
}

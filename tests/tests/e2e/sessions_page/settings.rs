//! The sessions page's settings: the notice on the next sign-in of a
//! browser signed out everywhere else (`SIGNED_OUT_NOTICE`, off by
//! default) and the place from the operator's load balancer header
//! (`SESSION_PLACE_HEADER`, off by default).

use integration_tests::app::{TestDelivery, TestOptions};
use integration_tests::browser::Page;
use integration_tests::{Browser, Landing, TestApp};
use public_service::delivery::CODE_TTL;

use super::{post_from_page, sessions_page, token, ALICE, BOB};
use crate::offline::signed_in;

/// Two browsers of alice; the first ends the other from the page.
async fn signed_out_everywhere_else(app: &TestApp) -> (Browser, Browser) {
    let (mine, other) = (app.browser(), app.browser());
    signed_in(app, &mine, ALICE).await;
    signed_in(app, &other, ALICE).await;
    let page = sessions_page(app, &mine).await;
    let ended = post_from_page(
        app,
        &mine,
        "/account/sessions/end-others",
        &[("token", &token(&page))],
    )
    .await;
    assert_eq!(ended.status, 303, "{}", ended.body);
    assert!(
        app.refuses_within_polls(&other, &app.app("/api/me"), 3)
            .await
    );
    (mine, other)
}

/// The notice page among a sign-in's hops.
fn notice_in(hops: &[Page]) -> &Page {
    hops.iter()
        .find(|p| p.body.contains("id=\"signed-out-notice\""))
        .unwrap_or_else(|| panic!("no notice: {:?}", hops.last().map(|p| &p.body)))
}

/// Where the notice's Continue link leads.
fn continue_url(notice: &Page) -> String {
    let marker = "id=\"continue\" href=\"";
    let start = notice.body.find(marker).unwrap() + marker.len();
    let end = start + notice.body[start..].find('"').unwrap();
    notice.body[start..end].replace("&amp;", "&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_notice_on_the_ended_browser_is_told_at_its_next_sign_in() {
    let app = TestApp::spawn_with(TestOptions {
        public_env: vec![("SIGNED_OUT_NOTICE", "true".into())],
        ..TestOptions::default()
    })
    .await;
    let (_mine, other) = signed_out_everywhere_else(&app).await;
    let hops = other.navigate(&app.app("/")).await;
    let notice = notice_in(&hops);
    assert!(notice
        .body
        .contains("You were signed out everywhere else on"));
    assert_eq!(notice.status, 200);
    // The way on is where the sign-in was going, with its cookies.
    assert!(notice.set_cookie(&app.handoff_cookie()).is_some());
    let on = other.navigate(&continue_url(notice)).await;
    let last = on.last().unwrap();
    assert_eq!(last.status, 200);
    assert!(last.body.contains(ALICE));

    // Once: the new session was not ended, and a sign-in in a browser
    // that was never ended says nothing.
    let again = other
        .navigate(&app.auth(&format!("/login?return_to={}", app.app_url)))
        .await;
    assert!(!again.iter().any(|p| p.body.contains("signed-out-notice")));
    let fresh = app.browser();
    let hops = signed_in(&app, &fresh, ALICE).await;
    assert!(!hops.iter().any(|p| p.body.contains("signed-out-notice")));
}

/// With code delivery a one-time code lives a minute: the notice must not
/// hold one while the person reads it. Continue, minutes later, still
/// lands in the app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_code_delivery_continue_works_however_long_the_notice_was_read() {
    let app = TestApp::spawn_with(TestOptions {
        delivery: TestDelivery::Code,
        public_env: vec![("SIGNED_OUT_NOTICE", "true".into())],
        ..TestOptions::default()
    })
    .await;
    let (_mine, other) = signed_out_everywhere_else(&app).await;
    let hops = other.navigate(&app.app("/")).await;
    let notice = notice_in(&hops);
    let on = continue_url(notice);
    assert!(!on.contains("code="), "the notice holds a code: {on}");

    app.advance_time(CODE_TTL * 3);
    let hops = other.navigate(&on).await;
    let last = hops.last().unwrap();
    assert_eq!(last.status, 200, "{}: {}", last.url, last.body);
    assert!(last.body.contains(ALICE));
}

/// The notice is the ended person's: someone else signing in next in
/// that browser is not told about them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notice_is_not_shown_to_another_person_signing_in_in_that_browser() {
    let app = TestApp::spawn_with(TestOptions {
        public_env: vec![("SIGNED_OUT_NOTICE", "true".into())],
        ..TestOptions::default()
    })
    .await;
    let (_mine, other) = signed_out_everywhere_else(&app).await;
    let hops = app.sign_in(&other, BOB).await;
    assert!(
        !hops.iter().any(|p| p.body.contains("signed-out-notice")),
        "{BOB} was shown {ALICE}'s notice"
    );
    let last = hops.last().unwrap();
    assert_eq!(last.status, 200, "{}", last.body);
    assert!(last.body.contains(BOB));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_there_is_no_notice_and_no_place() {
    let app = TestApp::spawn().await;
    let (_mine, other) = signed_out_everywhere_else(&app).await;
    let hops = other.navigate(&app.app("/")).await;
    assert!(!hops.iter().any(|p| p.body.contains("signed-out-notice")));
    assert!(hops.last().unwrap().body.contains(ALICE));

    // A client's own geo header is not trusted unless configured.
    let spoofing = app.browser();
    app.signing_in(ALICE)
        .in_browser(&spoofing)
        .header("x-client-geo-location", "Atlantis")
        .landing(Landing::Ok)
        .run()
        .await;
    let page = sessions_page(&app, &spoofing).await;
    assert!(!page.body.contains("Atlantis"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_place_header_configured_the_place_is_shown_escaped_and_bounded() {
    let app = TestApp::spawn_with(TestOptions {
        public_env: vec![("SESSION_PLACE_HEADER", "X-Client-Geo-Location".into())],
        ..TestOptions::default()
    })
    .await;
    let browser = app.browser();
    app.signing_in(ALICE)
        .in_browser(&browser)
        .header("x-client-geo-location", "USCA,<b>Mountain View</b>")
        .landing(Landing::Ok)
        .run()
        .await;
    let page = sessions_page(&app, &browser).await;
    assert!(
        page.body
            .contains("Near USCA,&#60;b&#62;Mountain View&#60;/b&#62;")
            || page
                .body
                .contains("Near USCA,&lt;b&gt;Mountain View&lt;/b&gt;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<b>Mountain"));

    let long = app.browser();
    let huge = "Z".repeat(1000);
    app.signing_in(ALICE)
        .in_browser(&long)
        .header("x-client-geo-location", &huge)
        .landing(Landing::Ok)
        .run()
        .await;
    let sid = super::sid_of(&app, &long).await;
    let stored = app.store().await.session(&sid).await.unwrap().unwrap();
    assert_eq!(stored.place.map(|p| p.len()), Some(64));
}

//! "Where you're signed in" (`/account/sessions` on the public service):
//! the page lists a person's live sessions with a device summary, the
//! apps each was handed to and this browser marked; ending one or all
//! others reaches the apps through the revoked-sessions feed. The attacks
//! (forged posts, someone else's session) are in `attacks.rs`, the
//! sign-in notice and the place in `settings.rs`.

mod attacks;
mod settings;

use integration_tests::browser::Page;
use integration_tests::{Browser, Landing, TestApp};

use crate::offline::{assert_nothing_leaked, signed_in};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@corp.example";
const SESSION: &str = "__Host-session";
const MAC_CHROME: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const LINUX_FIREFOX: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

/// The sessions page as `browser` sees it.
async fn sessions_page(app: &TestApp, browser: &Browser) -> Page {
    let page = browser
        .get(&app.auth(&format!("/account/sessions?return_to={}", app.app_url)))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

/// The values of the hidden inputs named `name` on `page`.
fn hidden(page: &Page, name: &str) -> Vec<String> {
    let marker = format!("name=\"{name}\" value=\"");
    page.body
        .match_indices(&marker)
        .map(|(at, _)| {
            let start = at + marker.len();
            let end = start + page.body[start..].find('"').unwrap();
            page.body[start..end].to_owned()
        })
        .collect()
}

fn token(page: &Page) -> String {
    hidden(page, "token")
        .into_iter()
        .next()
        .expect("the page's forms carry a token")
}

/// The session id (`sid`) behind the browser's handoff cookie.
async fn sid_of(app: &TestApp, browser: &Browser) -> String {
    app.verified_sid(&browser.cookie(&app.handoff_cookie()).unwrap().value)
        .await
}

/// A post from the sessions page itself (this service's `Origin`).
async fn post_from_page(
    app: &TestApp,
    browser: &Browser,
    path: &str,
    fields: &[(&str, &str)],
) -> Page {
    browser
        .post_form(&app.auth(path), fields, &[("origin", &app.issuer())])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_lists_both_browsers_with_devices_and_apps_and_marks_this_one() {
    let app = TestApp::spawn().await;
    let (mac, linux) = (app.browser(), app.browser());
    let home = app
        .signing_in(ALICE)
        .in_browser(&mac)
        .header("user-agent", MAC_CHROME)
        .landing(Landing::Ok)
        .run()
        .await
        .into_last_page();
    assert!(
        home.body.contains(&format!(
            "href=\"{}",
            app.auth("/account/sessions?return_to=")
        )),
        "the app's page links to the sessions page: {}",
        home.body
    );
    app.signing_in(ALICE)
        .in_browser(&linux)
        .header("user-agent", LINUX_FIREFOX)
        .landing(Landing::Ok)
        .run()
        .await;
    let (mac_sid, linux_sid) = (sid_of(&app, &mac).await, sid_of(&app, &linux).await);

    let page = sessions_page(&app, &mac).await;
    assert!(page.body.contains("Chrome on macOS"), "{}", page.body);
    assert!(page.body.contains("Firefox on Linux"));
    assert_eq!(page.body.matches("id=\"this-browser\"").count(), 1);
    let this_row = page.body.find("Chrome on macOS").unwrap();
    let marker = page.body.find("id=\"this-browser\"").unwrap();
    assert!(
        marker > this_row && marker - this_row < 200,
        "the mark is on the Mac's row"
    );
    assert!(page
        .body
        .contains(&format!("Used with {}", app.app_url.host_str().unwrap())));
    assert_eq!(
        hidden(&page, "session"),
        [linux_sid],
        "only the other browser has an End button"
    );
    assert!(page.body.contains("id=\"end-others\""));
    assert!(
        page.body.contains(&format!("href=\"{}\"", app.app_url)),
        "a way back to the app"
    );
    for raw in ["Mozilla/5.0", "Gecko/20100101", "AppleWebKit"] {
        assert!(!page.body.contains(raw), "the raw User-Agent is not shown");
    }
    let stored = app.store().await.session(&mac_sid).await.unwrap().unwrap();
    assert_eq!(stored.device.as_deref(), Some("Chrome on macOS"));
    assert_eq!(
        stored.place, None,
        "no place unless the operator configures one"
    );

    // A hostile User-Agent becomes a known name or nothing.
    let odd = app.browser();
    let hostile = format!("<script>alert(1)</script>{}", "A".repeat(6000));
    app.signing_in(ALICE)
        .in_browser(&odd)
        .header("user-agent", &hostile)
        .landing(Landing::Ok)
        .run()
        .await;
    let odd_sid = sid_of(&app, &odd).await;
    let stored = app.store().await.session(&odd_sid).await.unwrap().unwrap();
    assert_eq!(stored.device, None);
    let page = sessions_page(&app, &odd).await;
    assert!(!page.body.contains("<script>alert"));
    assert!(page.body.contains("Unknown device"));

    // Without a session there is no page to see.
    let stranger = app.browser();
    let refused = stranger.get(&app.auth("/account/sessions")).await;
    assert_eq!(refused.status, 401);
    assert_nothing_leaked(&app, &[&mac, &linux, &odd], &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_the_other_browser_makes_the_app_refuse_it_within_the_bound() {
    let app = TestApp::spawn().await;
    let (mine, other) = (app.browser(), app.browser());
    signed_in(&app, &mine, ALICE).await;
    signed_in(&app, &other, ALICE).await;
    let other_sid = sid_of(&app, &other).await;
    assert_eq!(other.get_json(&app.app("/api/me")).await.status, 200);

    let page = sessions_page(&app, &mine).await;
    let ended = post_from_page(
        &app,
        &mine,
        "/account/sessions/end",
        &[
            ("token", &token(&page)),
            ("session", &other_sid),
            ("return_to", app.app_url.as_str()),
        ],
    )
    .await;
    assert_eq!(ended.status, 303, "{}", ended.body);
    let back = ended.location().unwrap();
    assert_eq!(back.path(), "/account/sessions");
    let page = mine.get(back.as_str()).await;
    assert!(
        page.body.contains("That session was ended"),
        "{}",
        page.body
    );
    // The bound a person can plan on: the apps' default check and one fetch.
    assert!(
        page.body
            .contains("Apps stop accepting it within about 20 seconds"),
        "{}",
        page.body
    );
    assert!(hidden(&page, "session").is_empty());
    assert!(page.body.contains("id=\"only-this\""));
    let record = app
        .store()
        .await
        .session(&other_sid)
        .await
        .unwrap()
        .unwrap();
    assert!(record.revoked_at.is_some());

    assert!(
        app.refuses_within_polls(&other, &app.app("/api/me"), 3)
            .await,
        "the ended browser's handoff token is still accepted"
    );
    let bounced = other.get(&app.app("/")).await;
    assert_eq!(bounced.location().unwrap().path(), "/renew");
    // Its session cookie no longer renews: it is sent to sign in again.
    let renew = other
        .get(&app.auth(&format!("/renew?return_to={}", app.app_url)))
        .await;
    assert_eq!(renew.location().unwrap().path(), "/o/oauth2/v2/auth");
    // This browser is untouched.
    assert_eq!(mine.get_json(&app.app("/api/me")).await.status, 200);
    assert_nothing_leaked(&app, &[&mine, &other], &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_all_others_keeps_only_this_browser() {
    let app = TestApp::spawn().await;
    let browsers = [app.browser(), app.browser(), app.browser()];
    for browser in &browsers {
        signed_in(&app, browser, ALICE).await;
    }
    let [mine, second, third] = &browsers;
    let page = sessions_page(&app, mine).await;
    assert_eq!(hidden(&page, "session").len(), 2);
    let ended = post_from_page(
        &app,
        mine,
        "/account/sessions/end-others",
        &[
            ("token", &token(&page)),
            ("return_to", app.app_url.as_str()),
        ],
    )
    .await;
    assert_eq!(ended.status, 303, "{}", ended.body);
    let page = mine.get(ended.location().unwrap().as_str()).await;
    assert!(page.body.contains("All your other sessions were ended"));
    assert!(page
        .body
        .contains("Apps stop accepting them within about 20 seconds"));
    assert!(page.body.contains("id=\"only-this\""));
    let store = app.store().await;
    for other in [second, third] {
        let record = store
            .session(&sid_of(&app, other).await)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            record.revoked_reason.as_deref(),
            Some(public_service::store::SIGNED_OUT_EVERYWHERE)
        );
        assert!(
            app.refuses_within_polls(other, &app.app("/api/me"), 3)
                .await
        );
    }
    let kept = store
        .session(&sid_of(&app, mine).await)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.revoked_at, None);
    assert_eq!(mine.get_json(&app.app("/api/me")).await.status, 200);
    assert!(mine.cookie(SESSION).is_some());
}

//! Every route that takes a URL, or builds one from the request, sends the
//! browser only to this deployment: the public service or a registered app.

use integration_tests::browser::Page;
use integration_tests::TestApp;

const EVIL: &str = "evil.example.net";

fn disguises(app: &TestApp) -> Vec<String> {
    let port = app.app_addr.port();
    vec![
        format!("http://{EVIL}/"),
        format!("//{EVIL}/"),
        format!("/\\{EVIL}"),
        format!("http://app.example.test:{port}@{EVIL}/"),
        format!("http://app.example.test.{EVIL}:{port}/"),
        format!("javascript:alert(1)//app.example.test:{port}/"),
    ]
}

/// Where a page would send the browser next: its `Location`, its meta
/// refresh, or a link or form target in its body.
fn assert_stays_home(page: &Page, what: &str) {
    if let Some(next) = page.next_url() {
        let host = next.host_str().unwrap_or_default();
        assert!(
            !host.contains(EVIL) && next.scheme().starts_with("http"),
            "{what}: sends the browser to {next}"
        );
    }
    for attribute in ["href=\"", "action=\"", "url="] {
        for scheme in ["http://", "https://", "//", "javascript:"] {
            let needle = format!("{attribute}{scheme}{EVIL}");
            assert!(
                !page.body.contains(&needle),
                "{what}: the page links to {EVIL}"
            );
        }
    }
    assert!(
        !page.body.contains("href=\"javascript:"),
        "{what}: a javascript: link"
    );
}

fn encoded(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_that_takes_a_url_sends_the_browser_only_to_this_deployment() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    app.sign_in(&browser, "alice@example.com").await;
    let auth_origin = app.auth_url.origin().ascii_serialization();
    for raw in disguises(&app) {
        let to = encoded(&raw);
        for route in ["/", "/login", "/renew", "/logout", "/signed-out"] {
            let target = app.auth(&format!("{route}?return_to={to}"));
            let page = browser.get(&target).await;
            assert!(page.status.as_u16() < 500, "{target}: {}", page.status);
            assert_stays_home(&page, &target);
        }
        let target = app.app(&format!("/auth/signed-out?return_to={to}"));
        assert_stays_home(&browser.get(&target).await, &target);
        // The sign-out form itself, posted from this service's own page.
        let signed_in = app.browser();
        app.sign_in(&signed_in, "alice@example.com").await;
        let page = signed_in
            .post_form(
                &app.auth("/logout"),
                &[("return_to", raw.as_str())],
                &[("origin", auth_origin.as_str())],
            )
            .await;
        assert!(
            page.status.as_u16() < 500,
            "POST /logout {raw}: {}",
            page.status
        );
        assert_stays_home(&page, &format!("POST /logout {raw}"));
        if let Some(next) = page.next_url() {
            let after = signed_in.navigate(next.as_str()).await;
            for hop in &after {
                assert_stays_home(hop, &format!("after POST /logout {raw}: {}", hop.url));
            }
        }
    }
    integration_tests::logs::assert_no_service_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_host_header_does_not_move_the_sign_in_redirect() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, accept) in [("/", "text/html"), ("/api/me", "application/json")] {
        for forged in [
            ("host", EVIL),
            ("x-forwarded-host", EVIL),
            ("forwarded", "host=evil.example.net;proto=https"),
        ] {
            let response = client
                .get(format!("http://{}{path}", app.app_addr))
                .header("accept", accept)
                .header(forged.0, forged.1)
                .send()
                .await
                .unwrap();
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = response.text().await.unwrap();
            assert!(
                !location.contains(EVIL) && !body.contains(EVIL),
                "{path} with {forged:?}: {location} {body}"
            );
            if !location.is_empty() {
                let location = url::Url::parse(&location).unwrap();
                assert_eq!(
                    location.origin().ascii_serialization(),
                    app.auth_url.origin().ascii_serialization()
                );
            }
        }
    }
}

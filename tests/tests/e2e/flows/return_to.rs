//! `return_to` can only send the browser to a registered app.

use integration_tests::TestApp;

#[tokio::test]
async fn return_to_pointing_elsewhere_is_refused_in_its_usual_disguises() {
    let app = TestApp::spawn().await;
    let port = app.app_addr.port();
    let disguises = [
        "http://evil.example.net/".to_owned(),
        "//evil.example.net/".to_owned(),
        "/\\evil.example.net".to_owned(),
        "/relative/path".to_owned(),
        format!("http://app.example.test:{port}@evil.example.net/"),
        format!("http://evil.example.net@app.example.test:{port}/"),
        format!("http://user:pass@app.example.test:{port}/"),
        format!("http://app.example.test:{port}\\@evil.example.net/"),
        format!("http:\\\\app.example.test:{port}/"),
        "http:%2F%2Fevil.example.net".to_owned(),
        format!("http%3A%2F%2Fapp.example.test:{port}/"),
        format!("http://app.example.test%2Eevil.example.net:{port}/"),
        format!("http://app.example.test.evil.example.net:{port}/"),
        format!("https://app.example.test:{port}/"),
        format!("ftp://app.example.test:{port}/"),
        format!("javascript:alert(1)//app.example.test:{port}/"),
        format!("http://app.example.test:{}/", port.wrapping_add(1)),
        "http://app.example.test/".to_owned(),
        app.auth("/"),
        format!("http://app.example.test:{port}/\r\nLocation: http://evil.example.net/"),
        format!(" http://app.example.test:{port}/"),
        format!("http://app.example.test:{port}/{}", "a".repeat(600)),
    ];
    let browser = app.browser();
    for raw in &disguises {
        let mut url = url::Url::parse(&app.auth("/login")).unwrap();
        url.query_pairs_mut().append_pair("return_to", raw);
        let page = browser.get(url.as_str()).await;
        assert_eq!(page.status, 400, "accepted {raw:?}");
        assert!(page.header("location").is_none(), "redirected for {raw:?}");
        assert!(page.raw_set_cookies.is_empty(), "set a cookie for {raw:?}");
    }
    assert_eq!(app.provider.token_endpoint_calls(), 0);
    integration_tests::logs::assert_no_service_panics();
}

#[tokio::test]
async fn a_repeated_return_to_is_refused() {
    let app = TestApp::spawn().await;
    let url = format!(
        "{}?return_to={}&return_to=http%3A%2F%2Fevil.example.net%2F",
        app.auth("/login"),
        url::form_urlencoded::byte_serialize(app.app("/").as_bytes()).collect::<String>()
    );
    let page = app.browser().get(&url).await;
    assert_eq!(page.status, 400);
}

#[tokio::test]
async fn return_to_on_the_app_is_kept_through_the_sign_in() {
    let app = TestApp::spawn().await;
    let hops = app
        .signing_in("alice@example.com")
        .starting_at(app.app("/?tab=reports"))
        .run()
        .await
        .hops;
    let last = hops.last().unwrap();
    assert_eq!(last.url.as_str(), app.app("/?tab=reports"));
    assert_eq!(last.status, 200);
    assert!(hops.len() > 2, "the sign-in happened");
}

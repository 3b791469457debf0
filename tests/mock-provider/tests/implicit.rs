//! The implicit ID-token flow a Chrome extension signs in with
//! (`chrome.identity.launchWebAuthFlow`): only for a client registered as
//! the extension's, only to `https://<extension id>.chromiumapp.org/`,
//! only with a nonce, the ID token in the fragment.

mod support;

use mock_provider::{MockProvider, MockUser};
use support::{http, jwt_payload};
use url::Url;

const EXTENSION_CLIENT: &str = "extension-client.apps.example";
const EXTENSION_ID: &str = "odibeidmjmelaphijlikbdjepnnjjfkp";
const REDIRECT: &str = "https://odibeidmjmelaphijlikbdjepnnjjfkp.chromiumapp.org/";
const WEB_CLIENT: &str = "web-client";
const WEB_REDIRECT: &str = "http://rp.example.test/callback";

async fn provider() -> MockProvider {
    MockProvider::builder()
        .client(WEB_CLIENT, "web-secret", &[WEB_REDIRECT])
        .extension_client(EXTENSION_CLIENT, EXTENSION_ID)
        .start()
        .await
        .unwrap()
}

/// The parameters `examples/chrome-extension` sends, with `changes`
/// replacing (or, with an empty value, removing) some.
fn request(p: &MockProvider, changes: &[(&str, &str)]) -> Url {
    let mut pairs = vec![
        ("client_id", EXTENSION_CLIENT),
        ("response_type", "id_token"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid email profile"),
        ("nonce", "n-0S6_WzA2Mj"),
        ("state", "s-1"),
        ("prompt", "select_account"),
    ];
    for (name, value) in changes {
        pairs.retain(|(n, _)| n != name);
        if !value.is_empty() {
            pairs.push((name, value));
        }
    }
    let mut url = Url::parse(&format!("{}/o/oauth2/v2/auth", p.issuer())).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url
}

/// Where the provider sends the browser, and the fragment's parameters.
async fn answer(url: Url) -> (u16, Option<Url>, Vec<(String, String)>) {
    let response = http().get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| Url::parse(l.to_str().unwrap()).unwrap());
    let fragment = location
        .as_ref()
        .and_then(|l| l.fragment())
        .map(|f| {
            url::form_urlencoded::parse(f.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    (status, location, fragment)
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn the_extension_gets_an_id_token_for_its_client_with_its_nonce_in_the_fragment() {
    let p = provider().await;
    p.set_user(MockUser::new("alice@example.com"));
    let (status, location, fragment) = answer(request(&p, &[])).await;
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert_eq!(
        format!("{}://{}/", location.scheme(), location.host_str().unwrap()),
        REDIRECT
    );
    assert_eq!(location.query(), None, "nothing in the query: {location}");
    assert_eq!(get(&fragment, "state"), Some("s-1"));
    let token = get(&fragment, "id_token").expect("an ID token in the fragment");
    let claims = jwt_payload(token);
    assert_eq!(claims["aud"], EXTENSION_CLIENT);
    assert_eq!(claims["azp"], EXTENSION_CLIENT);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["iss"], p.issuer());
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], true);
    assert!(
        claims.get("at_hash").is_none(),
        "no access token was asked for"
    );
    assert!(get(&fragment, "access_token").is_none());
}

#[tokio::test]
async fn a_missing_nonce_an_unknown_response_type_or_no_openid_scope_is_an_error_in_the_fragment() {
    let p = provider().await;
    for (changes, error) in [
        (vec![("nonce", "")], "invalid_request"),
        (
            vec![("response_type", "id_token code token")],
            "unsupported_response_type",
        ),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("scope", "email profile")], "invalid_scope"),
    ] {
        let (status, location, fragment) = answer(request(&p, &changes)).await;
        assert_eq!(status, 302, "{changes:?}");
        assert!(
            location.unwrap().as_str().starts_with(REDIRECT),
            "{changes:?}"
        );
        assert_eq!(get(&fragment, "error"), Some(error), "{changes:?}");
        assert_eq!(get(&fragment, "state"), Some("s-1"), "{changes:?}");
        assert!(get(&fragment, "id_token").is_none(), "{changes:?}");
    }
    // No response type at all names no flow that answers in the fragment:
    // the error goes in the query, as the code flow's do.
    let (status, location, fragment) = answer(request(&p, &[("response_type", "")])).await;
    assert_eq!(status, 302);
    assert!(fragment.is_empty());
    let query: Vec<(String, String)> = location.unwrap().query_pairs().into_owned().collect();
    assert_eq!(get(&query, "error"), Some("unsupported_response_type"));
}

#[tokio::test]
async fn another_redirect_uri_or_an_unknown_client_gets_a_page_and_no_redirect() {
    let p = provider().await;
    for changes in [
        vec![(
            "redirect_uri",
            "https://odibeidmjmelaphijlikbdjepnnjjfkp.chromiumapp.org/cb",
        )],
        vec![(
            "redirect_uri",
            "https://odibeidmjmelaphijlikbdjepnnjjfkp.chromiumapp.org",
        )],
        vec![(
            "redirect_uri",
            "https://aaaabbbbccccddddeeeeffffgggghhhh.chromiumapp.org/",
        )],
        vec![(
            "redirect_uri",
            "http://odibeidmjmelaphijlikbdjepnnjjfkp.chromiumapp.org/",
        )],
        vec![("redirect_uri", "https://evil.example/")],
        vec![("redirect_uri", WEB_REDIRECT)],
        vec![("client_id", "unknown-client")],
        vec![("client_id", WEB_CLIENT)],
    ] {
        let (status, location, _) = answer(request(&p, &changes)).await;
        assert_eq!(status, 400, "{changes:?}");
        assert!(location.is_none(), "{changes:?}");
    }
}

#[tokio::test]
async fn a_web_client_cannot_use_the_implicit_flow_nor_an_extension_client_the_token_endpoint() {
    let p = provider().await;
    let mut url = Url::parse(&format!("{}/o/oauth2/v2/auth", p.issuer())).unwrap();
    url.query_pairs_mut().extend_pairs([
        ("client_id", WEB_CLIENT),
        ("response_type", "id_token"),
        ("redirect_uri", WEB_REDIRECT),
        ("scope", "openid email"),
        ("nonce", "n"),
    ]);
    let (status, location, fragment) = answer(url).await;
    assert_eq!(status, 302);
    assert!(location.unwrap().as_str().starts_with(WEB_REDIRECT));
    assert_eq!(get(&fragment, "error"), Some("unauthorized_client"));

    // The extension's client is public: no secret, not even an empty one,
    // opens the token endpoint.
    let response = http()
        .post(format!("{}/token", p.issuer()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "whatever"),
            ("client_id", EXTENSION_CLIENT),
            ("client_secret", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn the_sign_in_form_checks_the_posted_request_again() {
    let p = MockProvider::builder()
        .extension_client(EXTENSION_CLIENT, EXTENSION_ID)
        .interactive(true)
        .start()
        .await
        .unwrap();
    let form = request(&p, &[]);
    let page = http().get(form.clone()).send().await.unwrap();
    assert_eq!(page.status(), 200, "the sign-in form");
    let body = page.text().await.unwrap();
    assert!(
        body.contains(r#"name="nonce""#),
        "the nonce travels in the form"
    );

    let post = |fields: Vec<(String, String)>| {
        let p = &p;
        async move {
            let response = http()
                .post(format!("{}/o/oauth2/v2/auth", p.issuer()))
                .form(&fields)
                .send()
                .await
                .unwrap();
            let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
            let fragment: Vec<(String, String)> =
                url::form_urlencoded::parse(location.fragment().unwrap_or_default().as_bytes())
                    .into_owned()
                    .collect();
            fragment
        }
    };
    let mut fields: Vec<(String, String)> = form.query_pairs().into_owned().collect();
    fields.push(("email".into(), "bob@example.com".into()));
    fields.push(("action".into(), "approve".into()));
    let approved = post(fields.clone()).await;
    let claims = jwt_payload(get(&approved, "id_token").expect("an ID token"));
    assert_eq!(claims["email"], "bob@example.com");
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");

    fields.retain(|(n, _)| n != "nonce");
    let forged = post(fields).await;
    assert_eq!(get(&forged, "error"), Some("invalid_request"));
    assert!(get(&forged, "id_token").is_none());
}

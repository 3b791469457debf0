// Over 400 lines: every flow against one external provider process, which the tests share; splitting would start it once per file.
//! The whole sign-in against a certified OpenID Provider: panva's
//! `oidc-provider` (OpenID Certified), run by `tests/oidc-provider/server.mjs`
//! on loopback in its default, spec-conformant configuration. Its login and
//! consent forms (the dev interactions) are filled in by the test browser.
//!
//! What it proves that the mock cannot: claims for `email`/`profile` come
//! from UserInfo only (Core 5.4), refresh tokens only through the
//! provider's own rules (`offline_access` with `prompt=consent`), RFC 9207
//! `iss` in every authorization response, RFC 7009 revocation,
//! RP-initiated logout with the provider's confirmation form, and
//! back-channel logout (its logout tokens end our session).
//!
//! Needs Node.js and `npm ci --prefix tests/oidc-provider`; without them
//! the tests print why and skip, unless `CERTIFIED_PROVIDER_REQUIRED=1`
//! (set by `.ci/run`), when they fail.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use integration_tests::app::ExternalProvider;
use integration_tests::browser::Page;
use integration_tests::sign_in::{interaction_form, urls};
use integration_tests::{logs, Browser, Landing, ProviderPages, SignIn, TestApp, TestOptions};
use serde_json::json;

const ALICE: &str = "alice@example.com";
const CLIENT_ID: &str = "public-service";

/// The provider as a child process, killed when dropped.
struct CertifiedProvider {
    child: Child,
    issuer: String,
    /// The event lines it printed since it started (`server.mjs`).
    events: Arc<Mutex<Vec<String>>>,
}

impl CertifiedProvider {
    /// How many times it printed `line` so far.
    fn count(&self, line: &str) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|l| *l == line)
            .count()
    }

    /// Waits (briefly) for the count of `line` to reach `at_least`: the
    /// provider prints after it answered, so the line may trail the answer.
    async fn wait_for(&self, line: &str, at_least: usize) -> usize {
        for _ in 0..50 {
            if self.count(line) >= at_least {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.count(line)
    }
}

impl Drop for CertifiedProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skip(reason: &str) -> Option<CertifiedProvider> {
    if std::env::var("CERTIFIED_PROVIDER_REQUIRED").as_deref() == Ok("1") {
        panic!("the certified provider is required here: {reason}");
    }
    integration_tests::skipped(format_args!(
        "{reason} (run `npm ci --prefix tests/oidc-provider`)"
    ));
    None
}

fn start_provider(auth_port: u16, client_secret: &str) -> Option<CertifiedProvider> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc-provider");
    if !dir.join("node_modules/oidc-provider").is_dir() {
        return skip("tests/oidc-provider/node_modules is not installed");
    }
    let port = integration_tests::ports::for_a_child();
    let auth = format!("http://{}:{auth_port}", integration_tests::app::AUTH_HOST);
    let child = Command::new("node")
        .arg("server.mjs")
        .current_dir(&dir)
        .env("PORT", port.to_string())
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", client_secret)
        .env("REDIRECT_URI", format!("{auth}/callback"))
        .env("POST_LOGOUT_REDIRECT_URI", format!("{auth}/signed-out"))
        // Node resolves no test host names: the loopback address.
        .env(
            "BACKCHANNEL_LOGOUT_URI",
            format!("http://127.0.0.1:{auth_port}/backchannel-logout"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return skip(&format!("node could not be started: {e}")),
    };
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    // The script prints one line once it listens.
    let ready = lines.next().and_then(Result::ok).unwrap_or_default();
    let Some(issuer) = ready.strip_prefix("listening ").map(str::to_owned) else {
        let _ = child.kill();
        panic!("the certified provider did not start: {ready:?}");
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    Some(CertifiedProvider {
        child,
        issuer,
        events,
    })
}

/// The deployment signing in at the certified provider.
async fn deployment(options: TestOptions) -> Option<(TestApp, CertifiedProvider)> {
    let auth_listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let auth_port = auth_listener.local_addr().unwrap().port();
    let secret = service_kit::random::url_safe_token(32);
    let provider = start_provider(auth_port, &secret)?;
    let app = TestApp::spawn_with(TestOptions {
        external_provider: Some(ExternalProvider {
            issuer: provider.issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: secret,
            auth_listener,
        }),
        offline_access: "offline_access",
        ..options
    })
    .await;
    Some((app, provider))
}

/// A sign-in as Alice at the app's home page in `browser` through the
/// provider's login and consent forms.
fn alice_signing_in<'a>(app: &'a TestApp, browser: &Browser) -> SignIn<'a> {
    app.signing_in(ALICE)
        .in_browser(browser)
        .through(ProviderPages::LoginAndConsentForms)
}

async fn broker(app: &TestApp, subject: &str) -> integration_tests::app::BrokerAnswer {
    let caller = app.caller_token(integration_tests::app::BROKER_CALLER);
    app.broker(
        Some(&caller),
        json!({ "subject": subject, "scopes": ["email"] }),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_claims_from_userinfo_offline_access_and_a_broker_refresh() {
    let Some((app, provider)) = deployment(TestOptions::default()).await else {
        return;
    };
    let browser = app.browser();
    let hops = alice_signing_in(&app, &browser)
        .landing(Landing::ShowsEmail)
        .run()
        .await
        .hops;

    // Every authorization response carried the provider's `iss` (RFC 9207).
    let callbacks: Vec<&Page> = hops
        .iter()
        .filter(|p| p.url.path() == "/callback")
        .collect();
    assert!(!callbacks.is_empty());
    for callback in &callbacks {
        let iss = callback.url.query_pairs().find(|(k, _)| k == "iss");
        assert_eq!(
            iss.map(|(_, v)| v.into_owned()).as_deref(),
            Some(app_issuer(&app).as_str())
        );
    }
    // No refresh token without `prompt=consent`: the service went back once
    // with it, and got one.
    let authorizations: Vec<&Page> = hops.iter().filter(|p| p.url.path() == "/auth").collect();
    assert_eq!(authorizations.len(), 2, "{:?}", urls(&hops));
    let second = authorizations[1]
        .url
        .query_pairs()
        .any(|(k, v)| k == "prompt" && v == "consent");
    assert!(second, "{}", authorizations[1].url);
    assert!(app.stored_refresh_token_of(ALICE).await.is_some());

    // The access token from the sign-in, then a refresh at the provider.
    let answer = broker(&app, ALICE).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    app.advance_time(Duration::from_secs(3600));
    let refreshes = provider.count(REFRESHED);
    let refreshed = broker(&app, ALICE).await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    assert_ne!(refreshed.access_token(), answer.access_token());
    assert_eq!(
        provider.wait_for(REFRESHED, refreshes + 1).await,
        refreshes + 1,
        "one refresh at the provider's token endpoint"
    );
    logs::assert_no_service_panics();
}

fn app_issuer(app: &TestApp) -> String {
    app.configured_provider_issuer()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_checks_the_grant_at_the_provider() {
    let Some((app, provider)) = deployment(TestOptions {
        renewal_checks_grant: true,
        handoff_ttl: Duration::from_secs(60),
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    let browser = app.browser();
    alice_signing_in(&app, &browser)
        .landing(Landing::ShowsEmail)
        .run()
        .await;
    let refreshes = provider.count(REFRESHED);

    // The grant lives: renewal asks the provider's token endpoint (one
    // refresh) and renews without a trip to its authorization endpoint.
    let before = browser.cookie(&app.handoff_cookie()).unwrap().value;
    app.advance_time(Duration::from_secs(120));
    let hops = browser.navigate(&app.app("/")).await;
    let last = hops.last().unwrap();
    assert_eq!(last.status, 200, "{:?}", urls(&hops));
    assert!(
        hops.iter().any(|p| p.url.path() == "/renew"),
        "{:?}",
        urls(&hops)
    );
    assert!(
        !hops.iter().any(|p| p.url.path() == "/auth"),
        "renewal went back to the provider's sign-in: {:?}",
        urls(&hops)
    );
    assert_eq!(
        provider.wait_for(REFRESHED, refreshes + 1).await,
        refreshes + 1,
        "renewal did not ask the provider's token endpoint"
    );
    let renewed = browser.cookie(&app.handoff_cookie()).unwrap().value;
    assert_ne!(renewed, before);

    // The user's grant is revoked at the provider (RFC 7009 revocation of
    // the refresh token ends the grant there: `revokeGrantPolicy`). The
    // next renewal finds out at the token endpoint and goes back to the
    // provider for consent instead of renewing silently.
    let revoked_token = app.stored_refresh_token_of(ALICE).await.unwrap();
    let revocations = provider.count("grant.revoked");
    assert_eq!(revoke_at(&app, &revoked_token).await, 200);
    assert_eq!(
        provider.wait_for("grant.revoked", revocations + 1).await,
        revocations + 1
    );
    let refused = provider.count(REFUSED);
    app.advance_time(Duration::from_secs(120));
    let hops = alice_signing_in(&app, &browser)
        .landing(Landing::ShowsEmail)
        .run()
        .await
        .hops;
    assert!(provider.wait_for(REFUSED, refused + 1).await > refused);
    let renew_at = hops
        .iter()
        .position(|p| p.url.path() == "/renew")
        .unwrap_or_else(|| panic!("no renewal: {:?}", urls(&hops)));
    let authorization = hops[renew_at..]
        .iter()
        .find(|p| p.url.path() == "/auth")
        .unwrap_or_else(|| panic!("renewed without the provider: {:?}", urls(&hops)));
    assert!(
        authorization
            .url
            .query_pairs()
            .any(|(k, v)| k == "prompt" && v == "consent"),
        "{}",
        authorization.url
    );
    assert!(
        hops.iter()
            .any(|p| interaction_form(p, "consent").is_some()),
        "the provider did not ask for consent again: {:?}",
        urls(&hops)
    );
    assert_ne!(
        browser.cookie(&app.handoff_cookie()).unwrap().value,
        renewed
    );
    // A new grant, with a new refresh token that works.
    let new_token = app.stored_refresh_token_of(ALICE).await.unwrap();
    assert_ne!(new_token, revoked_token);
    assert_eq!(refresh_at(&app, &new_token).await, 200);
    assert_eq!(refresh_at(&app, &revoked_token).await, 400);
}

/// What `server.mjs` prints for a refresh its token endpoint granted.
const REFRESHED: &str = "grant.success refresh_token";
/// And for one it refused because the grant is gone.
const REFUSED: &str = "grant.error refresh_token invalid_grant";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denial_at_the_provider_gets_the_cancelled_page() {
    let Some((app, _provider)) = deployment(TestOptions::default()).await else {
        return;
    };
    let browser = app.browser();
    let mut page = browser.get(&app.app("/")).await;
    // Up to the provider's login form, then its "Cancel" link.
    for _ in 0..10 {
        match page.next_url() {
            Some(url) => page = browser.get(url.as_str()).await,
            None => break,
        }
    }
    let abort = abort_link(&page).unwrap_or_else(|| panic!("no cancel link: {}", page.body));
    let hops = browser.navigate(abort.as_str()).await;
    let last = hops.last().unwrap();
    assert_eq!(last.url.path(), "/callback");
    assert_eq!(last.status, 403, "{}", last.body);
    assert!(last.body.contains("cancelled"), "{}", last.body);
    assert!(browser.cookie(&app.handoff_cookie()).is_none());
}

fn abort_link(page: &Page) -> Option<url::Url> {
    let end = page.body.find("/abort\"")? + "/abort".len();
    let start = page.body[..end].rfind("href=\"")? + "href=\"".len();
    page.url.join(&page.body[start..end]).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_revokes_the_token_and_ends_the_provider_session() {
    let Some((app, _provider)) = deployment(TestOptions {
        sign_out_revokes_grant: true,
        sign_out_at_provider: true,
        ..TestOptions::default()
    })
    .await
    else {
        return;
    };
    let browser = app.browser();
    alice_signing_in(&app, &browser)
        .landing(Landing::ShowsEmail)
        .run()
        .await;
    let refresh_token = app.stored_refresh_token_of(ALICE).await.unwrap();

    let out = browser
        .post_form(
            &app.auth("/logout"),
            &[],
            &[("origin", &app.app_audience())],
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    let to_provider = out.refresh_target().unwrap();
    assert!(
        to_provider.path().starts_with("/session/end"),
        "{to_provider}"
    );
    // The provider asks for confirmation (its form posts an `xsrf`).
    let confirm = browser.get(to_provider.as_str()).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let action = form_by_id(&confirm, "op.logoutForm").expect("the logout form");
    let xsrf = hidden_value(&confirm, "xsrf").expect("the xsrf field");
    let done = browser
        .post_form(action.as_str(), &[("xsrf", &xsrf), ("logout", "yes")], &[])
        .await;
    let hops = alice_signing_in(&app, &browser)
        .continuing_from(done)
        .run()
        .await
        .hops;
    let last = hops.last().unwrap();
    assert_eq!(last.url.path(), "/signed-out", "{:?}", urls(&hops));
    assert_eq!(last.status, 200);

    // The refresh token is dead at the provider: a refresh with it fails.
    let status = refresh_at(&app, &refresh_token).await;
    assert_eq!(status, 400, "a revoked refresh token still works");
    assert_eq!(broker(&app, ALICE).await.error(), "consent_required");
    // And the provider's own session is over: a new sign-in asks to log in.
    let hops = alice_signing_in(&app, &browser).run().await.hops;
    assert!(
        hops.iter().any(|p| interaction_form(p, "login").is_some()),
        "{:?}",
        urls(&hops)
    );
}

/// The user signs out at the provider itself (its end-session endpoint and
/// confirmation form, nothing of ours): the provider posts a logout token
/// (OpenID Connect Back-Channel Logout 1.0) to our
/// `/backchannel-logout`, which ends our session of that provider session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_at_the_provider_ends_our_session_through_the_back_channel() {
    let Some((app, provider)) = deployment(TestOptions::default()).await else {
        return;
    };
    let discovery = discovery(&app).await;
    assert_eq!(discovery["backchannel_logout_supported"], true);
    let browser = app.browser();
    alice_signing_in(&app, &browser)
        .landing(Landing::ShowsEmail)
        .run()
        .await;
    let cookie = browser.cookie("__Host-session").expect("a session");
    let session_id = cookie.value.split('.').next().unwrap().to_owned();
    let store = app.store().await;
    let stored = store.session(&session_id).await.unwrap().unwrap();
    assert!(
        stored.provider_sid.is_some(),
        "the ID token's sid is stored"
    );
    assert_eq!(stored.revoked_at, None);

    let mut end_session: url::Url = discovery["end_session_endpoint"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    end_session
        .query_pairs_mut()
        .append_pair("client_id", CLIENT_ID);
    let confirm = browser.get(end_session.as_str()).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let action = form_by_id(&confirm, "op.logoutForm").expect("the logout form");
    let xsrf = hidden_value(&confirm, "xsrf").expect("the xsrf field");
    let delivered = provider.count("backchannel.success");
    let done = browser
        .post_form(action.as_str(), &[("xsrf", &xsrf), ("logout", "yes")], &[])
        .await;
    assert!(done.status.as_u16() < 500, "{}", done.body);
    assert_eq!(
        provider
            .wait_for("backchannel.success", delivered + 1)
            .await,
        delivered + 1,
        "the provider's logout token was not taken: {:?}",
        provider.events.lock().unwrap()
    );
    let ended = store.session(&session_id).await.unwrap().unwrap();
    assert!(
        ended.revoked_at.is_some(),
        "our session outlived the provider's"
    );
    // The app learns it from the revocation feed and refuses the browser's
    // handoff token.
    let mut refused = false;
    for _ in 0..30 {
        if browser.get_json(&app.app("/api/me")).await.status == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the app still takes the ended session's token");
    logs::assert_no_service_panics();
}

fn form_by_id(page: &Page, id: &str) -> Option<url::Url> {
    let at = page.body.find(&format!("id=\"{id}\""))?;
    let form_start = page.body[..at].rfind("<form")?;
    let rest = &page.body[form_start..];
    let start = rest.find("action=\"")? + "action=\"".len();
    let end = start + rest[start..].find('"')?;
    page.url.join(&rest[start..end].replace("&amp;", "&")).ok()
}

fn hidden_value(page: &Page, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.body.find(&marker)? + marker.len();
    let end = start + page.body[start..].find('"')?;
    Some(page.body[start..end].to_owned())
}

async fn discovery(app: &TestApp) -> serde_json::Value {
    reqwest::get(format!(
        "{}/.well-known/openid-configuration",
        app.configured_provider_issuer()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap()
}

/// Revokes `refresh_token` at the provider (RFC 7009) as our client.
async fn revoke_at(app: &TestApp, refresh_token: &str) -> u16 {
    let discovery = discovery(app).await;
    reqwest::Client::new()
        .post(discovery["revocation_endpoint"].as_str().unwrap())
        .basic_auth(CLIENT_ID, Some(&app.client_secret))
        .form(&[
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A refresh at the provider's token endpoint with our client's secret.
async fn refresh_at(app: &TestApp, refresh_token: &str) -> u16 {
    let discovery = discovery(app).await;
    reqwest::Client::new()
        .post(discovery["token_endpoint"].as_str().unwrap())
        .basic_auth(CLIENT_ID, Some(&app.client_secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

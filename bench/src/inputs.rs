//! What the rows send, obtained the way real clients obtain it: a signed-in
//! browser's cookies from a real sign-in through the mock provider, ID
//! tokens from the provider (as Google would issue them to an extension
//! and to service accounts), and a grant whose access token the broker
//! has cached after one call.

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use mock_provider::MockUser;
use reqwest::header::{AUTHORIZATION, COOKIE, LOCATION};
use reqwest::Client;
use serde_json::json;
use url::Url;

use crate::browser::{excerpt, Browser};
use crate::stack::{self, Stack};

/// The binding verifier of the benchmark's codes (a browser keeps its own
/// in a cookie on the app; the benchmark redeems as the app would).
const BENCH_VERIFIER: &str = "benchbenchbenchbenchbenchbenchbenchbenchben";

#[derive(Clone)]
pub struct Inputs {
    /// The app's `Cookie` header after sign-in (the handoff cookie).
    pub app_cookie: String,
    /// The handoff cookie's name and value (the token) on its own.
    pub handoff_cookie_name: String,
    pub handoff_token: String,
    /// The public service's `Cookie` header (the session cookie).
    pub session_cookie: String,
    /// A person's ID token for the extension's client id.
    pub person_id_token: String,
    /// The broker caller's service-account ID token for the public service.
    pub broker_caller_token: String,
    /// The app's service-account ID token for the public service.
    pub app_caller_token: String,
    /// The broker request for the signed-in person.
    pub broker_body: String,
    pub app_url: String,
    pub public_url: String,
}

impl Inputs {
    pub async fn prepare(stack: &Stack, client: &Client) -> anyhow::Result<Self> {
        let (public_url, app_url) = (stack.public.server.url(), stack.app.server.url());
        let mut browser = Browser::new(client.clone());
        browser
            .open(&format!("{app_url}/"))
            .await
            .context("the first sign-in")?;
        let app_cookie = browser
            .cookie_header(&app_url)
            .context("no handoff cookie after sign-in")?;
        let handoff_cookie_name = handoff_guard::HOST_ONLY_NAME.to_owned();
        let handoff_token = browser
            .cookie(&app_url, &handoff_cookie_name)
            .with_context(|| format!("no {handoff_cookie_name} cookie after sign-in"))?;
        let session_cookie = browser
            .cookie_header(&public_url)
            .context("no session cookie after sign-in")?;
        let provider = &stack.provider;
        let person = MockUser::new(stack::PERSON);
        let inputs = Self {
            person_id_token: provider.mint_id_token(&person, stack::EXTENSION_CLIENT_ID),
            broker_caller_token: provider
                .mint_service_account_token(stack::BROKER_CALLER, &public_url),
            app_caller_token: provider.mint_service_account_token(stack::APP_ACCOUNT, &public_url),
            broker_body: json!({ "subject": person.sub, "scopes": ["email"] }).to_string(),
            app_cookie,
            handoff_cookie_name,
            handoff_token,
            session_cookie,
            app_url,
            public_url,
        };
        let response = client
            .post(format!("{}/broker/token", inputs.public_url))
            .header(
                AUTHORIZATION,
                format!("Bearer {}", inputs.broker_caller_token),
            )
            .header("Content-Type", "application/json")
            .body(inputs.broker_body.clone())
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            bail!(
                "the broker refused the first call: {status}: {}",
                excerpt(&body)
            );
        }
        // The answer carries an access token: not kept, not shown.
        let _ = response.bytes().await;
        Ok(inputs)
    }

    /// The browser binding of [`BENCH_VERIFIER`], as the app puts it on
    /// the sign-in redirect with the separate-sites delivery.
    pub fn binding() -> String {
        URL_SAFE_NO_PAD.encode(handoff_guard::login_service::binding_hash(BENCH_VERIFIER))
    }

    /// Stops the run unless `url` answers what the login row says it
    /// measures: a `302` to the provider's authorization endpoint with a
    /// PKCE challenge and a state (with the separate-sites delivery and no
    /// binding, `/login` sends the browser back to the app for one first,
    /// a much cheaper answer).
    pub async fn check_login_redirect(&self, client: &Client, url: &str) -> anyhow::Result<()> {
        let response = client.get(url).send().await?;
        let (status, location) = (response.status(), location(&response));
        let _ = response.bytes().await;
        let to_provider = location.as_ref().is_some_and(|l| {
            let has = |name: &str| l.query_pairs().any(|(k, _)| k == name);
            !l.as_str().starts_with(&self.app_url)
                && !l.as_str().starts_with(&self.public_url)
                && has("code_challenge")
                && has("state")
        });
        if status != reqwest::StatusCode::FOUND || !to_provider {
            bail!(
                "the login row's request answers {status} to {:?}, not a redirect to the provider's authorization endpoint",
                location.map(|l| format!("{}{}", l.origin().ascii_serialization(), l.path()))
            );
        }
        Ok(())
    }

    /// A fresh one-time code for the app: what `/renew` hands a signed-in
    /// browser with the separate-sites delivery, bound to [`BENCH_VERIFIER`].
    pub async fn mint_code(&self, client: &Client) -> anyhow::Result<String> {
        let binding = Self::binding();
        let response = client
            .get(format!("{}/renew", self.public_url))
            .query(&[
                ("return_to", format!("{}/", self.app_url)),
                ("binding", binding),
            ])
            .header(COOKIE, &self.session_cookie)
            .send()
            .await?;
        let (status, location) = (response.status(), location(&response));
        // Read to the end, so the connection goes back to the pool.
        let body = response.bytes().await.unwrap_or_default();
        let code = location.and_then(|l| {
            l.query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
        });
        code.with_context(|| format!("/renew gave no code: {status}: {}", excerpt(&body)))
    }

    /// Redeems `code` as the app does, server to server.
    pub async fn redeem(&self, client: &Client, code: &str) -> anyhow::Result<()> {
        let response = client
            .post(format!("{}/handoff/redeem", self.public_url))
            .header(AUTHORIZATION, format!("Bearer {}", self.app_caller_token))
            .json(&json!({ "code": code, "audience": self.app_url, "verifiers": [BENCH_VERIFIER] }))
            .send()
            .await?;
        let status = response.status();
        // A success carries a handoff token: only a refusal's body is shown.
        let body = response.bytes().await.unwrap_or_default();
        if !status.is_success() {
            bail!("redemption refused: {status}: {}", excerpt(&body));
        }
        Ok(())
    }
}

/// The answer's `Location`, if it is a URL.
fn location(response: &reqwest::Response) -> Option<Url> {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| Url::parse(l).ok())
}

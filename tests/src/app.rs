//! [`TestApp`]: the mock provider, the public service and the private app,
//! each on a random loopback port, wired together like a deployment that
//! shares the parent domain `example.test`.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::cookie::Key;
use mock_provider::{MockProvider, MockUser};
use private_service::settings::KeySettings;
use public_service::apps::AppRegistry;
use public_service::policy::AccessPolicy;
use public_service::settings::{ClientAuthMethod, HandoffSettings, ProviderSettings};
use secrecy::SecretString;
use shared::clock::OffsetClock;
use shared::jwks::RemoteJwksOptions;
use shared::keys::SigningKey;
use shared::HandoffClaims;
use url::Url;

use crate::browser::{Browser, Page};
use crate::{logs, tokens};

pub const PARENT_DOMAIN: &str = "example.test";
pub const AUTH_HOST: &str = "auth.example.test";
pub const APP_HOST: &str = "app.example.test";
pub const CLIENT_ID: &str = "test-client.apps.example";

/// What a test may change about the deployment.
pub struct TestOptions {
    pub allowed_emails: Vec<String>,
    pub allowed_domains: Vec<String>,
    pub handoff_ttl: Duration,
    pub provider_timeout: Duration,
    pub auth_method: ClientAuthMethod,
    /// The provider answers discovery with 500 until told to behave.
    pub discovery_fails_at_start: bool,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            allowed_emails: vec!["alice@example.com".into()],
            allowed_domains: vec!["corp.example".into()],
            handoff_ttl: Duration::from_secs(600),
            provider_timeout: Duration::from_secs(5),
            auth_method: ClientAuthMethod::ClientSecretBasic,
            discovery_fails_at_start: false,
        }
    }
}

pub struct TestApp {
    pub provider: MockProvider,
    pub auth_url: Url,
    pub app_url: Url,
    pub auth_addr: SocketAddr,
    pub app_addr: SocketAddr,
    pub client_secret: String,
    /// The public service's clock, to age transactions without sleeping.
    pub public_clock: OffsetClock,
    signing_pem: String,
    kid: String,
}

fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("a free loopback port")
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(TestOptions::default()).await
    }

    pub async fn spawn_with(options: TestOptions) -> Self {
        logs::install();
        let (provider_listener, auth_listener, app_listener) = (bind(), bind(), bind());
        let auth_addr = auth_listener.local_addr().unwrap();
        let app_addr = app_listener.local_addr().unwrap();
        let auth_url = Url::parse(&format!("http://{AUTH_HOST}:{}", auth_addr.port())).unwrap();
        let app_url = Url::parse(&format!("http://{APP_HOST}:{}", app_addr.port())).unwrap();
        let client_secret = shared::random::url_safe_token(24);
        let redirect_uri = format!("{}callback", auth_url);

        let provider = MockProvider::builder()
            .client(CLIENT_ID, &client_secret, &[redirect_uri.as_str()])
            .listener(provider_listener)
            .start()
            .await
            .expect("the mock provider starts");
        if options.discovery_fails_at_start {
            provider.misbehave(mock_provider::Misbehaviour::DiscoveryStatus(500));
        }

        let signing_pem = tokens::new_p256_pem();
        let signing_key = SigningKey::from_pem(&SecretString::from(signing_pem.clone())).unwrap();
        let kid = signing_key.kid().to_owned();
        let public_clock = OffsetClock::default();

        let public_settings = public_service::settings::Settings {
            bind_address: "127.0.0.1".into(),
            port: 0,
            public_url: auth_url.clone(),
            provider: ProviderSettings {
                issuer_url: Url::parse(&provider.issuer()).unwrap(),
                display_name: "Mock".into(),
                client_id: CLIENT_ID.into(),
                client_secret: SecretString::from(client_secret.clone()),
                auth_method: options.auth_method,
                scopes: vec!["openid".into(), "email".into(), "profile".into()],
                timeout: options.provider_timeout,
                connect_timeout: Duration::from_secs(2),
                jwks_refetch_interval: Duration::from_secs(1),
            },
            apps: AppRegistry::parse(
                &[app_url.origin().ascii_serialization()],
                Some(PARENT_DOMAIN),
                &auth_url,
            )
            .unwrap(),
            policy: AccessPolicy::new(options.allowed_emails, options.allowed_domains, [], false),
            handoff: HandoffSettings {
                signing_key,
                previous_keys: vec![],
                ttl: options.handoff_ttl,
                cookie_domain: Some(PARENT_DOMAIN.into()),
            },
            cookie_key: Key::generate(),
            login_timeout: Duration::from_secs(600),
            dev_mode: false,
            workers: 1,
        };
        let public = public_service::startup::Application::build_with(
            public_settings,
            Some(auth_listener),
            Arc::new(public_clock.clone()),
        )
        .await
        .expect("the public service starts");
        tokio::spawn(public.run_until_stopped());

        let private_settings = private_service::settings::Settings {
            bind_address: "127.0.0.1".into(),
            port: 0,
            app_url: app_url.clone(),
            auth_url: auth_url.clone(),
            keys: KeySettings::Remote {
                // The app reaches the public service on loopback directly.
                jwks_url: Url::parse(&format!("http://{auth_addr}/.well-known/jwks.json")).unwrap(),
                options: RemoteJwksOptions {
                    min_refetch_interval: Duration::from_secs(1),
                    ..RemoteJwksOptions::default()
                },
            },
            workers: 1,
        };
        let private =
            private_service::startup::Application::build_with(private_settings, Some(app_listener))
                .await
                .expect("the private app starts");
        tokio::spawn(private.run_until_stopped());

        Self {
            provider,
            auth_url,
            app_url,
            auth_addr,
            app_addr,
            client_secret,
            public_clock,
            signing_pem,
            kid,
        }
    }

    /// A browser that finds the test hosts.
    pub fn browser(&self) -> Browser {
        Browser::new(&[(AUTH_HOST, self.auth_addr), (APP_HOST, self.app_addr)])
    }

    pub fn auth(&self, path_and_query: &str) -> String {
        format!(
            "http://{AUTH_HOST}:{}{path_and_query}",
            self.auth_addr.port()
        )
    }

    pub fn app(&self, path_and_query: &str) -> String {
        format!("http://{APP_HOST}:{}{path_and_query}", self.app_addr.port())
    }

    pub fn app_audience(&self) -> String {
        self.app_url.origin().ascii_serialization()
    }

    pub fn issuer(&self) -> String {
        self.auth_url.as_str().trim_end_matches('/').to_owned()
    }

    /// Opens the app's home page as `email` and follows every redirect.
    pub async fn sign_in(&self, browser: &Browser, email: &str) -> Vec<Page> {
        self.provider.set_user(MockUser::new(email));
        browser.navigate(&self.app("/")).await
    }

    /// Starts a sign-in and stops at the provider's redirect back to the
    /// callback, returning that callback URL without visiting it.
    pub async fn callback_url_for(&self, browser: &Browser, email: &str) -> String {
        self.provider.set_user(MockUser::new(email));
        let login = browser
            .get(&self.auth(&format!("/login?return_to={}", self.app_url)))
            .await;
        assert_eq!(login.status, 302, "login did not redirect: {}", login.body);
        let authorize = browser.get(login.location().unwrap().as_str()).await;
        assert!(
            authorize.is_redirect(),
            "the provider did not redirect: {}",
            authorize.body
        );
        authorize.location().unwrap().to_string()
    }

    /// Claims a valid handoff token for this app would carry.
    pub fn claims_for(&self, email: &str) -> HandoffClaims {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        HandoffClaims {
            iss: self.issuer(),
            aud: self.app_audience(),
            sub: MockUser::new(email).sub,
            email: email.into(),
            name: None,
            sid: shared::random::url_safe_token(16),
            iat: now,
            nbf: now,
            exp: now + 300,
            jti: shared::random::url_safe_token(16),
        }
    }

    /// Signs with the public service's real key: what a leaked key could do.
    pub fn sign(&self, claims: &HandoffClaims) -> String {
        tokens::sign_es256(&self.signing_pem, &self.kid, claims)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn signing_pem(&self) -> &str {
        &self.signing_pem
    }
}

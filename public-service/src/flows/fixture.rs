//! The service's real components over an in-memory SQLite store and a
//! clock the test moves, for the flows' unit tests. The provider is never
//! reached: its issuer is an address nothing listens on.

use std::sync::Arc;

use actix_web::test::TestRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use handoff_guard::OffsetClock;
use service_kit::config::Env;

use crate::apps::ReturnTo;
use crate::boundary::AppCaller;
use crate::delivery::{hand_off, BrowserBinding};
use crate::policy::Identity;
use crate::settings::Settings;
use crate::state::AppState;
use crate::store::{SessionRecord, Store, StoreOptions};

pub const APP: &str = "https://app.example.com";
pub const OTHER_APP: &str = "https://other.example.net";
pub const APP_ACCOUNT: &str = "app@project.iam.gserviceaccount.com";
pub const OTHER_ACCOUNT: &str = "other@project.iam.gserviceaccount.com";

pub struct Fixture {
    pub state: AppState,
    pub clock: OffsetClock,
}

/// The service with code delivery, two apps with a service account each.
pub async fn with_code_delivery() -> Fixture {
    let env = Env::from_map([
        ("DEV_MODE", "true".to_owned()),
        ("PUBLIC_URL", "https://auth.example.com".to_owned()),
        ("APP_ORIGINS", format!("{APP},{OTHER_APP}")),
        ("HANDOFF_DELIVERY", "code".to_owned()),
        ("OIDC_ISSUER_URL", "http://127.0.0.1:9/".to_owned()),
        ("OIDC_CLIENT_ID", "client".to_owned()),
        ("OIDC_CLIENT_SECRET", "secret".to_owned()),
        ("ALLOWED_DOMAINS", "example.com".to_owned()),
        (
            "APP_SERVICE_ACCOUNTS",
            format!("{APP}={APP_ACCOUNT},{OTHER_APP}={OTHER_ACCOUNT}"),
        ),
    ]);
    let settings = Settings::from_env(&env).expect("valid test settings");
    let store = Store::start("sqlite::memory:", StoreOptions::default())
        .await
        .expect("an in-memory store");
    let clock = OffsetClock::default();
    clock.stop();
    let state = crate::startup::build_state(settings, store.into(), Arc::new(clock.clone()))
        .expect("the service's state");
    Fixture { state, clock }
}

impl Fixture {
    /// A signed-in session of `email` in a browser.
    pub async fn signed_in(&self, email: &str) -> SessionRecord {
        let identity = identity(email);
        let req = TestRequest::default().to_http_request();
        let (session, _cookie) = self
            .state
            .sessions
            .start(&req, &identity, email, None)
            .await
            .expect("a session");
        session
    }

    /// A one-time code for `session` to `APP`, bound to `verifier`.
    pub async fn code_for(&self, session: &SessionRecord, verifier: &str) -> String {
        let return_to: ReturnTo = self
            .state
            .apps
            .return_to(&format!("{APP}/page"))
            .expect("registered");
        let binding = BrowserBinding::parse(
            &URL_SAFE_NO_PAD.encode(handoff_guard::login_service::binding_hash(verifier)),
        )
        .expect("a binding");
        let response = hand_off(
            &self.state,
            &crate::sessions::Sessions::identity(session),
            &session.id,
            &return_to,
            Some(&binding),
            actix_web::HttpResponse::Found(),
        )
        .await
        .expect("handed off");
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("a location");
        url::Url::parse(location)
            .expect("a URL")
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("a code")
    }
}

pub fn identity(email: &str) -> Identity {
    Identity {
        subject: format!("sub-{email}"),
        email: Some(email.to_owned()),
        email_verified: true,
        name: None,
        hosted_domain: None,
    }
}

pub fn caller(account: &str) -> AppCaller {
    AppCaller::authenticated(account.to_owned())
}

/// A verifier as an app makes one: 32 bytes in base64url.
pub fn verifier(seed: u8) -> String {
    URL_SAFE_NO_PAD.encode([seed; 32])
}

//! The handle tests hold, and the builder that starts the server.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};

use crate::google::Dialect;
use crate::routes;
use crate::state::{Client, Decision, Misbehaviour, MockUser, Shared, SigningAlg, State};
use crate::tokens::{id_token, IdTokenRequest};

pub struct MockProviderBuilder {
    clients: Vec<(String, String, Vec<String>)>,
    /// Chrome extensions' clients: (client id, extension id).
    extension_clients: Vec<(String, String)>,
    interactive: bool,
    listener: Option<TcpListener>,
    issuer: Option<String>,
    dialect: Dialect,
}

pub struct MockProvider {
    shared: Arc<Shared>,
    port: u16,
    handle: ServerHandle,
}

impl MockProvider {
    pub fn builder() -> MockProviderBuilder {
        MockProviderBuilder {
            clients: Vec::new(),
            extension_clients: Vec::new(),
            interactive: false,
            listener: None,
            issuer: None,
            dialect: Dialect::default(),
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.shared.lock().dialect
    }

    /// Signs ID tokens with `alg` from now on (ES256 publishes the EC key).
    pub fn sign_with(&self, alg: SigningAlg) {
        self.shared.lock().signing_alg = alg;
    }

    /// The OAuth app is in "testing" publishing status: refresh tokens die
    /// seven days after consent (see [`crate::google`]).
    pub fn set_testing_app(&self, testing: bool) {
        self.shared.lock().testing_app = testing;
    }

    /// Refreshes ignore `scope` and answer with the whole grant, as a
    /// provider that cannot narrow a token would.
    pub fn set_refresh_ignores_scope(&self, on: bool) {
        self.shared.lock().refresh_ignores_scope = on;
    }

    /// The scopes an access token this provider issued carries, in the
    /// spelling the authorization request used; `None` for a token it
    /// does not know.
    pub fn scopes_of_access_token(&self, token: &str) -> Option<Vec<String>> {
        self.shared
            .lock()
            .access_tokens
            .get(token)
            .map(|grant| grant.scopes.clone())
    }

    /// Claims of the `email` and `profile` scopes only from UserInfo.
    pub fn set_claims_only_in_userinfo(&self, on: bool) {
        self.shared.lock().claims_only_in_userinfo = on;
    }

    /// Sends `iss` with authorization responses and advertises it (RFC 9207).
    pub fn set_iss_in_authorization_response(&self, on: bool) {
        self.shared.lock().iss_in_authorization_response = on;
    }

    /// Advertises back-channel logout and puts `sid` in ID tokens (or
    /// not), whatever the dialect does.
    pub fn set_backchannel_logout(&self, on: bool) {
        self.shared.lock().backchannel_logout = Some(on);
    }

    /// `(sub, sid)` of every provider session a sign-in started, oldest first.
    pub fn provider_sessions(&self) -> Vec<(String, String)> {
        self.shared.lock().sessions.clone()
    }

    /// The claims of a valid logout token from this provider for
    /// `audience` (a client id), naming `sub` and/or `sid`.
    pub fn logout_token_claims(
        &self,
        audience: &str,
        sub: Option<&str>,
        sid: Option<&str>,
    ) -> serde_json::Value {
        crate::logout_tokens::claims(&self.shared.lock(), &self.shared.issuer, audience, sub, sid)
    }

    /// `claims` as a logout token signed as `signing` says.
    pub fn sign_logout_token(
        &self,
        claims: &serde_json::Value,
        signing: crate::LogoutSigning,
    ) -> String {
        crate::logout_tokens::sign(&self.shared.lock(), claims, signing)
    }

    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn set_user(&self, user: MockUser) {
        self.shared.lock().user = user;
    }

    pub fn set_decision(&self, decision: Decision) {
        self.shared.lock().decision = decision;
    }

    pub fn misbehave(&self, m: Misbehaviour) {
        self.shared.lock().misbehaviours.push(m);
    }

    pub fn behave(&self) {
        self.shared.lock().misbehaviours.clear();
    }

    pub fn token_endpoint_calls(&self) -> usize {
        self.shared.lock().token_calls
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.shared.lock().jwks_fetches
    }

    /// How many times the discovery document was fetched.
    pub fn discovery_fetches(&self) -> usize {
        self.shared.lock().discovery_fetches
    }

    /// How many times the userinfo endpoint was called.
    pub fn userinfo_calls(&self) -> usize {
        self.shared.lock().userinfo_calls
    }

    pub fn trap_hits(&self) -> usize {
        self.shared.lock().trap_hits
    }

    pub fn consent_prompts(&self) -> usize {
        self.shared.lock().consent_prompts
    }

    pub fn revoked_tokens(&self) -> Vec<String> {
        self.shared.lock().revoked.clone()
    }

    /// The status of each answer of the revocation endpoint so far.
    pub fn revocation_answers(&self) -> Vec<u16> {
        self.shared.lock().revocation_answers.clone()
    }

    /// Every access and refresh token this provider has issued.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.shared.lock().issued.clone()
    }

    /// The refresh tokens of `email` that still work.
    pub fn live_refresh_tokens_of(&self, email: &str) -> Vec<String> {
        self.shared
            .lock()
            .refresh_tokens
            .iter()
            .filter(|(_, grant)| grant.user.email == email)
            .map(|(token, _)| token.clone())
            .collect()
    }

    /// The query parameters of every authorization request so far.
    pub fn authorization_requests(&self) -> Vec<std::collections::HashMap<String, String>> {
        self.shared.lock().authorization_requests.clone()
    }

    pub fn rotate_keys(&self) {
        self.shared.lock().rotate_keys();
    }

    /// Publishes a 1024-bit RSA key (kid [`crate::keys::WEAK_KID`]) beside
    /// the others and signs everything RS256 with it from now on: ID
    /// tokens, minted tokens, logout tokens.
    pub fn sign_with_a_1024_bit_key(&self) {
        self.shared.lock().keys.push(crate::keys::RsaKey::weak());
    }

    pub fn retire_old_keys(&self) {
        let mut state = self.shared.lock();
        let current = state.signing_key().clone();
        let old = std::mem::replace(&mut state.keys, vec![current]);
        let kept = state.keys[0].kid.clone();
        state
            .retired
            .extend(old.into_iter().filter(|k| k.kid != kept));
    }

    /// The `max-age` the JWKS answer carries from now on (3600 at start).
    pub fn set_jwks_max_age(&self, seconds: u64) {
        self.shared.lock().jwks_max_age = seconds;
    }

    pub fn advance_clock(&self, by: Duration) {
        self.shared.lock().clock_offset += by;
    }

    pub fn refresh_token_rotation(&self, on: bool) {
        self.shared.lock().rotation = on;
    }

    /// Simulates the user removing the app's access in their account.
    pub fn revoke_all_grants_of(&self, email: &str) {
        let mut state = self.shared.lock();
        state
            .refresh_tokens
            .retain(|_, grant| grant.user.email != email);
        state
            .access_tokens
            .retain(|_, grant| grant.user.email != email);
        state
            .consents
            .retain(|(sub, _), _| *sub != MockUser::new(email).sub);
    }

    /// A valid ID token for `user` with audience `audience`, as Google
    /// issues to a Chrome extension (`aud` = the extension's client id).
    pub fn mint_id_token(&self, user: &MockUser, audience: &str) -> String {
        self.mint_id_token_from(&self.shared.issuer, user, audience)
    }

    /// The same, claiming another issuer (signed with this provider's key).
    pub fn mint_id_token_from(&self, issuer: &str, user: &MockUser, audience: &str) -> String {
        let state = self.shared.lock();
        id_token(
            &state,
            &IdTokenRequest {
                issuer,
                audience,
                user,
                nonce: None,
                access_token: None,
                sid: None,
            },
        )
    }

    /// An ID token like the one a Google service account presents to
    /// Cloud Run (`aud` = the target URL, `sub` and `azp` its numeric id).
    pub fn mint_service_account_token(&self, email: &str, audience: &str) -> String {
        let account = MockUser {
            name: None,
            ..MockUser::new(email)
        };
        self.mint_id_token(&account, audience)
    }

    /// Where an app finds this provider's stand-in for the metadata server
    /// (tokens of [`Self::set_metadata_account`]'s account).
    pub fn metadata_url(&self) -> String {
        self.shared.issuer.clone()
    }

    /// A metadata server of its own for `account`.
    pub fn metadata_url_for(&self, account: &str) -> String {
        format!("{}/metadata/{account}", self.shared.issuer)
    }

    /// The service account whose tokens the metadata endpoint mints.
    pub fn set_metadata_account(&self, email: &str) {
        self.shared.lock().metadata_account = email.to_owned();
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

impl MockProviderBuilder {
    pub fn client(mut self, client_id: &str, client_secret: &str, redirect_uris: &[&str]) -> Self {
        self.clients.push((
            client_id.to_owned(),
            client_secret.to_owned(),
            redirect_uris.iter().map(|u| (*u).to_owned()).collect(),
        ));
        self
    }

    /// Registers `client_id` as the OAuth client of the Chrome extension
    /// `extension_id`: it may sign in with the implicit ID-token flow, to
    /// the one redirect URI `chrome.identity.getRedirectURL()` gives it,
    /// [`crate::google::extension_redirect_uri`].
    pub fn extension_client(mut self, client_id: &str, extension_id: &str) -> Self {
        self.extension_clients
            .push((client_id.to_owned(), extension_id.to_owned()));
        self
    }

    pub fn interactive(mut self, on: bool) -> Self {
        self.interactive = on;
        self
    }

    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    pub fn issuer(mut self, issuer: &str) -> Self {
        self.issuer = Some(issuer.trim_end_matches('/').to_owned());
        self
    }

    /// Which provider to imitate where providers differ (Google by default).
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    pub async fn start(self) -> anyhow::Result<MockProvider> {
        let listener = match self.listener {
            Some(listener) => listener,
            None => TcpListener::bind("127.0.0.1:0")?,
        };
        let port = listener.local_addr()?.port();
        let mut state = State::new();
        state.dialect = self.dialect;
        for (id, secret, redirect_uris) in self.clients {
            state.clients.insert(
                id,
                Client {
                    secret,
                    redirect_uris,
                    extension: false,
                },
            );
        }
        for (id, extension_id) in self.extension_clients {
            state.clients.insert(
                id,
                Client {
                    // A public client: the implicit flow has no token call.
                    secret: String::new(),
                    redirect_uris: vec![crate::google::extension_redirect_uri(&extension_id)],
                    extension: true,
                },
            );
        }
        let shared = Arc::new(Shared {
            issuer: self
                .issuer
                .unwrap_or_else(|| format!("http://127.0.0.1:{port}")),
            interactive: self.interactive,
            state: Mutex::new(state),
        });
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .configure(routes::configure)
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        tracing::info!(issuer = %shared.issuer, "serving as the OpenID provider, in Google's place");
        Ok(MockProvider {
            shared,
            port,
            handle,
        })
    }
}

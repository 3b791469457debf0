//! What the mock provider remembers. One mutex, never held across `.await`.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::google::Dialect;
use crate::keys::{EcKey, EdKey, RsaKey};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MockUser {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub hd: Option<String>,
}

impl MockUser {
    /// A Google Workspace account: its ID tokens carry `hd`, the domain.
    pub fn workspace(email: &str) -> Self {
        Self {
            hd: email.split('@').nth(1).map(str::to_owned),
            ..Self::new(email)
        }
    }

    /// A verified user whose `sub` is derived from the address, like a
    /// stable Google account id.
    pub fn new(email: &str) -> Self {
        let digest = Sha256::digest(email.to_ascii_lowercase().as_bytes());
        let sub: String = digest[..10]
            .iter()
            .map(|b| format!("{:02}", b % 100))
            .collect();
        let local = email.split('@').next().unwrap_or(email);
        let mut name = local.to_owned();
        if let Some(first) = name.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        Self {
            sub: format!("1{sub}"),
            email: email.to_owned(),
            email_verified: true,
            name: Some(name),
            hd: None,
        }
    }
}

/// The algorithm ID tokens are signed with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SigningAlg {
    #[default]
    Rs256,
    Es256,
    /// RSASSA-PSS with the current RSA key, published a second time under
    /// its own `kid` with `"alg": "PS256"`.
    Ps256,
    /// Ed25519 (RFC 8037), with a key of its own.
    EdDsa,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Misbehaviour {
    WrongNonce,
    WrongAudience,
    WrongIssuer,
    /// Signed by an unpublished key, with the published `kid`.
    BadSignature,
    Expired,
    IssuedInFuture,
    AlgNone,
    /// HS256 keyed with the published RSA public key PEM.
    HsWithPublicKey,
    MultipleAudiencesWithoutAzp,
    AzpMismatch,
    MissingSub,
    NoKid,
    /// Signed by an unpublished key with a `kid` never published.
    UnknownKid,
    /// Signed by the key [`crate::MockProvider::retire_old_keys`] last
    /// took out of the JWKS, with its `kid` (a retired, maybe leaked, key).
    RetiredKey,
    WrongAtHash,
    UnverifiedEmail,
    TokenEndpointStatus(u16),
    TokenEndpointDelay(Duration),
    TokenEndpointGarbage,
    TokenEndpointRedirect,
    DiscoveryStatus(u16),
    DiscoveryDelay(Duration),
    /// `200 application/json` with a truncated document.
    DiscoveryGarbage,
    JwksStatus(u16),
    JwksDelay(Duration),
    /// `200 application/json` with a truncated key set.
    JwksGarbage,
    UserinfoStatus(u16),
    UserinfoDelay(Duration),
    /// `200` with HTML instead of claims.
    UserinfoGarbage,
    /// UserInfo answers for another subject.
    UserinfoWrongSub,
    /// The ID token leaves `email_verified` to UserInfo (so it is asked),
    /// and UserInfo names another, verified address than the ID token's
    /// `email` ([`CONTRADICTING_EMAIL`](crate::CONTRADICTING_EMAIL)).
    UserinfoContradictsEmail,
    /// The authorization response's `iss` (RFC 9207) names another issuer.
    AuthorizationResponseWrongIss,
    /// Discovery advertises `iss` in authorization responses, which lack it.
    AuthorizationResponseNoIss,
}

pub struct Client {
    pub secret: String,
    pub redirect_uris: Vec<String>,
    /// Registered as a Chrome extension's client: the implicit flow
    /// (`response_type=id_token`) to its one redirect URI,
    /// `https://<extension id>.chromiumapp.org/` (see [`crate::google`]).
    pub extension: bool,
}

pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<(String, String)>,
    pub nonce: Option<String>,
    pub user: MockUser,
    pub scopes: Vec<String>,
    pub refresh_due: bool,
    pub expires_at: u64,
}

pub struct AccessGrant {
    pub user: MockUser,
    pub expires_at: u64,
    /// What the token carries: the grant's scopes, or those a refresh
    /// narrowed it to.
    pub scopes: Vec<String>,
}

pub struct RefreshGrant {
    pub user: MockUser,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// When the user consented (a rotated token keeps its grant's time).
    pub issued_at: u64,
}

pub struct State {
    pub clients: HashMap<String, Client>,
    pub user: MockUser,
    pub decision: Decision,
    pub misbehaviours: Vec<Misbehaviour>,
    pub codes: HashMap<String, CodeGrant>,
    pub access_tokens: HashMap<String, AccessGrant>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    /// Scopes each user has granted each client: (sub, client_id).
    pub consents: HashMap<(String, String), HashSet<String>>,
    pub token_calls: usize,
    pub discovery_fetches: usize,
    pub jwks_fetches: usize,
    pub userinfo_calls: usize,
    pub trap_hits: usize,
    pub consent_prompts: usize,
    pub revoked: Vec<String>,
    /// The status of each answer of the revocation endpoint, in order.
    pub revocation_answers: Vec<u16>,
    /// Every access and refresh token issued, for leak checks.
    pub issued: Vec<String>,
    /// The query of every authorization request, in order.
    pub authorization_requests: Vec<HashMap<String, String>>,
    pub clock_offset: Duration,
    /// The service account the metadata-server endpoint mints tokens for.
    pub metadata_account: String,
    pub keys: Vec<RsaKey>,
    /// Keys taken out of the JWKS, oldest first.
    pub retired: Vec<RsaKey>,
    pub keys_made: usize,
    /// The JWKS answer's `Cache-Control: max-age`, in seconds.
    pub jwks_max_age: u64,
    pub rogue: RsaKey,
    pub ec_key: EcKey,
    pub ed_key: EdKey,
    pub rotation: bool,
    pub dialect: Dialect,
    pub signing_alg: SigningAlg,
    /// The OAuth app is in "testing" publishing status: refresh tokens
    /// die seven days after consent.
    pub testing_app: bool,
    /// A refresh ignores its `scope` parameter and answers with every
    /// scope of the grant (a provider that does not narrow).
    pub refresh_ignores_scope: bool,
    /// Claims of the `email` and `profile` scopes only from UserInfo, as
    /// OpenID Connect Core 5.4 has it when an access token is issued.
    pub claims_only_in_userinfo: bool,
    /// `iss` in authorization responses, advertised in discovery (RFC 9207).
    pub iss_in_authorization_response: bool,
    /// Advertise `backchannel_logout_supported` and put a `sid` in ID
    /// tokens; `None`: as the dialect does ([`crate::google::has_backchannel_logout`]).
    pub backchannel_logout: Option<bool>,
    /// The `sid` of every provider session a code exchange started, with
    /// its `sub`, oldest first.
    pub sessions: Vec<(String, String)>,
}

impl State {
    pub fn new() -> Self {
        Self {
            clients: HashMap::new(),
            user: MockUser::new("alice@example.com"),
            decision: Decision::Approve,
            misbehaviours: Vec::new(),
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            consents: HashMap::new(),
            token_calls: 0,
            discovery_fetches: 0,
            jwks_fetches: 0,
            userinfo_calls: 0,
            trap_hits: 0,
            consent_prompts: 0,
            revoked: Vec::new(),
            revocation_answers: Vec::new(),
            issued: Vec::new(),
            authorization_requests: Vec::new(),
            clock_offset: Duration::ZERO,
            metadata_account: "app@project.iam.gserviceaccount.com".into(),
            keys: vec![RsaKey::nth(0)],
            keys_made: 1,
            retired: Vec::new(),
            jwks_max_age: 3600,
            rogue: RsaKey::rogue(),
            ec_key: EcKey::fixture(),
            ed_key: EdKey::fixture(),
            rotation: false,
            dialect: Dialect::default(),
            signing_alg: SigningAlg::default(),
            testing_app: false,
            refresh_ignores_scope: false,
            claims_only_in_userinfo: false,
            iss_in_authorization_response: false,
            backchannel_logout: None,
            sessions: Vec::new(),
        }
    }

    pub fn now(&self) -> u64 {
        (SystemTime::now() + self.clock_offset)
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    pub fn misbehaves(&self, m: &Misbehaviour) -> bool {
        self.misbehaviours.contains(m)
    }

    /// The delay `pick` finds among the misbehaviours, if any.
    pub fn delay(&self, pick: impl Fn(&Misbehaviour) -> Option<Duration>) -> Option<Duration> {
        self.misbehaviours.iter().find_map(pick)
    }

    pub fn signing_key(&self) -> &RsaKey {
        self.keys.last().expect("at least one key is published")
    }

    pub fn rotate_keys(&mut self) {
        let key = RsaKey::nth(self.keys_made);
        self.keys_made += 1;
        self.keys.push(key);
    }

    /// Whether discovery advertises back-channel logout and ID tokens carry `sid`.
    pub fn backchannel_logout(&self) -> bool {
        self.backchannel_logout
            .unwrap_or_else(|| crate::google::has_backchannel_logout(self.dialect))
    }

    pub fn client(&self, client_id: &str) -> Option<&Client> {
        self.clients.get(client_id)
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

pub fn random_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What route handlers share.
pub struct Shared {
    pub issuer: String,
    pub interactive: bool,
    pub state: Mutex<State>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

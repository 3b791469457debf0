// Over 400 lines: the broker's cache, per-user lock and row lease are one protocol whose ordering is the point; reading it whole is safer.
//! The token broker: fresh provider access tokens for signed-in users,
//! minted from their stored refresh tokens, for trusted backends.
//!
//! Three layers keep the provider from being asked more than needed:
//! 1. an in-memory cache per instance, trusted for [`RECHECK_AFTER`] before
//!    the grant row is looked at again (so a revocation by another
//!    instance is seen within that delay);
//! 2. a per-user async lock, so concurrent callers on one instance wait
//!    for one refresh instead of each starting one;
//! 3. the grant row's lease ([`crate::store`]), so instances sharing a
//!    database refresh one at a time, and the access token stored in the
//!    row, so the others reuse the result.
//!
//! A rotated refresh token is stored by the same write that releases the
//! lease, before the access token is handed out; nothing else can use the
//! old one meanwhile. `invalid_grant` marks the grant revoked (unless a
//! sign-in replaced the token in between) and callers get
//! [`BrokerError::ConsentRequired`].
//!
//! Each request says which scopes it wants ([`Wanted`]) and who may be
//! served ([`TokenRequest::admit`]: the access policy and the caller's
//! rules, judged on every call against the grant's e-mail and `hd`). A
//! token wanted for fewer scopes than the grant holds is asked of the
//! provider narrowed to them (RFC 6749 §6, `scope` on the refresh); such
//! tokens live in this instance's memory only, keyed by the scopes asked,
//! while the grant row keeps the token that carries the whole grant.
//!
//! Narrowing is a request the provider may ignore (or that
//! `BROKER_NARROWS_SCOPES=false` never makes), and then the token carries
//! the whole grant under a narrower key. So what a token carries, as the
//! provider reported it, is judged against the caller's rules
//! ([`TokenRequest::handed_to`]) every time one is handed out, from
//! memory, from the grant row or fresh: a token carrying a scope the caller
//! may not have is refused ([`BrokerError::TooBroad`]), never handed out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use handoff_guard::SharedClock;
use secrecy::{ExposeSecret, SecretString};

use url::Url;

use crate::broker_rules::{BrokerRules, CallerRules};
use crate::oidc::{OidcClient, ProviderTokens, RefreshError};
use crate::policy::Identity;
use crate::scopes::{canonicalised, ScopeSet};
use crate::store::{FreshTokens, GrantRecord, SignInGrant, Store, StoreError};
use crate::token_cipher::TokenCipher;

pub struct BrokerSettings {
    /// Service-account e-mails allowed to call the token broker; empty
    /// disables it.
    pub allowed_callers: Vec<String>,
    pub caller_issuers: Vec<String>,
    pub caller_jwks_url: Url,
    /// The audience callers' ID tokens must name: this service's URL.
    pub caller_audience: String,
    /// The scopes and users each caller may get.
    pub rules: BrokerRules,
    /// A token only for a user with a live (valid) session.
    pub requires_session: bool,
    /// Ask the provider for a token carrying only the scopes wanted
    /// (RFC 6749 §6), instead of every scope of the grant. Off, tokens
    /// carry the whole grant, and only callers allowed all of it (or
    /// accepting it, `BROKER_WHOLE_GRANT_CALLERS`) get one.
    pub narrows_scopes: bool,
}

/// An access token is handed out only if it lives at least this long.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// How long a cached token is served before the grant row is re-read.
pub const RECHECK_AFTER: Duration = Duration::from_secs(10);
/// Assumed lifetime when the provider does not say.
const DEFAULT_LIFETIME: u64 = 3600;
/// Entries kept in memory before expired ones are dropped.
const CACHE_CAPACITY: usize = 10_000;
const LEASE_POLL: Duration = Duration::from_millis(100);

/// Narrowed tokens kept per user, of different scope sets.
const TOKENS_PER_USER: usize = 8;

#[derive(Clone)]
pub struct AccessToken {
    pub token: SecretString,
    pub expires_at: u64,
    /// What the token carries, as the provider reported it (or as asked,
    /// when it did not say), in canonical spelling ([`crate::scopes`]).
    pub scopes: Vec<String>,
}

/// The scopes a caller wants a token for.
#[derive(Debug, Clone)]
pub enum Wanted {
    /// Every scope the grant holds (renewal's check).
    Whole,
    /// All of these; the user must consent to those the grant lacks.
    All(Vec<String>),
    /// Those of these the grant holds (at least one).
    AnyOf(Vec<String>),
}

/// Who a grant is for, as the policy and the caller's rules judge them.
pub struct Holder<'a> {
    pub subject: &'a str,
    pub email: &'a str,
    pub hosted_domain: Option<&'a str>,
}

/// Why this caller gets no token for this user, whatever the grant holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The access policy no longer admits the user.
    UserNotAllowed,
    /// The caller's user filter does not name the user.
    SubjectNotAllowed,
}

pub struct TokenRequest<'a> {
    pub subject: &'a str,
    pub wanted: Wanted,
    /// Judged on every call, before any token is handed out or minted.
    pub admit: &'a (dyn Fn(&Holder<'_>) -> Result<(), Refusal> + Sync),
    /// The caller the token is for, whose rules bound what it may carry;
    /// `None`: the token stays here (renewal's check of the grant).
    pub handed_to: Option<&'a CallerRules>,
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The user must sign in (again) and consent: no grant, a revoked
    /// one, or one lacking `missing_scopes`.
    #[error("the user's consent is required")]
    ConsentRequired { missing_scopes: Vec<String> },
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// The provider's token carries `extra_scopes` (canonical names),
    /// which the caller may not have: it did not narrow the token.
    #[error("the token carries scopes beyond the caller's: {extra_scopes:?}")]
    TooBroad { extra_scopes: Vec<String> },
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

/// What this instance knows of one user's grant, and the tokens it holds.
struct Cached {
    email: String,
    hosted_domain: Option<String>,
    /// The grant's scopes.
    scopes: ScopeSet,
    /// The grant row's version the tokens were minted under.
    version: i64,
    checked_at: u64,
    /// By the scopes asked for ([`ScopeSet::to_scope_string`]); a token
    /// may carry more than its key says (a provider that did not narrow),
    /// which [`TokenBroker::access_token`] checks on the way out.
    tokens: HashMap<String, AccessToken>,
}

impl Cached {
    fn holder<'a>(&'a self, subject: &'a str) -> Holder<'a> {
        Holder {
            subject,
            email: &self.email,
            hosted_domain: self.hosted_domain.as_deref(),
        }
    }

    fn token_for(&self, asked: &ScopeSet, now: u64) -> Option<AccessToken> {
        self.tokens
            .get(&asked.to_scope_string())
            .filter(|t| t.expires_at > now + EXPIRY_MARGIN.as_secs())
            .cloned()
    }
}

pub struct TokenBroker {
    store: Store,
    oidc: Arc<OidcClient>,
    cipher: TokenCipher,
    clock: SharedClock,
    /// Held by the refresher for at most the provider timeout and a margin.
    lease_ttl: Duration,
    /// Ask for tokens narrowed to the scopes wanted.
    narrows_scopes: bool,
    cache: Mutex<HashMap<String, Cached>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl TokenBroker {
    pub fn new(
        store: Store,
        oidc: Arc<OidcClient>,
        cipher: TokenCipher,
        clock: SharedClock,
        provider_timeout: Duration,
        narrows_scopes: bool,
    ) -> Self {
        Self {
            store,
            oidc,
            cipher,
            clock,
            lease_ttl: provider_timeout + Duration::from_secs(5),
            narrows_scopes,
            cache: Mutex::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// Stores what a sign-in brought: the (new) refresh token, the access
    /// token, the granted scopes.
    pub async fn record_sign_in(
        &self,
        identity: &Identity,
        email: &str,
        tokens: &ProviderTokens,
    ) -> Result<(), StoreError> {
        let subject = &identity.subject;
        let existing = self.store.grant(subject).await?;
        let mut scopes = canonicalised(&tokens.scopes);
        if tokens.refresh_token.is_none() {
            // The stored refresh token still carries what it carried.
            if let Some(existing) = &existing {
                scopes.extend(existing.scopes.iter().cloned());
                scopes = canonicalised(&scopes);
            }
        }
        let now = self.clock.unix_seconds();
        let expires_at = now + tokens.expires_in.unwrap_or(DEFAULT_LIFETIME);
        let grant = SignInGrant {
            subject: subject.clone(),
            email: email.to_owned(),
            hosted_domain: identity.hosted_domain.clone(),
            scopes,
            refresh_token: tokens.refresh_token.as_ref().map(|t| {
                self.cipher
                    .seal(t.expose_secret(), &refresh_context(subject))
            }),
            access_token: Some((
                self.cipher.seal(
                    tokens.access_token.expose_secret(),
                    &access_context(subject),
                ),
                expires_at,
            )),
        };
        self.store.record_sign_in(&grant, now).await?;
        self.forget(subject);
        Ok(())
    }

    /// Whether the user has a grant a refresh can be attempted with.
    pub async fn has_usable_grant(&self, subject: &str) -> Result<bool, StoreError> {
        Ok(self
            .store
            .grant(subject)
            .await?
            .is_some_and(|g| g.is_usable()))
    }

    /// A token valid for at least [`EXPIRY_MARGIN`] for what `request`
    /// wants, if `request.admit` lets the grant's holder be served and the
    /// token carries nothing beyond `request.handed_to`'s scopes.
    pub async fn access_token(
        &self,
        request: &TokenRequest<'_>,
    ) -> Result<AccessToken, BrokerError> {
        let token = match self.cached(request) {
            Some(answer) => answer?,
            None => self.fetch(request, false).await?,
        };
        // The one way out, whichever layer the token came from.
        if let Some(rules) = request.handed_to {
            let extra_scopes = rules.scopes_beyond(&token.scopes);
            if !extra_scopes.is_empty() {
                return Err(BrokerError::TooBroad { extra_scopes });
            }
        }
        Ok(token)
    }

    /// Refreshes at the provider now, whatever is cached: proves the grant
    /// still works (renewal with `RENEWAL_CHECKS_GRANT`).
    pub async fn check_grant(&self, subject: &str) -> Result<(), BrokerError> {
        let request = TokenRequest {
            subject,
            wanted: Wanted::Whole,
            admit: &|_| Ok(()),
            handed_to: None,
        };
        self.fetch(&request, true).await.map(|_| ())
    }

    /// Revokes the user's refresh token at the provider (when it has a
    /// revocation endpoint) and forgets the grant here.
    pub async fn revoke(&self, subject: &str) -> Result<(), BrokerError> {
        let grant = self.store.grant(subject).await?;
        if let Some(sealed) = grant.as_ref().and_then(|g| g.refresh_token.as_ref()) {
            match self.cipher.open(sealed, &refresh_context(subject)) {
                Ok(refresh_token) => match self.oidc.revoke_refresh_token(&refresh_token).await {
                    Ok(true) => tracing::info!("refresh token revoked at the provider"),
                    Ok(false) => tracing::info!("the provider has no revocation endpoint"),
                    Err(e) => tracing::warn!(reason = %e, "revocation at the provider failed"),
                },
                Err(e) => tracing::warn!(reason = %e, "stored refresh token does not open"),
            }
        }
        self.store
            .revoke_grant(subject, None, self.clock.unix_seconds())
            .await?;
        self.forget(subject);
        Ok(())
    }

    /// The answer from memory, while the grant was read recently enough.
    fn cached(&self, request: &TokenRequest<'_>) -> Option<Result<AccessToken, BrokerError>> {
        let now = self.clock.unix_seconds();
        let cache = self.cache();
        let entry = cache.get(request.subject)?;
        if now >= entry.checked_at + RECHECK_AFTER.as_secs() {
            return None;
        }
        if let Err(refusal) = (request.admit)(&entry.holder(request.subject)) {
            return Some(Err(BrokerError::Refused(refusal)));
        }
        // A scope the grant lacks: the row may have it by now.
        let asked = self.plan(&entry.scopes, &request.wanted).ok()?;
        entry.token_for(&asked, now).map(Ok)
    }

    /// The scopes to ask the provider for: what is wanted of what the
    /// grant holds, or the whole grant when narrowing is off.
    fn plan(&self, granted: &ScopeSet, wanted: &Wanted) -> Result<ScopeSet, BrokerError> {
        let asked: ScopeSet = match wanted {
            Wanted::Whole => return Ok(granted.clone()),
            Wanted::All(scopes) => {
                let missing = granted.missing(scopes);
                if !missing.is_empty() {
                    return Err(BrokerError::ConsentRequired {
                        missing_scopes: missing,
                    });
                }
                scopes.iter().collect()
            }
            Wanted::AnyOf(scopes) => {
                let held: ScopeSet = scopes.iter().filter(|s| granted.contains(s)).collect();
                if held.is_empty() {
                    return Err(BrokerError::ConsentRequired {
                        missing_scopes: scopes.clone(),
                    });
                }
                held
            }
        };
        Ok(if self.narrows_scopes {
            asked
        } else {
            granted.clone()
        })
    }

    async fn fetch(
        &self,
        request: &TokenRequest<'_>,
        mut force: bool,
    ) -> Result<AccessToken, BrokerError> {
        let subject = request.subject;
        let lock = self.lock_for(subject);
        let _single_flight = lock.lock().await;
        if !force {
            if let Some(answer) = self.cached(request) {
                return answer;
            }
        }
        let result = self.fetch_locked(request, &mut force).await;
        drop(_single_flight);
        self.release_lock(subject, &lock);
        result
    }

    async fn fetch_locked(
        &self,
        request: &TokenRequest<'_>,
        force: &mut bool,
    ) -> Result<AccessToken, BrokerError> {
        let subject = request.subject;
        let give_up_at = Instant::now() + self.lease_ttl;
        let mut retried_after_replacement = false;
        loop {
            let now = self.clock.unix_seconds();
            let grant = self.usable_grant(subject, &request.wanted).await?;
            (request.admit)(&holder_of(&grant)).map_err(BrokerError::Refused)?;
            let granted = grant.scope_set();
            let asked = self.plan(&granted, &request.wanted)?;
            let whole = asked == granted;
            if !*force {
                if let Some(token) = self.rearmed(&grant, &asked, now) {
                    return Ok(token);
                }
                if whole {
                    if let Some(token) = self.stored_access_token(&grant, now) {
                        return Ok(self.remember(&grant, grant.version, &granted, &asked, token));
                    }
                }
            }
            let lease_id = service_kit::random::url_safe_token(16);
            let until = now + self.lease_ttl.as_secs();
            match self
                .store
                .take_refresh_lease(subject, &lease_id, now, until)
                .await?
            {
                Some(leased) => {
                    if !*force && whole {
                        if let Some(token) = self.stored_access_token(&leased, now) {
                            // Another instance finished a refresh between our
                            // read and our lease: use its result.
                            self.release(subject, &lease_id).await;
                            let granted = leased.scope_set();
                            return Ok(self.remember(
                                &leased,
                                leased.version,
                                &granted,
                                &asked,
                                token,
                            ));
                        }
                    }
                    match self
                        .refresh_under_lease(&leased, &lease_id, &asked, whole)
                        .await
                    {
                        Err(Replaced) if !retried_after_replacement => {
                            retried_after_replacement = true;
                            continue;
                        }
                        Err(Replaced) => {
                            return Err(BrokerError::Unavailable(
                                "the grant changed twice during one refresh".into(),
                            ))
                        }
                        Ok(result) => return result,
                    }
                }
                None => {
                    // Another instance holds the lease: wait for its result.
                    if Instant::now() >= give_up_at {
                        return Err(BrokerError::Unavailable(
                            "another instance is still refreshing this grant".into(),
                        ));
                    }
                    *force = false;
                    tokio::time::sleep(LEASE_POLL).await;
                }
            }
        }
    }

    async fn usable_grant(
        &self,
        subject: &str,
        wanted: &Wanted,
    ) -> Result<GrantRecord, BrokerError> {
        let missing = || BrokerError::ConsentRequired {
            missing_scopes: match wanted {
                Wanted::All(scopes) => scopes.clone(),
                Wanted::Whole | Wanted::AnyOf(_) => Vec::new(),
            },
        };
        let Some(grant) = self.store.grant(subject).await? else {
            return Err(missing());
        };
        if !grant.is_usable() {
            self.forget(subject);
            return Err(missing());
        }
        Ok(grant)
    }

    /// A token held in memory for `asked`, minted under the grant's
    /// current version: the row was just read, so it counts as re-checked.
    fn rearmed(&self, grant: &GrantRecord, asked: &ScopeSet, now: u64) -> Option<AccessToken> {
        let mut cache = self.cache();
        let entry = cache.get_mut(&grant.subject)?;
        if entry.version != grant.version {
            return None;
        }
        entry.checked_at = now;
        entry.email = grant.email.clone();
        entry.hosted_domain = grant.hosted_domain.clone();
        entry.scopes = grant.scope_set();
        entry.token_for(asked, now)
    }

    fn stored_access_token(&self, grant: &GrantRecord, now: u64) -> Option<AccessToken> {
        let (sealed, expires_at) = grant.access_token.as_ref()?;
        if *expires_at <= now + EXPIRY_MARGIN.as_secs() {
            return None;
        }
        let token = self
            .cipher
            .open(sealed, &access_context(&grant.subject))
            .ok()?;
        Some(AccessToken {
            token,
            expires_at: *expires_at,
            scopes: grant.scopes.clone(),
        })
    }

    /// Refreshes with the leased grant's refresh token. `Err(Replaced)`:
    /// the provider refused a token that a sign-in has since replaced; try
    /// again with the new one.
    /// `whole`: `asked` is the whole grant, and the result is stored in
    /// the row; otherwise the provider is asked for `asked` only.
    async fn refresh_under_lease(
        &self,
        leased: &GrantRecord,
        lease_id: &str,
        asked: &ScopeSet,
        whole: bool,
    ) -> Result<Result<AccessToken, BrokerError>, Replaced> {
        let subject = leased.subject.as_str();
        let Some(sealed) = leased.refresh_token.as_ref() else {
            self.release(subject, lease_id).await;
            return Ok(Err(consent_required()));
        };
        let refresh_token = match self.cipher.open(sealed, &refresh_context(subject)) {
            Ok(token) => token,
            Err(e) => {
                tracing::error!(reason = %e, "a stored refresh token does not open; the user must consent again");
                self.release(subject, lease_id).await;
                return Ok(Err(consent_required()));
            }
        };
        let narrowed_to = (!whole).then(|| asked.to_vec());
        let refreshed = self
            .oidc
            .refresh(&refresh_token, narrowed_to.as_deref(), &leased.scopes)
            .await;
        let outcome = match &refreshed {
            Ok(_) => "ok",
            Err(RefreshError::InvalidGrant) => "invalid_grant",
            Err(RefreshError::Provider(_)) => "failed",
        };
        service_kit::metrics::count(
            "token_refreshes_total",
            "Access-token refreshes at the provider, by outcome.",
            &[("outcome", outcome)],
        );
        match refreshed {
            Ok(tokens) => Ok(self
                .store_refresh(
                    leased,
                    lease_id,
                    Used {
                        sealed,
                        plain: &refresh_token,
                    },
                    tokens,
                    asked,
                    whole,
                )
                .await),
            Err(RefreshError::InvalidGrant) => {
                let now = self.clock.unix_seconds();
                match self
                    .store
                    .revoke_grant(subject, Some(leased.version), now)
                    .await
                {
                    Ok(true) => {
                        tracing::warn!("the provider refused the refresh token (invalid_grant); grant marked revoked");
                        self.forget(subject);
                        Ok(Err(consent_required()))
                    }
                    Ok(false) => {
                        self.release(subject, lease_id).await;
                        Err(Replaced)
                    }
                    Err(e) => {
                        self.release(subject, lease_id).await;
                        Ok(Err(e.into()))
                    }
                }
            }
            Err(RefreshError::Provider(e)) => {
                tracing::warn!(reason = %e, "token refresh failed");
                self.release(subject, lease_id).await;
                Ok(Err(BrokerError::Unavailable(e.to_string())))
            }
        }
    }

    async fn store_refresh(
        &self,
        leased: &GrantRecord,
        lease_id: &str,
        used: Used<'_>,
        tokens: ProviderTokens,
        asked: &ScopeSet,
        whole: bool,
    ) -> Result<AccessToken, BrokerError> {
        let subject = leased.subject.as_str();
        let now = self.clock.unix_seconds();
        let expires_at = now + tokens.expires_in.unwrap_or(DEFAULT_LIFETIME);
        let context = refresh_context(subject);
        let rotated = tokens
            .refresh_token
            .as_ref()
            .map(|t| self.cipher.seal(t.expose_secret(), &context));
        // Re-seal under the newest key while we hold the plaintext anyway.
        let refresh_token = rotated.clone().or_else(|| {
            self.cipher
                .is_stale(used.sealed)
                .then(|| self.cipher.seal(used.plain.expose_secret(), &context))
        });
        // RFC 6749 §5.1: a response without `scope` carries what was asked.
        let carried = if tokens.scopes.is_empty() {
            asked.to_vec()
        } else {
            canonicalised(&tokens.scopes)
        };
        if !whole && !carried.iter().collect::<ScopeSet>().eq(asked) {
            tracing::warn!(
                asked = %asked.to_scope_string(),
                carried = %carried.join(" "),
                "the provider did not narrow the token to the scopes asked for; callers not allowed all it carries are refused it"
            );
        }
        let fresh = FreshTokens {
            access_token: whole.then(|| {
                (
                    self.cipher.seal(
                        tokens.access_token.expose_secret(),
                        &access_context(subject),
                    ),
                    expires_at,
                )
            }),
            scopes: whole.then(|| carried.clone()),
            refresh_token: refresh_token.clone(),
        };
        let finished = self
            .store
            .finish_refresh(subject, lease_id, leased.version, &fresh, now)
            .await?;
        // The row's version after this write, for the tokens kept in memory.
        let mut version = leased.version + i64::from(finished && refresh_token.is_some());
        if !finished {
            // The lease ran out under us (a very slow provider or database).
            // The rotated token is the only valid one now: keep it if no
            // newer token arrived meanwhile.
            if let Some(rotated) = &rotated {
                let kept = self
                    .store
                    .replace_refresh_token(subject, leased.version, rotated, now)
                    .await?;
                if kept {
                    version = leased.version + 1;
                } else {
                    tracing::error!("a rotated refresh token could not be stored; the grant may need consent again");
                }
            }
        }
        tracing::info!(
            rotated = rotated.is_some(),
            narrowed = !whole,
            "access token refreshed"
        );
        let granted = if whole {
            carried.iter().collect()
        } else {
            leased.scope_set()
        };
        Ok(self.remember(
            leased,
            version,
            &granted,
            asked,
            AccessToken {
                token: tokens.access_token,
                expires_at,
                scopes: carried,
            },
        ))
    }

    async fn release(&self, subject: &str, lease_id: &str) {
        if let Err(e) = self.store.release_refresh_lease(subject, lease_id).await {
            tracing::warn!(reason = %e, "refresh lease not released; it will expire");
        }
    }

    /// Keeps `token`, minted for `asked` under the grant's `version`.
    fn remember(
        &self,
        grant: &GrantRecord,
        version: i64,
        granted: &ScopeSet,
        asked: &ScopeSet,
        token: AccessToken,
    ) -> AccessToken {
        let now = self.clock.unix_seconds();
        let mut cache = self.cache();
        if cache.len() >= CACHE_CAPACITY && !cache.contains_key(&grant.subject) {
            cache.retain(|_, c| c.tokens.values().any(|t| t.expires_at > now));
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        let entry = cache
            .entry(grant.subject.clone())
            .or_insert_with(|| Cached {
                email: String::new(),
                hosted_domain: None,
                scopes: ScopeSet::default(),
                version,
                checked_at: now,
                tokens: HashMap::new(),
            });
        if entry.version != version {
            entry.tokens.clear();
        }
        entry.tokens.retain(|_, t| t.expires_at > now);
        if entry.tokens.len() >= TOKENS_PER_USER {
            entry.tokens.clear();
        }
        entry.email = grant.email.clone();
        entry.hosted_domain = grant.hosted_domain.clone();
        entry.scopes = granted.clone();
        entry.version = version;
        entry.checked_at = now;
        entry.tokens.insert(asked.to_scope_string(), token.clone());
        token
    }

    pub fn forget(&self, subject: &str) {
        self.cache().remove(subject);
    }

    fn lock_for(&self, subject: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks().entry(subject.to_owned()).or_default().clone()
    }

    fn release_lock(&self, subject: &str, lock: &Arc<tokio::sync::Mutex<()>>) {
        let mut locks = self.locks();
        // Two references: the map's and ours; nobody else is waiting.
        if Arc::strong_count(lock) == 2 {
            locks.remove(subject);
        }
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn locks(&self) -> MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        self.locks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The refresh token that was refused had been replaced meanwhile.
struct Replaced;

/// The refresh token a refresh used: as stored, and opened.
struct Used<'a> {
    sealed: &'a crate::token_cipher::Sealed,
    plain: &'a SecretString,
}

fn holder_of(grant: &GrantRecord) -> Holder<'_> {
    Holder {
        subject: &grant.subject,
        email: &grant.email,
        hosted_domain: grant.hosted_domain.as_deref(),
    }
}

fn consent_required() -> BrokerError {
    BrokerError::ConsentRequired {
        missing_scopes: Vec::new(),
    }
}

pub(crate) fn refresh_context(subject: &str) -> String {
    format!("refresh_token:{subject}")
}

pub(crate) fn access_context(subject: &str) -> String {
    format!("access_token:{subject}")
}

//! `admin grants reseal`: every stored token sealed by a key other than
//! the newest of `TOKEN_ENCRYPTION_KEYS` is opened and sealed again with
//! the newest, so an old key can leave the ring without waiting for each
//! grant's next refresh. Needs `DATABASE_URL` and `TOKEN_ENCRYPTION_KEYS`.
//!
//! Grants are taken in subject order, in batches, each under its refresh
//! lease and written back with the grant's version compare-and-swap (see
//! `store::reseal`): a refresh in progress is waited for and a token
//! stored meanwhile is never overwritten. A grant that stays busy or keeps
//! changing is skipped and named. Resumable without a cursor: what is done
//! no longer matches, so a run after an interruption (or `--limit`)
//! continues with the rest, and a run when all is done changes nothing.
//!
//! It refuses to start while no stored token is sealed by the newest key
//! (unless `--new-key-is-deployed`): the Cloud Run job reads the secret's
//! latest version, the service the version it was deployed with, and a
//! token re-sealed by a key the service lacks is one it cannot open.

use std::time::Duration;

use handoff_guard::SharedClock;
use secrecy::ExposeSecret;
use serde_json::json;
use service_kit::config::Env;

use super::audit::AuditLine;
use super::{context, AdminError, Console};
use crate::store::{LeasePurpose, Resealed, Storage, StoreError};
use crate::token_broker::{access_context, refresh_context};
use crate::token_cipher::{Sealed, TokenCipher};

/// Tries per grant before it is skipped, and the wait between them
/// (about a provider's refresh: the broker's lease lasts that long).
const ATTEMPTS: u32 = 5;
const RETRY_WAIT: Duration = Duration::from_millis(400);
/// How long one grant's lease is held at most if this process dies.
const LEASE: Duration = Duration::from_secs(30);

pub struct Options<'a> {
    pub batch_size: u32,
    pub limit: Option<u64>,
    /// The operator's word that the service runs with the newest key.
    pub new_key_is_deployed: bool,
    pub reason: Option<&'a str>,
}

enum One {
    Resealed,
    /// Nothing of it was stale any more (a refresh re-sealed it).
    Current,
    Skipped(String),
}

pub async fn reseal(
    env: &Env,
    clock: &SharedClock,
    options: &Options<'_>,
    json: bool,
    console: &mut Console<'_>,
) -> Result<(), AdminError> {
    let store = context::store(env).await?;
    let cipher = context::token_cipher(env)?;
    let newest = cipher.sealing_key_id().to_owned();
    let stale_before = store.count_stale_grants(&newest).await?;
    // The job reads the secret's latest version, which may be ahead of the
    // deployed service: tokens sealed by a key the service lacks could not
    // be opened by it. A token the service itself sealed by the newest key
    // shows it has the key.
    if stale_before > 0 && !options.new_key_is_deployed {
        let in_use = store
            .key_usage()
            .await?
            .get(&newest)
            .is_some_and(|usage| usage.refresh_tokens + usage.access_tokens > 0);
        if !in_use {
            return Err(AdminError::NewKeyNotDeployed(newest));
        }
    }
    let goal = options
        .limit
        .map_or(stale_before, |limit| limit.min(stale_before));
    if !json {
        writeln!(
            console.out,
            "{stale_before} grant(s) hold a token sealed by a key other than {newest}"
        )?;
    }
    let run = Run {
        store: &*store,
        cipher: &cipher,
        clock,
        newest: &newest,
        goal,
        batch_size: options.batch_size,
        json,
    };
    let mut progress = Progress::default();
    let remaining = match run.batches(console, &mut progress).await {
        Ok(()) => store.count_stale_grants(&newest).await.map_err(Into::into),
        Err(e) => Err(e),
    };
    let outcome = match &remaining {
        Ok(_) if progress.skipped.is_empty() => "ok",
        Ok(_) => "incomplete",
        // Earlier batches are re-sealed already: the line says how far the
        // run got before it stopped.
        Err(_) => "failed",
    };
    let counts = json!({
        "newest_key": newest, "stale_before": stale_before, "resealed": progress.resealed,
        "already_current": progress.current, "skipped": progress.skipped.len(),
        "remaining": remaining.as_ref().ok(),
    });
    AuditLine {
        action: "grants.reseal",
        reason: options.reason,
        subject: None,
        outcome,
        details: counts.clone(),
    }
    .write(console.audit)?;
    let remaining = remaining?;
    let skipped = progress.skipped;
    if json {
        let mut answer = counts;
        answer["skipped_subjects"] = json!(skipped
            .iter()
            .map(|(s, why)| json!({ "subject": s, "why": why }))
            .collect::<Vec<_>>());
        writeln!(console.out, "{answer}")?;
    } else {
        for (subject, why) in &skipped {
            writeln!(console.out, "skipped {subject}: {why}")?;
        }
        if remaining == 0 {
            writeln!(
                console.out,
                "every stored token is sealed by {newest}: the other keys can leave TOKEN_ENCRYPTION_KEYS"
            )?;
        } else {
            writeln!(
                console.out,
                "{remaining} grant(s) still hold a token sealed by an older key: run again"
            )?;
        }
    }
    if skipped.is_empty() {
        Ok(())
    } else {
        Err(AdminError::ResealIncomplete(skipped.len() as u64))
    }
}

/// What a run has done so far.
#[derive(Default)]
struct Progress {
    resealed: u64,
    /// Nothing of them was stale any more.
    current: u64,
    skipped: Vec<(String, String)>,
}

/// One run's fixed parts.
struct Run<'a> {
    store: &'a dyn Storage,
    cipher: &'a TokenCipher,
    clock: &'a SharedClock,
    newest: &'a str,
    goal: u64,
    batch_size: u32,
    json: bool,
}

impl Run<'_> {
    /// Re-seals up to `goal` stale grants in batches, counting into
    /// `progress` as it goes (so a failure still knows what was done).
    async fn batches(
        &self,
        console: &mut Console<'_>,
        progress: &mut Progress,
    ) -> Result<(), AdminError> {
        let mut after: Option<String> = None;
        loop {
            let processed = progress.resealed + progress.current + progress.skipped.len() as u64;
            let room = self.goal.saturating_sub(processed);
            if room == 0 {
                return Ok(());
            }
            let size = self.batch_size.min(u32::try_from(room).unwrap_or(u32::MAX));
            let batch = self
                .store
                .stale_grant_subjects(self.newest, after.as_deref(), size)
                .await?;
            if batch.is_empty() {
                return Ok(());
            }
            for subject in &batch {
                match reseal_one(self.store, self.cipher, self.clock, subject).await? {
                    One::Resealed => progress.resealed += 1,
                    One::Current => progress.current += 1,
                    One::Skipped(why) => progress.skipped.push((subject.clone(), why)),
                }
            }
            after = batch.last().cloned();
            if !self.json {
                let skipped_note = match progress.skipped.len() {
                    0 => String::new(),
                    n => format!(" ({n} skipped)"),
                };
                let (done, goal) = (progress.resealed, self.goal);
                writeln!(console.out, "resealed {done}/{goal}{skipped_note}")?;
            }
        }
    }
}

/// Re-seals one grant under its lease, trying again while a refresh
/// holds it or a sign-in changes it.
async fn reseal_one(
    store: &dyn Storage,
    cipher: &TokenCipher,
    clock: &SharedClock,
    subject: &str,
) -> Result<One, StoreError> {
    let mut why = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(RETRY_WAIT).await;
        }
        let lease_id = service_kit::random::url_safe_token(16);
        let now = clock.unix_seconds();
        let until = now + LEASE.as_secs();
        let Some(grant) = store
            .take_lease(subject, &lease_id, LeasePurpose::Reseal, now, until)
            .await?
        else {
            why = "a refresh held the grant on every try".into();
            continue;
        };
        let stored_access = grant.access_token.as_ref().map(|(sealed, _)| sealed);
        let opened = again(
            cipher,
            grant.refresh_token.as_ref(),
            &refresh_context(subject),
        )
        .map_err(|e| format!("its refresh token does not open: {e}"))
        .and_then(|refresh| {
            again(cipher, stored_access, &access_context(subject))
                .map(|access| (refresh, access))
                .map_err(|e| format!("its access token does not open: {e}"))
        });
        let resealed = match opened {
            Ok((refresh_token, access_token)) => Resealed {
                refresh_token,
                access_token,
            },
            Err(reason) => {
                store.release_lease(subject, &lease_id).await?;
                return Ok(One::Skipped(reason));
            }
        };
        if resealed.refresh_token.is_none() && resealed.access_token.is_none() {
            store.release_lease(subject, &lease_id).await?;
            return Ok(One::Current);
        }
        if store.finish_reseal(&grant, &lease_id, &resealed).await? {
            return Ok(One::Resealed);
        }
        // A sign-in stored a new refresh token meanwhile (or the lease ran
        // out): nothing was written; read the grant again.
        store.release_lease(subject, &lease_id).await?;
        why = "it changed on every try".into();
    }
    Ok(One::Skipped(why))
}

/// `sealed` under the newest key, if it is sealed by an older one.
fn again(
    cipher: &TokenCipher,
    sealed: Option<&Sealed>,
    context: &str,
) -> Result<Option<Sealed>, crate::token_cipher::CipherError> {
    match sealed.filter(|s| cipher.is_stale(s)) {
        None => Ok(None),
        Some(sealed) => {
            let plain = cipher.open(sealed, context)?;
            Ok(Some(cipher.seal(plain.expose_secret(), context)))
        }
    }
}

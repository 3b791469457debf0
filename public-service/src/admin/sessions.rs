//! `admin sessions list|revoke --user …`: needs `DATABASE_URL` only (and,
//! with `--with-grant`, what `grants revoke` needs).
//!
//! Revoking sets `revoked_at`, as a sign-out does: the apps' revocation
//! feed (`/sessions/revoked`) carries the sessions from then on, so a
//! handoff token of theirs is refused within the app's poll interval, and
//! renewal refuses them at once.

use handoff_guard::SharedClock;
use serde_json::json;
use service_kit::config::Env;

use super::audit::AuditLine;
use super::context::{self, table, when};
use super::{grants, AdminError, Console};

pub async fn list(
    env: &Env,
    clock: &SharedClock,
    user: &str,
    json: bool,
    console: &mut Console<'_>,
) -> Result<(), AdminError> {
    let store = context::store(env).await?;
    let known = context::resolve_user(&*store, user).await?;
    let sessions = store
        .live_sessions_of(&known.subject, clock.unix_seconds())
        .await?;
    if json {
        let listed: Vec<_> = sessions
            .iter()
            .map(|s| {
                json!({
                    "id": s.id, "email": s.email, "created_at": s.created_at,
                    "last_seen_at": s.last_seen_at, "expires_at": s.expires_at,
                })
            })
            .collect();
        let answer = json!({ "subject": known.subject, "sessions": listed });
        writeln!(console.out, "{answer}")?;
        return Ok(());
    }
    writeln!(
        console.out,
        "{} live session(s) of {} ({})",
        sessions.len(),
        known.subject,
        known.emails.join(", ")
    )?;
    if !sessions.is_empty() {
        let rows: Vec<Vec<String>> = sessions
            .iter()
            .map(|s| {
                vec![
                    s.id.clone(),
                    s.email.clone(),
                    when(s.created_at),
                    when(s.last_seen_at),
                    when(s.expires_at),
                ]
            })
            .collect();
        let headings = ["SESSION", "E-MAIL", "CREATED", "LAST SEEN", "EXPIRES"];
        write!(console.out, "{}", table(&headings, &rows))?;
    }
    Ok(())
}

pub struct Revoke<'a> {
    pub user: &'a str,
    pub reason: Option<&'a str>,
    pub with_grant: bool,
    pub even_if_provider_fails: bool,
}

/// Revokes the sessions first (the urgent part, and it needs nothing from
/// the provider), then, if asked, the grant.
pub async fn revoke(
    env: &Env,
    clock: &SharedClock,
    revoke: &Revoke<'_>,
    json: bool,
    console: &mut Console<'_>,
) -> Result<(), AdminError> {
    let store = context::store(env).await?;
    let known = context::resolve_user(&*store, revoke.user).await?;
    let revoked = store
        .revoke_sessions_of(&known.subject, None, clock.unix_seconds())
        .await?;
    AuditLine {
        action: "sessions.revoke",
        reason: revoke.reason,
        subject: Some(&known.subject),
        outcome: "ok",
        details: json!({ "sessions_revoked": revoked }),
    }
    .write(console.audit)?;
    if json && !revoke.with_grant {
        let answer = json!({ "subject": known.subject, "sessions_revoked": revoked });
        writeln!(console.out, "{answer}")?;
    } else if !json {
        writeln!(
            console.out,
            "revoked {revoked} session(s) of {}",
            known.subject
        )?;
    }
    if !revoke.with_grant {
        return Ok(());
    }
    let grant = grants::Revoke {
        user: &known.subject,
        reason: revoke.reason,
        even_if_provider_fails: revoke.even_if_provider_fails,
    };
    let outcome = grants::revoke_grant(env, clock, &*store, &known.subject, &grant, console).await;
    match (&outcome, json) {
        (Ok(done), false) => done.describe(console)?,
        (_, true) => {
            let grant = outcome.as_ref().ok().map(|o| o.to_json());
            let answer =
                json!({ "subject": known.subject, "sessions_revoked": revoked, "grant": grant });
            writeln!(console.out, "{answer}")?;
        }
        (Err(_), false) => {}
    }
    outcome.map(|_| ())
}

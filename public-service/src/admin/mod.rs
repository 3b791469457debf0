//! `public-service admin …`: operators' commands, run by the service's own
//! binary with the service's own environment (on Cloud Run, as a job of
//! the same image, service account and secrets; see deploy/README.md).
//!
//! - `sessions list|revoke --user <e-mail|subject>`: [`sessions`]
//! - `grants revoke --user …`, `grants reseal`: [`grants`], [`reseal`]
//! - `keys status`: [`keys`]
//!
//! Each command reads only the variables it uses ([`context`]); results go
//! to stdout (a table, or JSON with `--json`); each action writes one audit
//! line in Cloud Logging's JSON format to stderr ([`audit`]), also when it
//! fails after changing something (outcome `failed`, counts so far). Exit code 0
//! when everything asked was done, 1 when not (with one line saying why),
//! 2 for a usage error.

mod audit;
mod context;
mod grants;
mod keys;
mod reseal;
mod sessions;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use handoff_guard::{SharedClock, SystemClock};
use service_kit::config::{ConfigError, Env};

use crate::store::StoreError;

/// Operator commands of the public service (same environment as the service).
#[derive(Debug, Parser)]
#[command(
    name = "admin",
    bin_name = "public-service admin",
    disable_version_flag = true
)]
pub struct Admin {
    /// Print the result as one JSON object instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Browser sessions of one user.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Stored provider grants (sealed refresh tokens).
    #[command(subcommand)]
    Grants(GrantsCommand),
    /// The keys that seal tokens and sign handoff tokens.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
enum SessionsCommand {
    /// The user's live sessions (not revoked, not expired), newest first.
    List(UserArg),
    /// Revokes every live session of the user; apps drop them within
    /// their revocation poll interval.
    Revoke {
        #[command(flatten)]
        user: UserArg,
        #[command(flatten)]
        reason: ReasonArg,
        /// Also revoke the user's grant (at the provider, then here).
        #[arg(long)]
        with_grant: bool,
        #[command(flatten)]
        provider: ProviderFailureArg,
    },
}

#[derive(Debug, Subcommand)]
enum GrantsCommand {
    /// Revokes the user's refresh token at the provider, then the grant here.
    Revoke {
        #[command(flatten)]
        user: UserArg,
        #[command(flatten)]
        reason: ReasonArg,
        #[command(flatten)]
        provider: ProviderFailureArg,
    },
    /// Re-seals every stored token under the newest key of
    /// TOKEN_ENCRYPTION_KEYS (resumable: a second run continues).
    Reseal {
        /// Grants per batch (progress is printed after each).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch_size: u32,
        /// Stop after this many grants (a later run continues).
        #[arg(long)]
        limit: Option<u64>,
        /// Re-seal even though no stored token is sealed by the newest key
        /// yet (the evidence that the service has it): say so only once the
        /// service runs with the new TOKEN_ENCRYPTION_KEYS.
        #[arg(long)]
        new_key_is_deployed: bool,
        #[command(flatten)]
        reason: ReasonArg,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Grants per token key id, and the published handoff signing keys.
    Status,
}

#[derive(Debug, Args)]
struct UserArg {
    /// The user's e-mail address or provider subject (`sub`).
    #[arg(long)]
    user: String,
}

#[derive(Debug, Args)]
struct ReasonArg {
    /// Why (written to the audit line).
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Debug, Args)]
struct ProviderFailureArg {
    /// When the provider cannot revoke the refresh token, forget it here
    /// anyway (it may stay valid at the provider until the user removes
    /// access). Without it, nothing changes here and the command fails.
    #[arg(long)]
    even_if_provider_fails: bool,
}

/// Why a command did not do everything it was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    #[error("{0}")]
    Usage(String),
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("no grant or session has the e-mail or subject {0:?}")]
    UnknownUser(String),
    #[error("{user:?} is the e-mail of several subjects ({}); nothing was done; name one with --user <subject>", .subjects.join(", "))]
    AmbiguousUser { user: String, subjects: Vec<String> },
    #[error("the provider did not revoke the refresh token ({0}); the grant is unchanged here; run again, or add --even-if-provider-fails to forget it here anyway")]
    ProviderFailed(String),
    #[error("{0}")]
    Incomplete(String),
    #[error("no stored token is sealed by {0} yet, so nothing shows that the service has that key; re-sealing now could leave it unable to open any token; nothing was done. Deploy the new TOKEN_ENCRYPTION_KEYS first, then run again (add --new-key-is-deployed if it is deployed and no token was written since)")]
    NewKeyNotDeployed(String),
    #[error("{0} grant(s) were not re-sealed (listed above); run the command again")]
    ResealIncomplete(u64),
    #[error("stored tokens are sealed by key ids not in TOKEN_ENCRYPTION_KEYS ({}): they cannot be opened", .0.join(", "))]
    UnconfiguredKeys(Vec<String>),
    #[error("writing the output failed: {0}")]
    Output(#[from] std::io::Error),
}

/// Where a command writes: results to `out`, audit lines to `audit`.
pub struct Console<'a> {
    pub out: &'a mut (dyn Write + Send),
    pub audit: &'a mut (dyn Write + Send),
}

/// Parses `args` (starting with `admin`) and runs the command.
pub async fn execute<I, T>(
    args: I,
    env: &Env,
    clock: SharedClock,
    console: &mut Console<'_>,
) -> Result<(), AdminError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let admin = Admin::try_parse_from(args).map_err(|e| AdminError::Usage(e.to_string()))?;
    run(admin, env, clock, console).await
}

/// Runs a parsed command.
pub async fn run(
    admin: Admin,
    env: &Env,
    clock: SharedClock,
    console: &mut Console<'_>,
) -> Result<(), AdminError> {
    let json = admin.json;
    match admin.command {
        Command::Sessions(SessionsCommand::List(user)) => {
            sessions::list(env, &clock, &user.user, json, console).await
        }
        Command::Sessions(SessionsCommand::Revoke {
            user,
            reason,
            with_grant,
            provider,
        }) => {
            let revoke = sessions::Revoke {
                user: &user.user,
                reason: reason.reason.as_deref(),
                with_grant,
                even_if_provider_fails: provider.even_if_provider_fails,
            };
            sessions::revoke(env, &clock, &revoke, json, console).await
        }
        Command::Grants(GrantsCommand::Revoke {
            user,
            reason,
            provider,
        }) => {
            let revoke = grants::Revoke {
                user: &user.user,
                reason: reason.reason.as_deref(),
                even_if_provider_fails: provider.even_if_provider_fails,
            };
            grants::revoke_command(env, &clock, &revoke, json, console).await
        }
        Command::Grants(GrantsCommand::Reseal {
            batch_size,
            limit,
            new_key_is_deployed,
            reason,
        }) => {
            let options = reseal::Options {
                batch_size,
                limit,
                new_key_is_deployed,
                reason: reason.reason.as_deref(),
            };
            reseal::reseal(env, &clock, &options, json, console).await
        }
        Command::Keys(KeysCommand::Status) => keys::status(env, json, console).await,
    }
}

/// What `main` runs: `admin …` when the first argument says so, the
/// service otherwise (exactly as before).
pub async fn main_from_process() -> ExitCode {
    main_with(Env::from_process()).await
}

/// [`main_from_process`] with settings read from `env` (the tests' build
/// of the binary takes their host names as loopback).
pub async fn main_with(env: Env) -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().map(|a| a.as_os_str()) != Some("admin".as_ref()) {
        return crate::startup::serve_with(env).await;
    }
    let admin = match Admin::try_parse_from(&args) {
        Ok(admin) => admin,
        Err(e) => {
            // `--help` is not an error: clap prints it to stdout, exit 0.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
    let mut console = Console {
        out: &mut stdout,
        audit: &mut stderr,
    };
    match run(admin, &env, std::sync::Arc::new(SystemClock), &mut console).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("admin: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `public-service admin …` against a [`TestApp`] deployment, with the
//! public service's own environment (as a Cloud Run job of the same image
//! would have): in this process, or as the service's binary.

use std::sync::Arc;
use std::time::Duration;

use public_service::admin::{AdminError, Console};
use service_kit::config::Env;

use super::{with_changes, TestApp};

/// What one in-process admin command did.
pub struct AdminRun {
    pub result: Result<(), AdminError>,
    pub stdout: String,
    /// The audit lines, parsed (each must be one JSON object).
    pub audit: Vec<serde_json::Value>,
}

impl AdminRun {
    /// The result, or a panic showing the output.
    pub fn ok(self) -> Self {
        if let Err(e) = &self.result {
            panic!("the admin command failed: {e}\n{}", self.stdout);
        }
        self
    }

    /// The output as one JSON document (commands run with `--json`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("not one JSON document ({e}): {}", self.stdout))
    }
}

impl TestApp {
    /// The public service's environment with `changes` (a variable with
    /// an empty value is removed).
    pub fn admin_env(&self, changes: &[(&str, &str)]) -> Env {
        let changes: Vec<(&str, String)> =
            changes.iter().map(|(k, v)| (*k, v.to_string())).collect();
        let env = with_changes(self.public_env.clone(), &changes);
        super::test_env(env.into_iter().filter(|(_, v)| !v.is_empty()))
    }

    /// Runs `admin <args>` in this process, on the public service's
    /// environment with `changes` and its clock.
    pub async fn admin(&self, args: &[&str], changes: &[(&str, &str)]) -> AdminRun {
        let env = self.admin_env(changes);
        let (mut out, mut audit) = (Vec::new(), Vec::new());
        let mut console = Console {
            out: &mut out,
            audit: &mut audit,
        };
        let argv = std::iter::once("admin").chain(args.iter().copied());
        let result = public_service::admin::execute(
            argv,
            &env,
            Arc::new(self.public_clock.clone()),
            &mut console,
        )
        .await;
        let audit = String::from_utf8(audit)
            .expect("audit lines are UTF-8")
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("an audit line is not JSON ({e}): {line}"))
            })
            .collect();
        AdminRun {
            result,
            stdout: String::from_utf8(out).expect("output is UTF-8"),
            audit,
        }
    }

    /// Runs `binary admin <args>` as a process with the public service's
    /// environment and `changes` (empty values removed); `None` if it
    /// had not finished within `limit`.
    pub async fn run_admin_binary(
        &self,
        binary: &str,
        args: &[&str],
        changes: &[(&str, &str)],
        limit: Duration,
    ) -> Option<std::process::Output> {
        let changes: Vec<(&str, String)> =
            changes.iter().map(|(k, v)| (*k, v.to_string())).collect();
        let env = with_changes(self.public_env.clone(), &changes);
        let mut command = tokio::process::Command::new(binary);
        command
            .arg("admin")
            .args(args)
            .env_clear()
            .envs(
                env.iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (*k, v.as_str())),
            )
            .kill_on_drop(true)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let child = command.spawn().expect("the public service binary starts");
        tokio::time::timeout(limit, child.wait_with_output())
            .await
            .ok()
            .map(|output| output.expect("the binary's output is readable"))
    }
}

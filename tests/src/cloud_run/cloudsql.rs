//! Cloud SQL connections: a revision that lists an instance in
//! `run.googleapis.com/cloudsql-instances` finds its Unix socket under
//! `/cloudsql/INSTANCE_CONNECTION_NAME/`
//! (<https://cloud.google.com/sql/docs/postgres/connect-run>), and only the
//! listed instances are there.
//!
//! Here the sockets live under a stand-in directory (`ROOT/INSTANCE/`).
//! As root, each container gets a mount namespace of its own with an empty
//! `/cloudsql` in which only its listed instances are bound, so the
//! `DATABASE_URL` is used exactly as stored. Where that cannot be done
//! (not root, no `unshare`), the one fallback is to rewrite `/cloudsql/I`
//! to `ROOT/I` in the container's variables; which one was used is printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const MOUNT_POINT: &str = "/cloudsql";

fn mount_binary() -> Option<&'static str> {
    ["/usr/bin/mount", "/bin/mount"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

/// Whether containers can get their own `/cloudsql` (checked once).
pub fn namespaces_work() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        let Some(mount) = mount_binary() else {
            return false;
        };
        if std::fs::create_dir_all(MOUNT_POINT).is_err() {
            return false;
        }
        let script = format!("{mount} -t tmpfs cloudsql {MOUNT_POINT} && test -w {MOUNT_POINT}");
        let works = Command::new("/usr/bin/unshare")
            .args(["-m", "--propagation", "private", "--", "/bin/sh", "-c", &script])
            .output()
            .is_ok_and(|o| o.status.success());
        eprintln!(
            "cloud-run emulator: Cloud SQL sockets {}",
            if works {
                "bound at /cloudsql in a mount namespace per container"
            } else {
                "reached by rewriting /cloudsql/ in the container's variables (no mount namespace here)"
            }
        );
        works
    })
}

/// How containers reach the Cloud SQL stand-in at `root`.
#[derive(Debug, Clone)]
pub struct CloudSql {
    pub root: PathBuf,
}

impl CloudSql {
    /// `binary` wrapped so that it starts in a namespace where
    /// `/cloudsql/I` is `ROOT/I` for each listed instance; `None` when the
    /// fallback applies ([`Self::rewrite`]).
    pub fn wrap(&self, binary: &Path, instances: &[String]) -> Option<Command> {
        if instances.is_empty() || !namespaces_work() {
            return None;
        }
        let mount = mount_binary()?;
        // `unset PWD`: the shell would pass it on; a container gets only its own variables.
        let mut script = format!("unset PWD; {mount} -t tmpfs -o mode=755 cloudsql {MOUNT_POINT}");
        for (i, _) in instances.iter().enumerate() {
            // Positional parameters keep the names out of shell parsing.
            let (source, target) = (2 * i + 2, 2 * i + 3);
            script.push_str(&format!(
                " && /bin/mkdir \"${target}\" && {mount} --bind \"${source}\" \"${target}\""
            ));
        }
        script.push_str(" && exec \"$1\"");
        let mut command = Command::new("/usr/bin/unshare");
        command.args([
            "-m",
            "--propagation",
            "private",
            "--",
            "/bin/sh",
            "-c",
            &script,
            "sh",
        ]);
        command.arg(binary);
        for instance in instances {
            command.arg(self.root.join(instance));
            command.arg(format!("{MOUNT_POINT}/{instance}"));
        }
        Some(command)
    }

    /// The fallback: `/cloudsql/I` → `ROOT/I` in every variable.
    pub fn rewrite(&self, env: &mut [(String, String)], instances: &[String]) {
        for (_, value) in env.iter_mut() {
            for instance in instances {
                let from = format!("{MOUNT_POINT}/{instance}");
                let to = self.root.join(instance).display().to_string();
                *value = value.replace(&from, &to);
            }
        }
    }
}

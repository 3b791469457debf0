//! A real PostgreSQL that listens only on a Unix socket, in a directory
//! named the way Cloud SQL names it for Cloud Run:
//! `ROOT/cloudsql/PROJECT:REGION:INSTANCE/.s.PGSQL.5432`
//! (<https://cloud.google.com/sql/docs/postgres/connect-run>). Password
//! authentication (scram-sha-256) as on Cloud SQL; the `auth` database is
//! owned by the `auth` user, as `deploy.sh` creates them.

use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::Connection;

pub struct UnixPostgres {
    /// The stand-in for `/cloudsql` (`ROOT/cloudsql`).
    pub cloudsql_dir: PathBuf,
    pub instance: String,
    bin: PathBuf,
    data: PathBuf,
    /// The server's `-o` options, to start it again as it was.
    options: String,
    superuser_password: String,
    root: tempfile::TempDir,
}

/// The directory of `initdb` and `pg_ctl`, the newest installed.
fn postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a PostgreSQL tool as the `postgres` user when we are root
/// (PostgreSQL refuses to run as root).
fn tool(bin: &Path, name: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(name));
        c
    } else {
        Command::new(bin.join(name))
    }
}

fn run(mut command: Command, what: &str) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

impl UnixPostgres {
    /// Starts a server for `instance` (`PROJECT:REGION:INSTANCE`) and
    /// creates the user and database `auth` with `password`. `Err` says
    /// why PostgreSQL cannot run here.
    pub async fn start(instance: &str, password: &str) -> Result<Self, String> {
        let bin = postgres_bin().ok_or("no PostgreSQL server under /usr/lib/postgresql/*/bin")?;
        // Short: a socket path may not exceed 107 bytes.
        let root = tempfile::Builder::new()
            .prefix("crsql")
            .tempdir_in("/tmp")
            .map_err(|e| e.to_string())?;
        let cloudsql_dir = root.path().join("cloudsql");
        let socket_dir = cloudsql_dir.join(instance);
        let data = root.path().join("data");
        std::fs::create_dir_all(&socket_dir).map_err(|e| e.to_string())?;
        let superuser_password = service_kit::random::url_safe_token(18);
        let pwfile = root.path().join("pw");
        std::fs::write(&pwfile, &superuser_password).map_err(|e| e.to_string())?;
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.args(["-R", "postgres:postgres"]).arg(root.path());
                    c
                },
                "chown",
            )?;
        }
        let mut initdb = tool(&bin, "initdb");
        initdb
            .args([
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .arg("-D")
            .arg(&data);
        run(initdb, "initdb")?;
        let options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c fsync=off",
            socket_dir.display()
        );
        let server = Self {
            cloudsql_dir,
            instance: instance.to_owned(),
            bin,
            data,
            options,
            superuser_password,
            root,
        };
        server.start_again()?;
        server.create_auth(password).await?;
        Ok(server)
    }

    /// Starts the (stopped) server, with its data and socket as before.
    pub fn start_again(&self) -> Result<(), String> {
        let mut pg_ctl = tool(&self.bin, "pg_ctl");
        pg_ctl
            .args(["-w", "-D"])
            .arg(&self.data)
            .arg("-l")
            .arg(self.root.path().join("server.log"))
            .args(["-o", &self.options, "start"]);
        run(pg_ctl, "pg_ctl start")
    }

    /// Stops the server, as a Cloud SQL instance does while it restarts:
    /// its socket is gone, connections fail at once.
    pub fn stop(&self) -> Result<(), String> {
        let mut pg_ctl = tool(&self.bin, "pg_ctl");
        pg_ctl
            .args(["-w", "-m", "fast", "-D"])
            .arg(&self.data)
            .arg("stop");
        run(pg_ctl, "pg_ctl stop")
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.cloudsql_dir.join(&self.instance)
    }

    /// A URL for `user` on this machine's path to the socket.
    pub fn local_url(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "postgres://{user}:{password}@localhost/{database}?host={}",
            self.socket_dir().display()
        )
    }

    async fn create_auth(&self, password: &str) -> Result<(), String> {
        let url = self.local_url("postgres", &self.superuser_password, "postgres");
        let mut admin = sqlx::PgConnection::connect(&url)
            .await
            .map_err(|e| format!("connecting over the socket: {e}"))?;
        let quoted = password.replace('\'', "''");
        for statement in [
            format!("CREATE USER auth WITH PASSWORD '{quoted}'"),
            "CREATE DATABASE auth OWNER auth".to_owned(),
        ] {
            sqlx::Executor::execute(&mut admin, statement.as_str())
                .await
                .map_err(|e| format!("{statement:?}: {e}"))?;
        }
        Ok(())
    }

    /// The server's processes: the postmaster (first line of
    /// `postmaster.pid`) and every process it forked.
    fn processes(&self) -> Vec<i32> {
        let Some(postmaster) = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next()?.trim().parse::<i32>().ok())
        else {
            return Vec::new();
        };
        let mut found = vec![postmaster];
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            // `pid (comm) state ppid …`: the command may hold spaces.
            let parent = std::fs::read_to_string(entry.path().join("stat"))
                .ok()
                .and_then(|s| {
                    let rest = &s[s.rfind(')')? + 1..];
                    rest.split_whitespace().nth(1)?.parse::<i32>().ok()
                });
            if parent == Some(postmaster) {
                found.push(pid);
            }
        }
        found
    }

    /// A database that takes forever: every server process stopped
    /// (`SIGSTOP`), so connections open but nothing answers, as from a
    /// Cloud SQL instance under maintenance or overloaded. [`Self::thaw`]
    /// (or dropping the server) continues them.
    pub fn freeze(&self) -> Result<(), String> {
        // The postmaster first, so that it forks nothing unstopped.
        let Some(&postmaster) = self.processes().first() else {
            return Err("no postmaster.pid: the server is not running".into());
        };
        // SAFETY: kill has no memory preconditions; this is the server
        // this value started.
        unsafe { libc::kill(postmaster, libc::SIGSTOP) };
        for pid in self.processes() {
            // SAFETY: kill has no memory preconditions; these are the
            // processes of the server this value started.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
        }
        Ok(())
    }

    pub fn thaw(&self) {
        for pid in self.processes() {
            // SAFETY: as in `freeze`.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
    }

    /// Whether a TCP port serves it (it must not).
    pub fn listens_on_tcp(&self) -> bool {
        std::fs::read_to_string(self.data.join("postmaster.pid"))
            .map(|pid| pid.lines().nth(5).is_some_and(|l| !l.trim().is_empty()))
            .unwrap_or(false)
    }
}

impl Drop for UnixPostgres {
    fn drop(&mut self) {
        self.thaw();
        let mut stop = tool(&self.bin, "pg_ctl");
        stop.args(["-w", "-m", "immediate", "-D"])
            .arg(&self.data)
            .arg("stop");
        let _ = stop.output();
    }
}

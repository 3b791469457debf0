//! What `deploy.sh` does, taken from `deploy/` itself rather than
//! restated: the YAMLs rendered the way it renders them, and its secrets
//! made by its own commands.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// `deploy/FILE` filled from `vars` (for `STORE=cloudsql` unless they say
/// otherwise): with `deploy/render.sh FILE` where it
/// exists, otherwise with `envsubst < deploy/FILE` as `deploy.sh` does
/// (`envsubst` comes from Debian's gettext-base).
pub fn render(file: &str, vars: &[(String, String)]) -> Result<String, String> {
    let dir = deploy_dir();
    let script = dir.join("render.sh");
    let mut command = if script.exists() {
        let mut c = Command::new("bash");
        c.arg(&script).arg(dir.join(file));
        c.stdin(Stdio::null());
        c
    } else {
        let input =
            std::fs::File::open(dir.join(file)).map_err(|e| format!("deploy/{file}: {e}"))?;
        let mut c = Command::new("envsubst");
        c.stdin(input);
        c
    };
    // The rehearsal runs Cloud SQL's real PostgreSQL: the definitions are
    // rendered for that store unless `vars` name one (deploy.sh's own
    // default, Firestore, is rehearsed by the deploy_script tests).
    if !vars.iter().any(|(k, _)| k == "STORE") {
        command.env("STORE", "cloudsql");
    }
    command.envs(vars.iter().map(|(k, v)| (k, v)));
    let output = command.output().map_err(|e| {
        format!("rendering deploy/{file} (is envsubst installed? Debian: gettext-base): {e}")
    })?;
    if !output.status.success() {
        return Err(format!(
            "rendering deploy/{file} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| e.to_string())
}

/// The script that creates the secrets: `deploy/secrets.sh` where it
/// exists, else `deploy/deploy.sh`.
fn secrets_script() -> Result<(PathBuf, String), String> {
    let dir = deploy_dir();
    for name in ["secrets.sh", "deploy.sh"] {
        let path = dir.join(name);
        if let Ok(text) = std::fs::read_to_string(&path) {
            if text.lines().any(|l| secret_line(l).is_some()) {
                return Ok((path, text));
            }
        }
    }
    Err("no `secret NAME 'COMMAND'` line in deploy/secrets.sh or deploy/deploy.sh".into())
}

/// `secret NAME 'COMMAND'` → (NAME, COMMAND).
pub fn secret_line(line: &str) -> Option<(String, String)> {
    let rest = line.trim().strip_prefix("secret ")?;
    let (name, command) = rest.split_once(' ')?;
    let command = command.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    valid.then(|| (name.to_owned(), command.to_owned()))
}

/// The secrets the script creates, by name.
pub fn secret_names() -> Result<Vec<String>, String> {
    let (_, text) = secrets_script()?;
    Ok(text
        .lines()
        .filter_map(secret_line)
        .map(|(name, _)| name)
        .collect())
}

/// The variable `deploy.sh` pins a secret's version in before rendering:
/// `SECRET_VERSION_<NAME>` (`tr a-z- A-Z_`).
pub fn version_variable(secret: &str) -> String {
    format!(
        "SECRET_VERSION_{}",
        secret.to_ascii_uppercase().replace('-', "_")
    )
}

/// The database password, made by `deploy.sh`'s own `DB_PASSWORD=...` line.
pub fn database_password(vars: &[(String, String)]) -> Result<String, String> {
    let (path, text) = secrets_script()?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("DB_PASSWORD=") || l.starts_with("export DB_PASSWORD="))
        .ok_or_else(|| format!("no DB_PASSWORD= line in {}", path.display()))?;
    shell(&format!("{line}; printf %s \"$DB_PASSWORD\""), vars)
}

fn shell(script: &str, vars: &[(String, String)]) -> Result<String, String> {
    let output = Command::new("bash")
        .args(["-c", script])
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "`{script}` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| e.to_string())
}

/// Runs each secret's command exactly as written in the script (with
/// `vars`, which include `DB_PASSWORD`) and stores the output as version 1
/// under `STATE/secrets/NAME/`, as `gcloud secrets create --data-file=-`
/// stores stdin byte for byte. Returns the names created.
pub fn create_secrets(state: &Path, vars: &[(String, String)]) -> Result<Vec<String>, String> {
    let (_, text) = secrets_script()?;
    let mut names = Vec::new();
    for (name, command) in text.lines().filter_map(secret_line) {
        let value = shell(&command, vars)?;
        let dir = state.join("secrets").join(&name);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("1"), value).map_err(|e| e.to_string())?;
        names.push(name);
    }
    Ok(names)
}

/// The images' binaries, in a directory that holds `public-service`,
/// `private-service` and `handoff-gate`: `CLOUD_RUN_BINARIES` (CI's
/// release build) or, without it, this package's `public-service-under-test`,
/// `private-service-under-test` and `handoff-gate-under-test` (the
/// binaries' own `main`s, which Cargo builds beside every test binary of
/// this package), linked under those names into a temporary directory.
pub fn binaries() -> Result<PathBuf, String> {
    const IMAGES: [&str; 3] = ["public-service", "private-service", "handoff-gate"];
    static DIR: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        if let Ok(dir) = std::env::var("CLOUD_RUN_BINARIES") {
            eprintln!("cloud-run rehearsal: binaries from CLOUD_RUN_BINARIES={dir}");
            return Ok(PathBuf::from(dir));
        }
        // A test binary runs from TARGET/PROFILE/deps; the package's
        // binaries are in TARGET/PROFILE.
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .ok_or("no target directory above the test binary")?;
        let links = std::env::temp_dir().join(format!("cloud-run-binaries-{}", std::process::id()));
        std::fs::create_dir_all(&links).map_err(|e| e.to_string())?;
        for service in IMAGES {
            let built = profile_dir.join(format!("{service}-under-test"));
            if !built.is_file() {
                return Err(format!(
                    "{} is missing: run the tests with cargo test -p integration-tests, or set CLOUD_RUN_BINARIES",
                    built.display()
                ));
            }
            let link = links.join(service);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&built, &link).map_err(|e| e.to_string())?;
        }
        eprintln!(
            "cloud-run rehearsal: CLOUD_RUN_BINARIES is not set; using this package's debug builds of the services and the gate ({})",
            profile_dir.display()
        );
        Ok(links)
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::secret_line;

    #[test]
    fn secret_lines_are_read_as_written() {
        assert_eq!(
            secret_line("  secret cookie-secret 'openssl rand -base64 48'"),
            Some(("cookie-secret".into(), "openssl rand -base64 48".into()))
        );
        assert_eq!(secret_line("secret() { # name, command"), None);
        assert_eq!(secret_line("echo secret x 'y'"), None);
    }
}

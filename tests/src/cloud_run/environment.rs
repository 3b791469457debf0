//! The environment a revision's container starts with, as Cloud Run
//! builds it:
//!
//! - the definition's variables; a `secretKeyRef` is read from Secret
//!   Manager when the instance starts, `latest` meaning the newest version
//!   (<https://cloud.google.com/run/docs/configuring/services/secrets>);
//!   here Secret Manager is the directory `STATE/secrets/NAME/VERSION`
//!   that the stand-in `gcloud secrets` writes;
//! - `PORT`, `K_SERVICE`, `K_REVISION`, `K_CONFIGURATION`, which Cloud Run
//!   injects (<https://cloud.google.com/run/docs/container-contract#env-vars>);
//!   `PORT` into the ingress container only, "if you deploy multiple
//!   containers to a service, this is the ingress container"
//!   (<https://cloud.google.com/run/docs/configuring/services/containers#configure-port>);
//! - the overlay: the one deviation, variables that point the services at
//!   the stand-ins for Google's endpoints (see docs/cloud-run-rehearsal.md).

use std::path::Path;

use super::plan::{EnvValue, Plan, SecretVersion};

/// `STATE/secrets/NAME/VERSION` for `version`, `latest` being the highest
/// version number present.
pub fn secret_path(
    state: &Path,
    name: &str,
    version: SecretVersion,
) -> Result<std::path::PathBuf, String> {
    let dir = state.join("secrets").join(name);
    let number = match version {
        SecretVersion::Number(n) => n,
        SecretVersion::Latest => std::fs::read_dir(&dir)
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
            .max()
            .ok_or_else(|| not_found(name, "latest"))?,
    };
    let path = dir.join(number.to_string());
    if path.is_file() {
        Ok(path)
    } else {
        Err(not_found(name, &number.to_string()))
    }
}

fn not_found(name: &str, version: &str) -> String {
    format!("Secret projects/PROJECT/secrets/{name}/versions/{version} was not found")
}

/// The ingress container's environment, or why the instance cannot start.
pub fn build(
    plan: &Plan,
    state: &Path,
    revision: &str,
    port: u16,
    overlay: &[(String, String)],
) -> Result<Vec<(String, String)>, String> {
    build_for(&plan.name, &plan.env, state, revision, Some(port), overlay)
}

/// One container's environment: `port` is `Some` for the ingress
/// container only.
pub fn build_for(
    service: &str,
    variables: &[(String, EnvValue)],
    state: &Path,
    revision: &str,
    port: Option<u16>,
    overlay: &[(String, String)],
) -> Result<Vec<(String, String)>, String> {
    let mut env = Vec::new();
    for (name, value) in variables {
        let value = match value {
            EnvValue::Plain(v) => v.clone(),
            EnvValue::Secret {
                name: secret,
                version,
            } => {
                let path = secret_path(state, secret, *version)?;
                std::fs::read_to_string(&path)
                    .map_err(|e| format!("Secret {secret} could not be read: {e}"))?
            }
        };
        env.push((name.clone(), value));
    }
    if let Some(port) = port {
        env.retain(|(n, _)| n != "PORT");
        env.push(("PORT".into(), port.to_string()));
    }
    env.push(("K_SERVICE".into(), service.to_owned()));
    env.push(("K_REVISION".into(), revision.to_owned()));
    // The configuration is named after the service on Cloud Run.
    env.push(("K_CONFIGURATION".into(), service.to_owned()));
    for (name, value) in overlay {
        env.retain(|(n, _)| n != name);
        env.push((name.clone(), value.clone()));
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_is_the_highest_version_and_a_missing_secret_is_named() {
        let state = tempfile::tempdir().unwrap();
        let dir = state.path().join("secrets/cookie-secret");
        std::fs::create_dir_all(&dir).unwrap();
        for (v, text) in [("1", "one"), ("2", "two"), ("10", "ten")] {
            std::fs::write(dir.join(v), text).unwrap();
        }
        let latest = secret_path(state.path(), "cookie-secret", SecretVersion::Latest).unwrap();
        assert!(latest.ends_with("10"));
        let two = secret_path(state.path(), "cookie-secret", SecretVersion::Number(2)).unwrap();
        assert_eq!(std::fs::read_to_string(two).unwrap(), "two");
        let e = secret_path(state.path(), "nope", SecretVersion::Latest).unwrap_err();
        assert!(
            e.contains("secrets/nope/versions/latest was not found"),
            "{e}"
        );
        let e = secret_path(state.path(), "cookie-secret", SecretVersion::Number(3)).unwrap_err();
        assert!(e.contains("versions/3"), "{e}");
    }
}

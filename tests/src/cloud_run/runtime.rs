//! What runs a container image. On this machine an image is the release
//! binary of the same name: `REGION-docker.pkg.dev/P/auth/public-service:TAG`
//! runs `BINARIES/public-service`. A real container runtime can replace
//! this by implementing [`Runtime`].

use std::path::{Path, PathBuf};

pub trait Runtime: Send + Sync {
    /// The executable that is `image`'s entrypoint, or why it cannot run.
    fn entrypoint(&self, image: &str) -> Result<PathBuf, String>;
}

/// Images as binaries in one directory.
pub struct HostBinaries {
    pub dir: PathBuf,
}

/// The image's name: its last path segment without tag or digest.
pub fn image_name(image: &str) -> &str {
    let last = image.rsplit('/').next().unwrap_or(image);
    let last = last.split('@').next().unwrap_or(last);
    last.split(':').next().unwrap_or(last)
}

impl Runtime for HostBinaries {
    fn entrypoint(&self, image: &str) -> Result<PathBuf, String> {
        let name = image_name(image);
        let path = self.dir.join(name);
        if name.is_empty() || !is_executable(&path) {
            return Err(format!(
                "Image '{image}' not found (no executable {} on this machine).",
                path.display()
            ));
        }
        Ok(path)
    }
}

/// Images as binaries, and some as programs of this repository: the apps
/// a rehearsal runs as sidecars (an operator's own image on Cloud Run).
pub struct WithApps {
    pub binaries: HostBinaries,
    /// (image name, executable).
    pub apps: Vec<(String, PathBuf)>,
}

impl Runtime for WithApps {
    fn entrypoint(&self, image: &str) -> Result<PathBuf, String> {
        match self.apps.iter().find(|(name, _)| name == image_name(image)) {
            Some((_, path)) if is_executable(path) => Ok(path.clone()),
            Some((_, path)) => Err(format!("{} is not executable", path.display())),
            None => self.binaries.entrypoint(image),
        }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::image_name;

    #[test]
    fn the_image_name_is_the_last_segment_without_tag_or_digest() {
        assert_eq!(
            image_name("europe-west1-docker.pkg.dev/p/auth/public-service:abc123"),
            "public-service"
        );
        assert_eq!(image_name("private-service@sha256:00ff"), "private-service");
        assert_eq!(image_name("private-service"), "private-service");
    }
}

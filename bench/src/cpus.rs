//! Servers on one half of the allowed cores, load generators on the other,
//! so a load generator never steals the time it is measuring.
//!
//! The driver pins itself (it hosts the mock provider and the flow
//! driver) by running again under `taskset`; the servers and `wrk` are
//! started under `taskset` too.

use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::{bail, Context};

const SERVER_CPUS: &str = "BENCH_SERVER_CPUS";
const LOAD_CPUS: &str = "BENCH_LOAD_CPUS";

/// Where the processes of a run are allowed to run.
pub struct Pinning {
    /// `taskset -c` lists; `None` when there is one core to share.
    pub server: Option<String>,
    pub load: Option<String>,
    /// How many cores the servers get: their `WORKERS`.
    pub server_cores: usize,
    pub load_cores: usize,
}

impl Pinning {
    pub fn describe(&self) -> String {
        match (&self.server, &self.load) {
            (Some(server), Some(load)) => format!(
                "servers on CPU {server} (`taskset -c {server}`), load generators and the mock provider on CPU {load}"
            ),
            _ => "not pinned: one core, shared by the servers and the load generators".to_owned(),
        }
    }
}

/// The pinning of this run. On the first call of a run with two or more
/// allowed cores this does not return: the program starts again on the
/// load generators' cores.
pub fn pin() -> anyhow::Result<Pinning> {
    if let (Ok(server), Ok(load)) = (std::env::var(SERVER_CPUS), std::env::var(LOAD_CPUS)) {
        return Ok(Pinning {
            server_cores: count(&server)?,
            load_cores: count(&load)?,
            server: Some(server),
            load: Some(load),
        });
    }
    let allowed = allowed_cpus()?;
    if allowed.len() < 2 {
        return Ok(Pinning {
            server: None,
            load: None,
            server_cores: 1,
            load_cores: 1,
        });
    }
    let (server, load) = allowed.split_at(allowed.len() / 2);
    let (server, load) = (join(server), join(load));
    let exe = std::env::current_exe().context("finding this program")?;
    let error = Command::new("taskset")
        .arg("-c")
        .arg(&load)
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(SERVER_CPUS, &server)
        .env(LOAD_CPUS, &load)
        .exec();
    Err(error).context("running again under taskset (util-linux)")
}

/// The CPUs this process may run on, from `/proc/self/status`.
fn allowed_cpus() -> anyhow::Result<Vec<usize>> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let list = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .context("/proc/self/status has no Cpus_allowed_list")?;
    expand(list.trim())
}

/// `0-2,5` → `[0, 1, 2, 5]`.
fn expand(list: &str) -> anyhow::Result<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        let (first, last): (usize, usize) = (first.trim().parse()?, last.trim().parse()?);
        if last < first {
            bail!("a CPU range runs backwards: {part}");
        }
        cpus.extend(first..=last);
    }
    Ok(cpus)
}

fn join(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn count(list: &str) -> anyhow::Result<usize> {
    let n = expand(list)?.len();
    if n == 0 {
        bail!("an empty CPU list");
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_single_cpus_are_expanded() {
        assert_eq!(expand("0-2,5").unwrap(), vec![0, 1, 2, 5]);
        assert_eq!(expand("3").unwrap(), vec![3]);
    }

    #[test]
    fn a_backwards_range_is_refused() {
        assert!(expand("3-1").is_err());
    }
}

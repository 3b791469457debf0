//! The facts of the machine and the code a run was made with.

use std::process::Command;

pub struct Facts {
    pub cpus_online: usize,
    pub cpu_model: String,
    pub memory: String,
    pub kernel: String,
    pub rustc: String,
    pub wrk: String,
    pub date: String,
    pub commit: String,
}

impl Facts {
    pub fn gather() -> Self {
        let cpuinfo = read("/proc/cpuinfo");
        Self {
            cpus_online: cpuinfo
                .lines()
                .filter(|l| l.starts_with("processor"))
                .count(),
            cpu_model: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
                .unwrap_or_else(unknown),
            memory: read("/proc/meminfo")
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
                .unwrap_or_else(unknown),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            rustc: first_line("rustc", &["-V"]),
            wrk: first_line("wrk", &["-v"])
                .split(" Copyright")
                .next()
                .unwrap_or_default()
                .to_owned(),
            date: first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            commit: commit(),
        }
    }
}

/// The load average (1, 5, 15 min): other work on the machine.
pub fn load_average() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn commit() -> String {
    let head = first_line("git", &["rev-parse", "--short=12", "HEAD"]);
    // The results file itself is rewritten by every run.
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no", "--", "."])
        .arg(":!bench/RESULTS.md")
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    if dirty {
        format!("{head} with uncommitted changes")
    } else {
        head
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8(text).ok()
        })
        .and_then(|t| t.lines().next().map(|l| l.trim().to_owned()))
        .filter(|l| !l.is_empty())
        .unwrap_or_else(unknown)
}

fn unknown() -> String {
    "unknown".to_owned()
}

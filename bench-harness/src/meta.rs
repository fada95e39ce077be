//! Where a figure came from: the revision, the machine and the toolchain.
//!
//! Every probe falls back to `"unknown"` rather than failing: a measurement without its
//! compiler version is still worth recording, and says so.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// The facts recorded with every run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// `git rev-parse --short HEAD`, or `"unknown"`.
    pub git_rev: String,
    /// `true` when the working tree had uncommitted changes to tracked files.
    pub git_dirty: bool,
    /// Cores available to the process (`available_parallelism`).
    pub cores: usize,
    /// The first `model name` of `/proc/cpuinfo`, or `"unknown"`.
    pub cpu_model: String,
    /// Total memory in bytes (`MemTotal` of `/proc/meminfo`), or 0 when unknown.
    pub mem_total_bytes: u64,
    /// `rustc --version`, or `"unknown"`.
    pub rustc: String,
    /// The current UTC time, RFC 3339.
    pub date: String,
}

impl Meta {
    /// Probes the machine; git runs in `repo`.
    pub fn probe(repo: &Path) -> Self {
        let git_rev = command_line(
            "git",
            &["-C", path_str(repo), "rev-parse", "--short", "HEAD"],
        );
        let git_dirty = command_line(
            "git",
            &[
                "-C",
                path_str(repo),
                "status",
                "--porcelain",
                "--untracked-files=no",
            ],
        );
        Meta {
            git_dirty: git_rev != "unknown" && git_dirty != "unknown" && !git_dirty.is_empty(),
            git_rev,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: proc_field("/proc/cpuinfo", "model name")
                .unwrap_or_else(|| "unknown".into()),
            mem_total_bytes: proc_field("/proc/meminfo", "MemTotal")
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .map_or(0, |kb| kb * 1024),
            rustc: command_line("rustc", &["--version"]),
            date: rfc3339_utc(SystemTime::now()),
        }
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap_or(".")
}

/// The trimmed standard output of a successful command, or `"unknown"`.
fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".into(), |s| s.trim().to_string())
}

/// The value of the first `key: value` line of a `/proc` file.
fn proc_field(path: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// `t` as an RFC 3339 UTC timestamp with second precision, e.g. `2026-05-01T12:34:56Z`.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> String {
        rfc3339_utc(UNIX_EPOCH + Duration::from_secs(secs))
    }

    #[test]
    fn dates_match_known_instants() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn proc_fields_are_found_or_absent() {
        assert!(proc_field("/proc/meminfo", "MemTotal").is_some());
        assert!(proc_field("/proc/meminfo", "NoSuchField").is_none());
        assert!(proc_field("/no/such/file", "x").is_none());
    }
}

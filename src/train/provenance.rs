//! Where and with what a run was trained: each process that trains a run
//! (`train`, `resume`, a sweep's task) appends a line to its
//! `provenance.jsonl` with the code's commit, the command, the machine
//! and the time, so a results table can give the commit, date and
//! hardware of every run it reports (`somnium report`).

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The file's name inside a run directory.
pub const PROVENANCE: &str = "provenance.jsonl";

/// One process's training of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The git commit somnium was built from (`+modified` when the tree
    /// had changes then; `unknown` outside a checkout).
    pub commit: String,
    /// somnium's version.
    pub version: String,
    /// The command line.
    pub command: Vec<String>,
    /// The machine's host name.
    pub host: String,
    /// Its CPU model and the cores this process could use.
    pub cpu: String,
    /// The run's `run.device`.
    pub device: String,
    /// When the process started training it (seconds since 1970, UTC).
    pub started: u64,
    /// The environment steps it started from.
    pub from_env_steps: u64,
}

impl Provenance {
    /// This process, training on `device` from `from_env_steps`.
    pub fn now(device: &str, from_env_steps: u64) -> Provenance {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, m)| m.trim().to_string())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        Provenance {
            commit: env!("SOMNIUM_COMMIT").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            command: std::env::args().collect(),
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            cpu: format!("{model}, {cores} cores"),
            device: device.to_string(),
            started: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            from_env_steps,
        }
    }

    /// Append this record to the run in `root` (one JSON line, written
    /// whole with one call).
    pub fn append(&self, root: &Path) -> Result<()> {
        let path = root.join(PROVENANCE);
        let line = serde_json::to_string(self).expect("serialises") + "\n";
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(line.as_bytes()))
            .map_err(|e| Error::io("recording the run's provenance", &path, e))
    }

    /// Every record of the run in `root`, oldest first (none for runs
    /// written before they were kept; unreadable lines are skipped).
    pub fn read(root: &Path) -> Vec<Provenance> {
        std::fs::read_to_string(root.join(PROVENANCE))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

/// The UTC calendar date `YYYY-MM-DD` of `seconds` since 1970 (Howard
/// Hinnant's days-to-civil algorithm).
pub fn utc_date(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_by_hand() {
        assert_eq!(utc_date(0), "1970-01-01");
        // 2000-02-29 (a leap day) and 2026-12-06 at noon.
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_796_558_400), "2026-12-06");
    }

    #[test]
    fn records_append_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let first = Provenance::now("flex", 0);
        first.append(dir.path()).unwrap();
        Provenance::now("flex", 500).append(dir.path()).unwrap();
        let read = Provenance::read(dir.path());
        assert_eq!(read.len(), 2);
        assert_eq!(read[0], first);
        assert_eq!(read[1].from_env_steps, 500);
        assert!(!read[0].commit.is_empty() && read[0].cpu.contains("cores"));
    }
}

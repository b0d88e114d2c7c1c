//! `somnium sweep --slurm` against a real Slurm cluster: every run of a
//! submitted sweep finishes, and a task cancelled with `scancel` is
//! resumed from its checkpoint when the sweep is submitted again.
//!
//! CI starts a one-node cluster (`scripts/slurm_test_cluster.sh`) and sets
//! `SOMNIUM_REQUIRE_SLURM=1`, which makes these tests fail instead of skip
//! where `sinfo` does not answer.

#[path = "common/runs.rs"]
mod runs;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use runs::{TINY_MUZERO, somnium};

/// Whether a cluster answers; panics when one is required and does not.
fn cluster() -> bool {
    let answers = Command::new("sinfo")
        .arg("-h")
        .output()
        .is_ok_and(|out| out.status.success());
    if !answers {
        assert!(
            std::env::var_os("SOMNIUM_REQUIRE_SLURM").is_none(),
            "SOMNIUM_REQUIRE_SLURM is set but `sinfo` does not answer: start the test cluster \
             with scripts/slurm_test_cluster.sh"
        );
        eprintln!(
            "skipped: no Slurm cluster answers `sinfo` (scripts/slurm_test_cluster.sh starts one)"
        );
    }
    answers
}

/// Write the tiny MuZero experiment with `env_steps` into `dir`.
fn experiment(dir: &Path, env_steps: u64) -> std::path::PathBuf {
    let path = dir.join("tiny.toml");
    let text = TINY_MUZERO.replace("env_steps = 600", &format!("env_steps = {env_steps}"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Submit the sweep; returns the job id printed.
fn submit(exp: &Path, sweep: &Path, seeds: u64) -> String {
    let out = somnium()
        .args([
            "sweep",
            exp.to_str().unwrap(),
            "--seeds",
            &seeds.to_string(),
            "--dir",
        ])
        .arg(sweep)
        .args(["--slurm", "--time", "00:10:00", "--cpus-per-task", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = stdout
        .split("submitted job array ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no job id in: {stdout}"));
    id.to_string()
}

/// `somnium sweep --status` as (run, state) pairs.
fn states(sweep: &Path) -> Vec<(String, String)> {
    let out = somnium()
        .args(["sweep", "--status"])
        .arg(sweep)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(|line| {
            let mut words = line.split_whitespace();
            (
                words.next().unwrap().to_string(),
                words.next().unwrap().to_string(),
            )
        })
        .collect()
}

/// Poll until `done` holds of the sweep's states, or fail after `limit`.
fn wait_for(
    sweep: &Path,
    limit: Duration,
    done: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let start = Instant::now();
    loop {
        let now = states(sweep);
        if done(&now) {
            return now;
        }
        assert!(
            start.elapsed() < limit,
            "the sweep did not get there in {limit:?}: {now:?}\nqueue: {}",
            String::from_utf8_lossy(&Command::new("squeue").output().unwrap().stdout)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn all_finished(states: &[(String, String)]) -> bool {
    states.iter().all(|(_, s)| s == "finished")
}

#[test]
fn a_submitted_sweep_finishes_every_run() {
    if !cluster() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), 300);
    let sweep = tmp.path().join("sweep");
    submit(&exp, &sweep, 3);
    let end = wait_for(&sweep, Duration::from_secs(300), all_finished);
    assert_eq!(end.len(), 3, "{end:?}");
    // Submitting again finds nothing to do.
    let out = somnium()
        .args(["sweep", exp.to_str().unwrap(), "--seeds", "3", "--dir"])
        .arg(&sweep)
        .arg("--slurm")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("nothing to submit"), "{stdout}");
}

#[test]
fn a_cancelled_task_resumes_from_its_checkpoint_when_resubmitted() {
    if !cluster() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Long enough to be cancelled mid-run; checkpoints every 200 steps.
    let exp = experiment(tmp.path(), 20_000);
    let sweep = tmp.path().join("sweep");
    let job = submit(&exp, &sweep, 1);
    let run = sweep.join("seed00");
    let start = Instant::now();
    while runs::checkpoints(&run).len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no checkpoints in {run:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let cancelled = Command::new("scancel")
        .arg(format!("{job}_0"))
        .status()
        .unwrap();
    assert!(cancelled.success());
    let stopped = wait_for(&sweep, Duration::from_secs(120), |s| {
        s[0].1 != "running" && s[0].1 != "queued"
    });
    assert_ne!(stopped[0].1, "finished", "cancelled too late: {stopped:?}");
    let second = submit(&exp, &sweep, 1);
    assert_ne!(second, job);
    wait_for(&sweep, Duration::from_secs(300), all_finished);
    let log = std::fs::read_to_string(sweep.join("slurm").join(format!("{second}_0.out"))).unwrap();
    assert!(log.contains("resuming") && log.contains(" from "), "{log}");
    assert!(!log.contains("from 0 env steps"), "{log}");
}

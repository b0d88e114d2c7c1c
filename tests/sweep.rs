//! `somnium sweep` on this machine and `somnium report` on what it made:
//! a sweep killed with SIGKILL takes its runs down with it, and the same
//! command then finishes what was left without touching finished runs;
//! the report aggregates the seeds; bad requests are refused by name.
//!
//! And `somnium sweep --slurm` against a real Slurm cluster: every run of a
//! submitted sweep finishes, and a task cancelled with `scancel` is
//! resumed from its checkpoint when the sweep is submitted again. CI starts
//! a one-node cluster (`scripts/slurm_test_cluster.sh`) and sets
//! `SOMNIUM_REQUIRE_SLURM=1`, which makes those tests fail instead of skip
//! where `sinfo` does not answer.

#[path = "common/runs.rs"]
mod runs;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use std::time::{Duration, Instant};

use runs::{TINY_MUZERO, error_of, somnium};

fn experiment(dir: &Path) -> PathBuf {
    let path = dir.join("tiny.toml");
    let text = TINY_MUZERO.replace("eval_every = 0", "eval_every = 200\neval_episodes = 2");
    std::fs::write(&path, text).unwrap();
    path
}

fn sweep_command(exp: &Path, sweep: &Path) -> Command {
    let mut command = somnium();
    command
        .args([
            "sweep",
            exp.to_str().unwrap(),
            "--seeds",
            "2",
            "--jobs",
            "2",
        ])
        .args(["--grid", "run.env_steps=400,20000", "--dir"])
        .arg(sweep);
    command
}

fn status(sweep: &Path) -> String {
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
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn state_of(status: &str, run: &str) -> String {
    status
        .lines()
        .find(|line| line.starts_with(run))
        .and_then(|line| line.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("no {run} in:\n{status}"))
        .to_string()
}

#[test]
fn a_killed_sweep_finishes_on_the_same_command_without_redoing_finished_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path());
    let sweep = tmp.path().join("sweep");
    let mut first = sweep_command(&exp, &sweep)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The short runs (grid order: 400 steps first) finish; the long ones
    // start and checkpoint; then the sweep process is killed.
    let long = "env_steps=20000-seed00";
    let start = Instant::now();
    loop {
        let now = if sweep.join("sweep.json").is_file() {
            status(&sweep)
        } else {
            String::new()
        };
        if !now.is_empty()
            && state_of(&now, "env_steps=400-seed01") == "finished"
            && runs::checkpoints(&sweep.join(long)).len() >= 2
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no progress:\n{now}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    // Its runs stop with it: nobody holds their locks for long.
    let start = Instant::now();
    while state_of(&status(&sweep), long) == "running" {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            status(&sweep)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = status(&sweep);
    assert_eq!(state_of(&before, long), "partial", "{before}");
    let short = sweep.join("env_steps=400-seed00");
    let short_metrics = std::fs::read(short.join("metrics.jsonl")).unwrap();
    let short_checkpoints = runs::checkpoints(&short);

    let out = sweep_command(&exp, &sweep)
        .args(["--set", "run.env_steps=2000"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("another --set overrides"),
        "{text}"
    );
    let out = sweep_command(&exp, &sweep).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2 of 4 runs need nothing"), "{stdout}");
    let after = status(&sweep);
    for run in [
        "env_steps=400-seed00",
        "env_steps=400-seed01",
        long,
        "env_steps=20000-seed01",
    ] {
        assert_eq!(state_of(&after, run), "finished", "{after}");
    }
    assert_eq!(
        std::fs::read(short.join("metrics.jsonl")).unwrap(),
        short_metrics
    );
    assert_eq!(runs::checkpoints(&short), short_checkpoints);
    let log = std::fs::read_to_string(sweep.join(long).join("sweep.log")).unwrap();
    assert!(
        log.contains("resuming") && !log.contains("from 0 env steps"),
        "{log}"
    );

    // The report pools the seeds of each grid point.
    let out = somnium()
        .arg("report")
        .arg(&sweep)
        .args(["--reps", "2000"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains("tiny env_steps=400 | CartPole-v1 | 2 |"),
        "{report}"
    );
    assert!(report.contains("IQM"), "{report}");
    // Each method's command, commit, dates and hardware, from the runs.
    assert!(
        report.contains("--seeds 2 --grid run.env_steps=400,20000`"),
        "{report}"
    );
    assert!(!report.contains("not recorded"), "{report}");
    assert!(
        sweep
            .join("report")
            .join("CartPole-v1-eval-return.svg")
            .is_file()
    );

    // `somnium plot` draws a sweep as each grid point's mean over seeds.
    let out = somnium()
        .arg("plot")
        .arg(&sweep)
        .args(["--table", "--output"])
        .arg(tmp.path().join("plot.svg"))
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("tiny env_steps=400 (2 runs)"), "{table}");

    // The experiment edited since: the sweep refuses to mix its runs.
    let text = std::fs::read_to_string(&exp).unwrap();
    std::fs::write(&exp, text.replace("td_steps = 5", "td_steps = 4")).unwrap();
    let out = sweep_command(&exp, &sweep).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("`muzero.training.td_steps` = 5"),
        "{text}"
    );
}

#[test]
fn bad_sweep_requests_name_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path());
    let dir = tmp.path().join("sweep");
    let (exp, dir_arg) = (exp.to_str().unwrap(), dir.to_str().unwrap());
    let cases: [(&[&str], &str); 4] = [
        (&["--grid", "run.seed=1,2"], "run.seed"),
        (
            &["--grid", "muzero.training.no_such_key=1,2"],
            "no_such_key",
        ),
        (&["--grid", "muzero.training.td_steps="], "lists no values"),
        (&["--seeds", "0"], "at least 1"),
    ];
    for (args, expected) in cases {
        let mut all = vec!["sweep", exp, "--dir", dir_arg];
        all.extend_from_slice(args);
        let message = error_of(&all);
        assert!(message.contains(expected), "{args:?}: {message}");
        assert!(!dir.exists(), "{args:?} created the sweep directory");
    }
    let message = error_of(&["sweep", "--status", tmp.path().to_str().unwrap()]);
    assert!(message.contains("sweep.json"), "{message}");
}

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
fn long_experiment(dir: &Path, env_steps: u64) -> std::path::PathBuf {
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
fn slurm_states(sweep: &Path) -> Vec<(String, String)> {
    status(sweep)
        .lines()
        .skip(1)
        .map(|line| {
            let mut words = line.split_whitespace();
            let run = words.next().unwrap().to_string();
            (run, words.next().unwrap().to_string())
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
        let now = slurm_states(sweep);
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
    let exp = long_experiment(tmp.path(), 300);
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
    let exp = long_experiment(tmp.path(), 20_000);
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

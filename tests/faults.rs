//! Faults a run must survive, each provoked for real against the `somnium`
//! binary: a full disk, a second writer, damaged checkpoints, a half-written
//! metrics line, a resume of a finished run, and the command line's bad
//! input. docs/faults.md lists them with what somnium does about each.
//! (Kills with SIGKILL at any moment are in tests/kill_resume.rs.)

#[path = "common/runs.rs"]
mod runs;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use runs::{
    TINY, TINY_MUZERO, checkpoints, error_of, first_checkpoint, manifest, only_run, somnium,
    spawn_training,
};

/// Write `config` as `<dir>/tiny.toml` with `extra` lines appended to its
/// `[run]` table's overrides, and return the path.
fn experiment(dir: &Path, config: &str) -> PathBuf {
    let path = dir.join("tiny.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// `somnium args...`, run to its end.
fn run(args: &[&str]) -> Output {
    somnium().args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Train `config` to its end under `dir/runs` and return the run directory.
fn trained(dir: &Path, config: &str, extra: &[&str]) -> PathBuf {
    let exp = experiment(dir, config);
    let logdir = dir.join("runs");
    let mut args = vec![
        "train",
        exp.to_str().unwrap(),
        "--logdir",
        logdir.to_str().unwrap(),
    ];
    args.extend(extra);
    let out = run(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    only_run(&logdir)
}

/// The `step` of every row of a run's metrics.jsonl (each must parse).
fn metric_steps(run: &Path) -> Vec<u64> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("metrics line {line:?} does not parse: {e}"));
            row["step"].as_u64().unwrap()
        })
        .collect()
}

/// Names and contents of every file under `dir`, for "nothing changed".
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.push((path, bytes));
            }
        }
    }
    files.sort();
    files
}

/// A small tmpfs mounted on a temporary directory, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    /// Mount one of `megabytes`, or say why not (mounting needs root).
    fn mount(megabytes: u32) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        match out.status.success() {
            true => Ok(Tmpfs(dir)),
            false => Err(text(&out.stderr)),
        }
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    /// Write a file that takes every free byte left.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        let _ = file.write_all(&block[..1]);
        let _ = file.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

/// A full disk mid-run (TensorBoard on, as by default): the run stops with
/// an error naming the file it could not write, never a panic or an abort;
/// no temporary checkpoint is left behind; and once space is freed the run
/// resumes from its last complete checkpoint to the end.
#[test]
fn a_full_disk_stops_the_run_cleanly_and_it_resumes_once_freed() {
    let disk = match Tmpfs::mount(64) {
        Ok(disk) => disk,
        Err(why) => {
            assert!(
                std::env::var("SOMNIUM_REQUIRE_MOUNT").is_err(),
                "SOMNIUM_REQUIRE_MOUNT is set but a tmpfs cannot be mounted: {why}"
            );
            eprintln!("skipped: cannot mount a tmpfs to fill (needs root): {why}");
            return;
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), TINY);
    let logdir = disk.path().join("runs");
    let mut child = spawn_training(
        &exp,
        &logdir,
        &[
            "--set",
            "run.tensorboard=true",
            "--set",
            "run.env_steps=1000",
        ],
    );
    let run = first_checkpoint(&mut child, &logdir);
    let filler = disk.fill();
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a clean error exit, not an abort: {err}"
    );
    assert!(
        !err.contains("panicked") && err.contains("No space left on device"),
        "{err}"
    );
    assert!(
        err.contains(&*run.to_string_lossy()),
        "the error names the file: {err}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary checkpoints left: {leftovers:?}"
    );

    std::fs::remove_file(filler).unwrap();
    let out = run_resume(&run, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let last = checkpoints(&run).pop().unwrap();
    assert_eq!(manifest(&last)["counters"]["env_steps"], 1000);
    let steps = metric_steps(&run);
    assert!(
        steps.windows(2).all(|w| w[0] < w[1]),
        "each step once: {steps:?}"
    );
}

fn run_resume(run_dir: &Path, extra: &[&str]) -> Output {
    somnium()
        .arg("resume")
        .arg(run_dir)
        .args(extra)
        .output()
        .unwrap()
}

/// A run being trained refuses a second writer, naming the holder's pid;
/// killed with SIGKILL, the holder leaves no stale lock behind.
#[test]
fn a_second_writer_is_refused_and_a_killed_one_leaves_no_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), TINY);
    let logdir = tmp.path().join("runs");
    let mut child = spawn_training(&exp, &logdir, &["--set", "run.env_steps=100000"]);
    let run = first_checkpoint(&mut child, &logdir);
    let out = run_resume(&run, &[]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "a second writer was let in: {err}");
    assert!(
        err.contains("in use by process") && err.contains(&child.id().to_string()),
        "{err}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let out = run_resume(&run, &["--set", "run.env_steps=400"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Overwrite `bytes` bytes at the end of `file` with 0xFF (NaN as f32).
fn scribble(file: &Path, bytes: usize) {
    let mut data = std::fs::read(file).unwrap();
    let n = data.len();
    data[n - bytes..].fill(0xff);
    std::fs::write(file, data).unwrap();
}

/// Damaged checkpoints: a file that fails its checksum is found before
/// loading, and eval and resume fall back to the newest checkpoint that
/// verifies (an asked-for one is an error instead); weights that hold NaN
/// with a matching checksum are refused as they load. A resume from the
/// older checkpoint sets the newer one and its metrics rows aside and
/// heals a half-written last line, so every step is logged once.
#[test]
fn damaged_checkpoints_are_detected_and_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = trained(tmp.path(), TINY, &[]);
    let run_arg = run_dir.to_str().unwrap();
    let kept = checkpoints(&run_dir);
    let (older, newest) = (&kept[kept.len() - 2], &kept[kept.len() - 1]);
    scribble(&newest.join("actor.bpk"), 64);

    let out = run(&["eval", run_arg, "--episodes", "1"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("actor.bpk") && stderr.contains("corrupt"),
        "{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["checkpoint_env_steps"], 400, "fell back to 400");
    let err = error_of(&["eval", run_arg, "--checkpoint", "600"]);
    assert!(
        err.contains("actor.bpk") && err.contains("checksum"),
        "{err}"
    );

    // NaN weights whose checksum was updated to match: refused on load.
    scribble(&older.join("critic.bpk"), 64);
    let mut m = manifest(older);
    let bytes = std::fs::read(older.join("critic.bpk")).unwrap();
    m["files"]["critic.bpk"]["crc32"] = format!("{:08x}", crc32fast::hash(&bytes)).into();
    std::fs::write(older.join("manifest.json"), m.to_string()).unwrap();
    let err = error_of(&["eval", run_arg, "--checkpoint", "400"]);
    assert!(err.contains("critic.bpk") && err.contains("NaN"), "{err}");

    // Resume skips both and goes on from 200, healing the metrics.
    let mut metrics = std::fs::read(run_dir.join("metrics.jsonl")).unwrap();
    metrics.extend_from_slice(b"{\"step\":650,\"loss/");
    std::fs::write(run_dir.join("metrics.jsonl"), metrics).unwrap();
    let out = run_resume(&run_dir, &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("resuming") && stdout.contains("from 200 env steps"),
        "{stdout}"
    );
    assert!(
        stdout.contains("partial last line") && stdout.contains("set aside"),
        "{stdout}"
    );
    assert!(
        run_dir
            .join("checkpoints/000000000600.superseded/actor.bpk")
            .is_file()
    );
    let steps = metric_steps(&run_dir);
    assert!(
        steps.windows(2).all(|w| w[0] < w[1]),
        "each step once: {steps:?}"
    );
    assert_eq!(steps.last(), Some(&600));
    // The resumed line's newest checkpoint is whole: nothing is skipped.
    let out = run(&["eval", run_arg, "--episodes", "1"]);
    assert!(
        out.status.success() && !text(&out.stderr).contains("skipped"),
        "{}",
        text(&out.stderr)
    );
    // `resume --checkpoint` picks one, as eval's does.
    let out = run_resume(
        &run_dir,
        &["--checkpoint", "400", "--set", "run.env_steps=800"],
    );
    assert!(
        out.status.success() && text(&out.stdout).contains("from 400 env steps"),
        "{}",
        text(&out.stderr)
    );
}

/// Resuming a finished run says so and how to extend it, and changes
/// nothing in the run directory.
#[test]
fn resuming_a_finished_run_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = trained(tmp.path(), TINY, &["--set", "run.tensorboard=true"]);
    let before = snapshot(&run_dir);
    let out = run_resume(&run_dir, &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("is finished") && stdout.contains("--set run.env_steps="),
        "{stdout}"
    );
    assert!(snapshot(&run_dir) == before, "the finished run was changed");
}

/// Bad input on the command line: each is refused with the key, the file
/// or the flag it came from, and what was expected.
#[test]
fn bad_input_is_refused_with_its_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), TINY);
    let exp = exp.to_str().unwrap();
    let err = error_of(&["train", exp, "--set", "dreamer.replay.batch=0"]);
    assert!(
        err.contains("`dreamer.replay.batch`") && !err.contains("replica"),
        "{err}"
    );
    // An override's range problem is the override's, not the file's.
    let err = error_of(&["train", exp, "--set", "run.env_steps=0"]);
    assert!(err.contains("--set: `run.env_steps`"), "{err}");
    let err = error_of(&["train", exp, "--set", "run.env_steps"]);
    assert!(err.contains("--set run.env_steps=5000"), "{err}");
    let err = error_of(&["train", exp, "--set", "dreamer.optimizer.model_lr=inf"]);
    assert!(
        err.contains("`dreamer.optimizer.model_lr`: must be finite"),
        "{err}"
    );
    let err = error_of(&["train", exp, "--set", "dreamer.optimizer.model_lr=nan"]);
    assert!(err.contains("`dreamer.optimizer.model_lr`"), "{err}");
    // A missing include names both files.
    let including = tmp.path().join("including.toml");
    std::fs::write(&including, "include = [\"presets/nowhere.toml\"]\n").unwrap();
    let err = error_of(&["train", including.to_str().unwrap()]);
    assert!(
        err.contains("including.toml") && err.contains("nowhere.toml"),
        "{err}"
    );
    // An unknown environment id lists the registered ones.
    let err = error_of(&["train", exp, "--set", "env.id=Cartpole-v1"]);
    assert!(err.contains("did you mean `CartPole-v1`?"), "{err}");

    let dreamer = trained(tmp.path(), TINY, &["--set", "run.env_steps=200"]);
    let dreamer = dreamer.to_str().unwrap();
    let err = error_of(&["eval", dreamer, "--episodes", "0"]);
    assert!(err.contains("--episodes"), "{err}");
    // A resume that changes the model names what changed.
    let err = error_of(&["resume", dreamer, "--set", "dreamer.rssm.deter=48"]);
    assert!(err.contains("dreamer.rssm.deter: 32 -> 48"), "{err}");
    // Another agent's keys do not apply to this run's evaluation.
    let muzero_dir = tempfile::tempdir().unwrap();
    let muzero = trained(
        muzero_dir.path(),
        TINY_MUZERO,
        &["--set", "run.env_steps=200"],
    );
    let err = error_of(&[
        "eval",
        muzero.to_str().unwrap(),
        "--set",
        "dreamer.planner.kind=cem",
    ]);
    assert!(
        err.contains("`dreamer.planner.kind`") && err.contains("muzero.search."),
        "{err}"
    );
}

/// `somnium envs | head -1`: a reader that stops reading ends the output
/// quietly (the read end is closed before the program writes).
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let mut child = somnium()
        .arg("envs")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"));
}

/// Training prints the run directory once.
#[test]
fn the_run_directory_is_printed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), TINY);
    let logdir = tmp.path().join("runs");
    let out = run(&[
        "train",
        exp.to_str().unwrap(),
        "--logdir",
        logdir.to_str().unwrap(),
        "--set",
        "run.env_steps=150",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).matches("run directory:").count(), 1);
}

//! A training run killed with SIGKILL resumes from its last checkpoint
//! with `somnium resume`, losing nothing before it; one seed trains one
//! run; and the command line's errors name what is wrong.

#[path = "common/runs.rs"]
mod runs;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use runs::{
    TINY, TINY_MUZERO, TINY_STORM, checkpoints, error_of, first_checkpoint, manifest, only_run,
    somnium, spawn_training,
};

/// Train `config` with `run.seed = seed` and return its metrics lines
/// without the timings.
fn metrics_of_run(config: &str, seed: u64) -> Vec<serde_json::Value> {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("seeded.toml");
    std::fs::write(&file, config).unwrap();
    let out = somnium()
        .args(["train", file.to_str().unwrap(), "--logdir"])
        .arg(tmp.path().join("runs"))
        .args(["--set", &format!("run.seed={seed}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = only_run(&tmp.path().join("runs"));
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            value
                .as_object_mut()
                .unwrap()
                .retain(|key, _| !key.starts_with("perf/"));
            value
        })
        .collect()
}

#[test]
fn one_seed_trains_one_run() {
    // The initial weights, environments and every sample follow `run.seed`
    // (the weights did not, before the agents seeded their device), with
    // the update split over two threaded shares as the experiments do.
    let config = TINY
        .replace("env_steps = 600", "env_steps = 200")
        .replace("[run]\n", "[run]\nupdate_shards = 2\n");
    let first = metrics_of_run(&config, 3);
    assert!(
        first.iter().any(|m| m.get("loss/dynamics").is_some()),
        "the run made updates: {first:?}"
    );
    assert_eq!(first, metrics_of_run(&config, 3), "same seed, same run");
    assert_ne!(
        first,
        metrics_of_run(&config, 4),
        "another seed, another run"
    );
}

#[test]
fn one_seed_trains_one_storm_run_with_imagination_in_two_shares() {
    // STORM's imagination and actor-critic losses split over two threads
    // (`update_shards = 2`): the run is still a function of its seed.
    let config = TINY_STORM
        .replace("env_steps = 600", "env_steps = 200")
        .replace("[run]\n", "[run]\nupdate_shards = 2\n");
    let first = metrics_of_run(&config, 3);
    assert!(
        first.iter().any(|m| m.get("actor/entropy").is_some()),
        "the run made updates: {first:?}"
    );
    assert_eq!(first, metrics_of_run(&config, 3), "same seed, same run");
}

#[test]
fn a_run_stops_once_its_evaluation_reaches_the_goal() {
    // Random CartPole episodes last about 20 steps, so a goal of 5 is met
    // by the first evaluation, at 200 steps, long before env_steps = 600.
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("goal.toml");
    std::fs::write(&exp, TINY).unwrap();
    let logdir = tmp.path().join("runs");
    let out = somnium()
        .args(["train", exp.to_str().unwrap(), "--logdir"])
        .arg(&logdir)
        .args([
            "--set",
            "run.eval_every=200",
            "--set",
            "run.eval_episodes=2",
        ])
        .args(["--set", "run.stop_at_eval_return=5"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("stopped at 200 env steps"), "{stdout}");
    let run = only_run(&logdir);
    let last = checkpoints(&run).pop().unwrap();
    assert_eq!(manifest(&last)["counters"]["env_steps"], 200);
}

#[test]
fn dreamer_resumes_after_sigkill() {
    // train_ratio 32 over batches of 4 x 16: (600 - 100) * 32 / 64 = 250 updates in all.
    let (_tmp, run) = sigkill_then_resume(TINY, 250);
    evaluation_can_pick_a_checkpoint_and_a_planner(&run);
    the_resumed_run_plots(&run);
    resuming_in_another_precision_is_refused(&run);
}

/// An f32 run resumed in f16 would find none of its optimiser state in the
/// form the half-precision optimisers keep (f32 master weights), so resume
/// refuses before loading anything.
fn resuming_in_another_precision_is_refused(run: &Path) {
    let err = error_of(&[
        "resume",
        run.to_str().unwrap(),
        "--set",
        "run.precision=f16",
    ]);
    assert!(
        err.contains("run.precision = \"f32\", resumed with \"f16\""),
        "{err}"
    );
}

/// `somnium plot` over the resumed run's metrics: the update counter ends
/// at the run's 250 updates (the steps logged twice around the kill count
/// once); a metric never logged is refused with those that were.
fn the_resumed_run_plots(run: &Path) {
    let output = run.join("plots/updates.svg");
    let plot = |metric: &str| {
        somnium()
            .args(["plot", run.to_str().unwrap(), "--table", "--metric", metric])
            .args(["--output", output.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = plot("perf/updates");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last_row = table
        .lines()
        .filter(|l| l.starts_with("| 600 |"))
        .collect::<Vec<_>>();
    assert_eq!(last_row, ["| 600 | 250.0 |"], "{table}");
    assert!(
        std::fs::read_to_string(&output)
            .unwrap()
            .contains("<polyline")
    );

    let out = plot("eval/retrun");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("no values of `eval/retrun`")
            && err.contains("perf/updates"),
        "{err}"
    );
}

/// `somnium eval` on an older checkpoint, acting by a planner the run did
/// not train with; keys that shape the networks are refused by name.
fn evaluation_can_pick_a_checkpoint_and_a_planner(run: &Path) {
    let eval = |extra: &[&str]| {
        let mut args = vec!["eval", run.to_str().unwrap(), "--episodes", "2"];
        args.extend_from_slice(extra);
        somnium().args(&args).output().unwrap()
    };
    let out = eval(&[
        "--checkpoint",
        "200",
        "--set",
        "dreamer.planner.kind=gumbel",
        "--set",
        "dreamer.planner.search.simulations=4",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["checkpoint_env_steps"], 200);
    assert_eq!(summary["episodes"], 2);
    assert_eq!(summary["greedy"], false);

    // Greedy by the flag or by the run's own setting, the same episodes.
    let summary_of = |extra: &[&str]| {
        let out = eval(extra);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let by_flag = summary_of(&["--greedy"]);
    let by_config = summary_of(&["--set", "run.eval_greedy=true"]);
    assert_eq!(by_flag["greedy"], true);
    assert_eq!(by_flag, by_config);

    let out = eval(&["--set", "dreamer.rssm.deter=64"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("dreamer.rssm.deter"),
        "{err}"
    );
    let out = eval(&["--checkpoint", "250"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("no complete checkpoint at 250")
            && err.contains("600"),
        "{err}"
    );
}

#[test]
fn dreamer_with_an_actor_thread_resumes_after_sigkill() {
    // Two environments stepped by an actor thread with policy snapshots
    // (`run.async_actors`): the learner still makes exactly the updates its
    // train ratio owes.
    let config = TINY
        .replace("[run]\n", "[run]\nasync_actors = true\n")
        .replace("[env]\n", "[env]\nnum_envs = 2\n");
    let _ = sigkill_then_resume(&config, 250);
}

#[test]
fn muzero_resumes_after_sigkill() {
    // 0.25 updates per step after the prefill: (600 - 100) / 4 = 125 updates in all.
    let _ = sigkill_then_resume(TINY_MUZERO, 125);
}

#[test]
fn storm_resumes_after_sigkill() {
    // train_ratio 32 over batches of 4 x 16: (600 - 100) * 32 / 64 = 250
    // updates in all; the world model's history is rebuilt from nothing
    // after the resume, as after any episode start.
    let (_tmp, run) = sigkill_then_resume(TINY_STORM, 250);
    the_resumed_run_plots(&run);
}

/// Train `config`, kill the run after its first checkpoint, resume it, and
/// check that it ends where an uninterrupted run would, having made
/// `expected_updates` updates in all.
fn sigkill_then_resume(config: &str, expected_updates: u64) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("tiny.toml");
    std::fs::write(&exp, config).unwrap();
    let logdir = tmp.path().join("runs");
    let mut child = spawn_training(&exp, &logdir, &[]);
    // Wait for the first checkpoint, then kill the run without warning.
    let run = first_checkpoint(&mut child, &logdir);
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let last = checkpoints(&run).pop().unwrap();
    let before = manifest(&last);
    let steps_before = before["counters"]["env_steps"].as_u64().unwrap();
    let updates_before = before["counters"]["updates"].as_u64().unwrap();
    assert!(steps_before < 600, "killed before the end");

    let status = somnium()
        .args(["resume", run.to_str().unwrap()])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());

    let fin = checkpoints(&run).pop().unwrap();
    let after = manifest(&fin);
    assert_eq!(after["counters"]["env_steps"], 600);
    let updates_after = after["counters"]["updates"].as_u64().unwrap();
    assert_eq!(
        updates_after, expected_updates,
        "the resumed run makes exactly the updates still owed"
    );
    assert!(updates_after > updates_before);
    // Training wall time goes on from the checkpoint's, not from zero.
    let seconds = |checkpoint: &Path| {
        let state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(checkpoint.join("loop_state.json")).unwrap())
                .unwrap();
        state["train_seconds"].as_f64().unwrap()
    };
    let (seconds_before, seconds_after) = (seconds(&last), seconds(&fin));
    assert!(
        seconds_before > 0.0 && seconds_after > seconds_before,
        "train_seconds {seconds_before} at the kill, {seconds_after} at the end"
    );
    // The replay restored from the checkpoint kept every step collected before it.
    #[derive(serde::Deserialize)]
    struct Added {
        added: u64,
    }
    let state: Added =
        rmp_serde::from_slice(&std::fs::read(fin.join("replay.msgpack")).unwrap()).unwrap();
    assert!(
        state.added >= 600,
        "replay holds the steps from before the kill: {}",
        state.added
    );
    // Metrics continue past the checkpoint in the same file.
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let last_step = metrics
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["step"].as_u64())
        .max();
    assert_eq!(last_step, Some(600));
    (tmp, run)
}

#[test]
fn command_line_errors_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let err = error_of(&["train", "does/not/exist.toml"]);
    assert!(err.contains("does/not/exist.toml"), "{err}");

    let exp = tmp.path().join("bad.toml");
    std::fs::write(&exp, "[dreamer.rssm]\nclases = 4\n").unwrap();
    let err = error_of(&["train", exp.to_str().unwrap()]);
    assert!(err.contains("dreamer.rssm.clases"), "{err}");

    let good = tmp.path().join("good.toml");
    std::fs::write(&good, TINY).unwrap();
    let logdir = tmp.path().join("runs");
    let out = somnium()
        .args([
            "train",
            good.to_str().unwrap(),
            "--device",
            "cuda:0",
            "--logdir",
            logdir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if cfg!(not(feature = "cuda")) {
        assert!(
            !out.status.success() && err.contains("--features cuda"),
            "{err}"
        );
        assert!(
            !logdir.exists(),
            "no run directory is created for a run that cannot start"
        );
    }

    // A GPU that is not there: an error naming the device (and, in a build
    // without WGPU, the feature), never a panic inside the backend.
    let good = good.to_str().unwrap();
    let err = error_of(&[
        "train",
        good,
        "--device",
        "wgpu:7",
        "--logdir",
        logdir.to_str().unwrap(),
    ]);
    assert!(err.contains("wgpu:7") && !err.contains("panicked"), "{err}");
    assert!(!logdir.exists(), "{err}");
    let err = error_of(&["train", good, "--set", "run.precision=f8"]);
    assert!(err.contains("run.precision"), "{err}");
    // A goal without evaluations to reach it by.
    let err = error_of(&["train", good, "--set", "run.stop_at_eval_return=5"]);
    assert!(err.contains("run.stop_at_eval_return"), "{err}");
    let err = error_of(&["resume", tmp.path().to_str().unwrap()]);
    assert!(err.contains("config.toml is missing"), "{err}");
}

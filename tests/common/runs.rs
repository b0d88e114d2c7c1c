//! What the command-line tests share: tiny experiments that train in
//! seconds, the `somnium` binary, and readers of run directories.
#![allow(dead_code)] // each test binary uses its own share

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TINY: &str = r#"
agent = "dreamer"
[env]
id = "CartPole-v1"
[run]
env_steps = 600
prefill = 100
log_every = 50
checkpoint_every = 200
keep_checkpoints = 5
eval_every = 0
progress = false
tensorboard = false
[dreamer]
train_ratio = 32
[dreamer.rssm]
deter = 32
hidden = 32
stoch = 4
classes = 4
[dreamer.encoder]
mlp_layers = 1
mlp_units = 32
[dreamer.heads]
layers = 1
units = 32
[dreamer.replay]
batch = 4
length = 16
# The 2025 optimiser, so its state's checkpointing is exercised too (the
# MuZero run below checkpoints Adam).
[dreamer.optimizer]
kind = "laprop"
"#;

pub const TINY_MUZERO: &str = r#"
agent = "muzero"
[env]
id = "CartPole-v1"
num_envs = 2
[run]
env_steps = 600
prefill = 100
log_every = 50
checkpoint_every = 200
keep_checkpoints = 5
eval_every = 0
progress = false
tensorboard = false
# Environments step beside training here (DreamerV3's run steps them in turn).
overlap_envs = true
[muzero]
updates_per_step = 0.25
[muzero.network]
state = 16
units = 32
layers = 1
support = 10
[muzero.search]
simulations = 4
[muzero.training]
batch = 8
unroll = 3
td_steps = 5
"#;

pub fn somnium() -> Command {
    Command::new(env!("CARGO_BIN_EXE_somnium"))
}

pub fn checkpoints(run: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(run.join("checkpoints"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("manifest.json").is_file())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// The run directory of a logdir that holds one run.
pub fn only_run(logdir: &Path) -> PathBuf {
    std::fs::read_dir(logdir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

pub fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

/// What `somnium args...` says on stderr, having checked that it failed.
pub fn error_of(args: &[&str]) -> String {
    let out = somnium().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} succeeded: {err}");
    err
}

/// Start training `config` under `logdir` in the background.
pub fn spawn_training(exp: &Path, logdir: &Path, extra: &[&str]) -> Child {
    somnium()
        .args([
            "train",
            exp.to_str().unwrap(),
            "--logdir",
            logdir.to_str().unwrap(),
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait until the run under `logdir` has written a checkpoint; returns the
/// run directory.
pub fn first_checkpoint(child: &mut Child, logdir: &Path) -> PathBuf {
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no checkpoint in 10 minutes"
        );
        if let Some(run) = std::fs::read_dir(logdir)
            .ok()
            .and_then(|mut d| d.next())
            .map(|e| e.unwrap().path())
            && !checkpoints(&run).is_empty()
        {
            return run;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "training exited before a checkpoint"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A STORM run as small as TINY: one transformer block of width 32.
#[allow(dead_code)]
pub const TINY_STORM: &str = r#"
agent = "storm"
[env]
id = "CartPole-v1"
[run]
env_steps = 600
prefill = 100
log_every = 50
checkpoint_every = 200
keep_checkpoints = 5
eval_every = 0
progress = false
tensorboard = false
[storm]
train_ratio = 32
[storm.model]
width = 32
heads = 2
layers = 1
feed_forward = 64
stoch = 4
classes = 4
head_layers = 1
head_units = 32
[storm.model.encoder]
mlp_layers = 1
mlp_units = 32
[storm.actor_critic.heads]
layers = 1
units = 32
[storm.replay]
batch = 4
length = 16
"#;

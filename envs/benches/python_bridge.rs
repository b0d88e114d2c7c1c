//! Step throughput of the Python Gymnasium bridge, next to the same loop in
//! Python alone, so the cost of the process boundary can be read off.
//!
//! Run with
//! `cargo bench -p somnium-envs --features python --bench python_bridge`
//! (needs `gymnasium`, and `ale-py` plus `opencv-python-headless` for the
//! Atari rows, which are skipped when missing). Each row steps one
//! environment with cycling actions, resetting at episode ends.

use std::process::Command;
use std::time::Instant;

use somnium_envs::python::{PythonEnv, PythonEnvOptions};
use somnium_envs::{Action, Env, VecEnv};

/// Steps per measurement.
const STEPS: usize = 5_000;

/// Steps per second of `env`, cycling through `n_actions` actions.
fn rate(env: &mut dyn Env, n_actions: usize, steps: usize) -> f64 {
    env.reset(Some(0)).expect("reset");
    let start = Instant::now();
    for t in 0..steps {
        let step = env.step(&Action::Discrete(t % n_actions)).expect("step");
        if step.terminated || step.truncated {
            env.reset(None).expect("reset");
        }
    }
    steps as f64 / start.elapsed().as_secs_f64()
}

/// The same loop in Python alone, or `None` if it cannot run.
fn python_rate(make: &str, n_actions: usize, steps: usize) -> Option<f64> {
    let script = format!(
        "import time, gymnasium as gym\n\
         try:\n    import ale_py; gym.register_envs(ale_py)\nexcept ImportError:\n    pass\n\
         env = {make}\n\
         env.reset(seed=0)\n\
         start = time.perf_counter()\n\
         for t in range({steps}):\n\
         \x20   _, _, term, trunc, _ = env.step(t % {n_actions})\n\
         \x20   if term or trunc:\n\
         \x20       env.reset()\n\
         print({steps} / (time.perf_counter() - start))\n"
    );
    let python = PythonEnvOptions::default().interpreter();
    let out = Command::new(python).arg("-c").arg(script).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn row(name: &str, bridge: Option<f64>, python: Option<f64>) {
    let show = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.0}"));
    let overhead = match (bridge, python) {
        (Some(b), Some(p)) => format!("{:.1} us", (1.0 / b - 1.0 / p) * 1e6),
        _ => "-".to_string(),
    };
    println!(
        "{name:<40} {:>12} {:>12} {overhead:>12}",
        show(bridge),
        show(python)
    );
}

fn main() {
    println!(
        "{:<40} {:>12} {:>12} {:>12}",
        "environment", "bridge st/s", "python st/s", "cost/step"
    );
    let mut cartpole = PythonEnv::new("CartPole-v1", PythonEnvOptions::default())
        .expect("CartPole-v1 through the bridge (is gymnasium installed?)");
    row(
        "CartPole-v1",
        Some(rate(&mut cartpole, 2, STEPS)),
        python_rate("gym.make('CartPole-v1')", 2, STEPS),
    );

    let atari = PythonEnvOptions {
        atari_preprocessing: true,
        ..Default::default()
    };
    match PythonEnv::new("ALE/Pong-v5", atari) {
        Ok(mut pong) => row(
            "ALE/Pong-v5 + AtariPreprocessing (84x84)",
            Some(rate(&mut pong, 6, STEPS / 5)),
            python_rate(
                "gym.wrappers.AtariPreprocessing(gym.make('ALE/Pong-v5', frameskip=1))",
                6,
                STEPS / 5,
            ),
        ),
        Err(e) => println!("ALE/Pong-v5 skipped: {e}"),
    }
    match PythonEnv::new("ALE/Pong-v5", PythonEnvOptions::default()) {
        Ok(mut pong) => row(
            "ALE/Pong-v5 raw (210x160x3, frameskip 4)",
            Some(rate(&mut pong, 6, STEPS / 5)),
            python_rate("gym.make('ALE/Pong-v5')", 6, STEPS / 5),
        ),
        Err(e) => println!("ALE/Pong-v5 skipped: {e}"),
    }

    // Two workers, stepped in turn and from two threads (VecEnv starts its
    // threads on every step, which costs more than it gains here).
    for threads in [1, 2] {
        let mut envs =
            VecEnv::make("gym:CartPole-v1", 2, threads).expect("VecEnv of gym:CartPole-v1");
        envs.reset(Some(0)).expect("reset");
        let actions = [Action::Discrete(0), Action::Discrete(1)];
        let start = Instant::now();
        for _ in 0..STEPS / 2 {
            envs.step(&actions).expect("step");
        }
        let rate = STEPS as f64 / start.elapsed().as_secs_f64();
        row(
            &format!("VecEnv 2 x CartPole-v1, {threads} thread(s)"),
            Some(rate),
            None,
        );
    }
}

//! `somnium resume`: continue a run from a checkpoint, as its one writer.
//!
//! The run's lock is taken first ([`super::RunLock`]), so a second process
//! is refused before anything is read. The checkpoint is the newest one
//! that verifies and loads (or the one asked for), and the checks that
//! would fail for every checkpoint alike (config, precision) stop at once.
//! A run already finished (its steps done, or its goal reached) is left
//! exactly as it is. A run resumed from an older checkpoint than its
//! newest sets the newer ones and their metrics rows aside, so that every
//! step of the run appears once on its curves.

use std::path::Path;

use super::checkpoint::{Checkpoint, load_json};
use super::collect::Collector;
use super::run::{LoopState, agent_name, build_agent, config_hash, config_shaping, run_loop};
use super::{Agent, RunDir};
use crate::Result;
use crate::config::ExperimentConfig;
use crate::logging::heal_for_resume;

/// What `somnium resume` continues from.
#[derive(Debug, Clone, Default)]
pub struct ResumeRequest {
    /// The checkpoint at this many environment steps; the newest usable
    /// one if `None`.
    pub checkpoint: Option<u64>,
    /// `key=value` overrides, e.g. `run.env_steps=50000` to train longer.
    pub overrides: Vec<String>,
}

/// What loading a checkpoint for a resume gave.
enum Loaded {
    /// The run has nothing left to do: why, and how to extend it.
    Finished(String),
    /// The agent and loop state to continue with.
    Ready(Box<dyn Agent>, Collector, LoopState),
}

/// Why a run resumed from `state` with `config` has nothing left to do, if
/// it has not.
fn finished(state: &LoopState, config: &ExperimentConfig, run: &Path) -> Option<String> {
    let steps = state.counters.env_steps;
    let goal = config.run.stop_at_eval_return;
    if let (Some(score), Some(goal)) = (state.reached_goal, goal)
        && score >= goal
    {
        return Some(format!(
            "its evaluation return {score:.1} reached run.stop_at_eval_return = {goal} at {steps} \
             env steps; to train on past the goal: somnium resume {} --set \
             run.stop_at_eval_return=inf",
            run.display()
        ));
    }
    (steps >= config.run.env_steps).then(|| {
        format!(
            "it has taken {steps} of run.env_steps = {} environment steps; to train it longer: \
             somnium resume {} --set run.env_steps={}",
            config.run.env_steps,
            run.display(),
            steps.max(config.run.env_steps) * 2
        )
    })
}

/// Why the run has nothing left to do from the checkpoint a resume would
/// start at, judged by its manifest and loop state alone; `None` when it
/// has, or when that checkpoint cannot be read (the full load then finds
/// a usable one, and judges again). A config that does not match it
/// (`checks`) is an error here already.
pub(super) fn finished_already(
    run: &RunDir,
    env_steps: Option<u64>,
    config: &ExperimentConfig,
    checks: &dyn Fn(&Checkpoint) -> Result<()>,
) -> Result<Option<String>> {
    let checkpoint = match env_steps {
        Some(steps) => Checkpoint::at_env_steps(&run.checkpoints(), steps).ok(),
        None => Checkpoint::latest(&run.checkpoints()).ok().flatten(),
    };
    let Some(checkpoint) = checkpoint else {
        return Ok(None);
    };
    checks(&checkpoint)?;
    if checkpoint.verify().is_err() {
        return Ok(None);
    }
    Ok(load_json::<LoopState>(&checkpoint.file("loop_state.json"))
        .ok()
        .and_then(|state| finished(&state, config, &run.root)))
}

/// Continue the run in `run_dir` as `request` says.
pub fn resume(run_dir: &Path, request: &ResumeRequest) -> Result<()> {
    let run = RunDir::open(run_dir)?;
    let config = run.load_config(&request.overrides)?;
    let (hash, shaping) = (config_hash(&config), config_shaping(&config));
    let agent = agent_name(config.agent);
    let checks = |checkpoint: &Checkpoint| {
        checkpoint.check_config(&hash, &shaping, agent)?;
        checkpoint.check_precision(config.run.precision)
    };
    // A finished run is reported before the lock is taken: nothing in it,
    // the lock file included, is touched.
    if let Some(why) = finished_already(&run, request.checkpoint, &config, &checks)? {
        println!("{} is finished: {why}", run.root.display());
        return Ok(());
    }
    let _lock = run.lock()?;
    let (checkpoint, loaded) = Checkpoint::load_newest_usable(
        &run.checkpoints(),
        request.checkpoint,
        "resume from",
        checks,
        |checkpoint| {
            let state: LoopState = load_json(&checkpoint.file("loop_state.json"))?;
            if let Some(why) = finished(&state, &config, &run.root) {
                return Ok(Loaded::Finished(why));
            }
            let mut noise = state.noise.clone();
            let collector = Collector::new(&config.env, config.env.num_envs, &mut noise)?;
            let mut agent = build_agent(&config, &collector)?;
            agent.load(&checkpoint.dir)?;
            Ok(Loaded::Ready(
                agent,
                collector,
                LoopState { noise, ..state },
            ))
        },
    )?;
    let (agent, collector, state) = match loaded {
        Loaded::Finished(why) => {
            println!("{} is finished: {why}", run.root.display());
            return Ok(());
        }
        Loaded::Ready(agent, collector, state) => (agent, collector, state),
    };
    let steps = state.counters.env_steps;
    for aside in checkpoint.supersede_newer()? {
        println!(
            "set aside {} (newer than the checkpoint resumed from)",
            aside.display()
        );
    }
    let superseded = run.root.join("metrics.superseded.jsonl");
    let healed = heal_for_resume(&run.metrics_path(), steps, &superseded)?;
    if healed.partial_bytes > 0 {
        println!(
            "cut a partial last line ({} bytes) from {}",
            healed.partial_bytes,
            run.metrics_path().display()
        );
    }
    if healed.superseded_rows > 0 {
        println!(
            "moved {} metrics rows logged after {steps} env steps to {}",
            healed.superseded_rows,
            superseded.display()
        );
    }
    println!("resuming {} from {steps} env steps", run.root.display());
    run_loop(&config, &run, agent, collector, state)
}

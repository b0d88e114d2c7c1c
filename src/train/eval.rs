//! Evaluation: playing fresh episodes with a trained agent, during a run
//! (`run.eval_every`) and afterwards from a checkpoint (`somnium eval`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::checkpoint::Checkpoint;
use super::collect::{Collector, Episode};
use super::run::{agent_name, build_agent, config_hash, config_shaping, mean};
use super::{Agent, RunDir};
use crate::config::{AgentKind, ExperimentConfig};
use crate::core::Noise;
use crate::{Error, Result};

/// Scores of an evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalSummary {
    /// Episodes played.
    pub episodes: usize,
    /// Mean return.
    pub mean_return: f64,
    /// Standard deviation of the returns.
    pub std_return: f64,
    /// Lowest return.
    pub min_return: f64,
    /// Highest return.
    pub max_return: f64,
    /// Mean episode length.
    pub mean_length: f64,
    /// Every episode's return.
    pub returns: Vec<f64>,
    /// Whether the agent took its most likely actions (else it acted as in
    /// training).
    pub greedy: bool,
    /// Environment steps of the checkpoint evaluated (for `somnium eval`).
    pub checkpoint_env_steps: Option<u64>,
}

/// Play `episodes` episodes on fresh environment copies (acting slot 1).
pub(super) fn evaluate(
    agent: &mut dyn Agent,
    config: &ExperimentConfig,
    episodes: usize,
    greedy: bool,
    noise: &mut Noise,
) -> Result<EvalSummary> {
    let copies = episodes.min(config.env.num_envs.max(1)).max(1);
    let mut collector = Collector::new(&config.env, copies, noise)?;
    agent.reset_acting(1);
    let mut done: Vec<Episode> = Vec::new();
    while done.len() < episodes {
        let (obs, first) = (collector.obs.clone(), collector.is_first.clone());
        let actions = agent.act(1, &obs, &first, greedy);
        done.extend(collector.step(&actions, None, noise)?);
    }
    agent.reset_acting(1);
    done.truncate(episodes);
    let returns: Vec<f64> = done.iter().map(|e| e.score).collect();
    let mean_return = mean(returns.iter().copied()).unwrap_or(0.0);
    let var = mean(returns.iter().map(|r| (r - mean_return).powi(2))).unwrap_or(0.0);
    Ok(EvalSummary {
        episodes: returns.len(),
        mean_return,
        std_return: var.sqrt(),
        min_return: returns.iter().copied().fold(f64::INFINITY, f64::min),
        max_return: returns.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        mean_length: mean(done.iter().map(|e| e.length as f64)).unwrap_or(0.0),
        returns,
        greedy,
        checkpoint_env_steps: None,
    })
}

/// What `somnium eval` plays, and with which checkpoint and planner.
#[derive(Debug, Clone)]
pub struct EvalRequest {
    /// Episodes to play.
    pub episodes: usize,
    /// Act greedily instead of as in training (a run whose config, after
    /// the overrides, sets `run.eval_greedy` is evaluated greedily too).
    pub greedy: bool,
    /// The checkpoint at this many environment steps; the newest if `None`.
    pub checkpoint: Option<u64>,
    /// `key=value` overrides. Only keys that do not shape the trained
    /// networks may change: `run.*` (device, seed...) and the way the agent
    /// acts, `dreamer.planner.*` or `muzero.search.*`. So a model trained
    /// acting by its actor can be evaluated acting by CEM or Gumbel search.
    pub overrides: Vec<String>,
}

impl EvalRequest {
    /// `episodes` episodes of the newest checkpoint, as trained.
    pub fn new(episodes: usize, greedy: bool) -> Self {
        EvalRequest {
            episodes,
            greedy,
            checkpoint: None,
            overrides: Vec::new(),
        }
    }
}

/// Evaluate a checkpoint of a run (the newest usable one unless `request`
/// names one).
pub fn evaluate_run(run_dir: &Path, request: &EvalRequest) -> Result<EvalSummary> {
    let run = RunDir::open(run_dir)?;
    if request.episodes == 0 {
        return Err(Error::config(
            "--episodes",
            "episodes",
            "must be at least 1",
        ));
    }
    let trained = run.load_config(&[])?;
    // Keys `somnium eval --set` may change: none of them shapes the
    // weights, and only the run's own agent's planner acts.
    let planner = match trained.agent {
        AgentKind::Dreamer => "dreamer.planner.",
        AgentKind::Muzero => "muzero.search.",
        AgentKind::Storm => "storm.planner.",
    };
    for spec in &request.overrides {
        let (key, _) = crate::config::parse_override(spec)?;
        if !key.starts_with("run.") && !key.starts_with(planner) {
            return Err(Error::config(
                "--set",
                key,
                format!(
                    "evaluating this {} run may change only run.* and {planner}*: any other key \
                     shapes the trained networks or the environment, or belongs to another agent",
                    agent_name(trained.agent)
                ),
            ));
        }
    }
    let config = run.load_config(&request.overrides)?;
    let (hash, shaping) = (config_hash(&trained), config_shaping(&trained));
    let noise = Noise::new(config.run.seed ^ 0xe7a1);
    let (checkpoint, (mut agent, mut noise)) = Checkpoint::load_newest_usable(
        &run.checkpoints(),
        request.checkpoint,
        "evaluate",
        |checkpoint| checkpoint.check_config(&hash, &shaping, agent_name(trained.agent)),
        |checkpoint| {
            // Each attempt starts from the same stream.
            let mut noise = noise.clone();
            let collector = Collector::new(&config.env, 1, &mut noise)?;
            let mut agent = build_agent(&config, &collector)?;
            agent.load(&checkpoint.dir)?;
            Ok((agent, noise))
        },
    )?;
    // Greedy when asked, or when the run itself evaluates greedily (also
    // through `--set run.eval_greedy=true`).
    let greedy = request.greedy || config.run.eval_greedy;
    let mut summary = evaluate(
        agent.as_mut(),
        &config,
        request.episodes,
        greedy,
        &mut noise,
    )?;
    summary.checkpoint_env_steps = Some(checkpoint.manifest.counters.env_steps);
    Ok(summary)
}

//! `somnium dream`: the world model's open-loop predictions beside reality.
//!
//! One greedy episode is played with the run's newest checkpoint (or the
//! one `--checkpoint` names). The world model sees the first `context`
//! observations (its predictions there are reconstructions from the
//! posterior), then only the actions that were actually taken: it
//! imagines the rest with its prior, and the decoder renders each imagined
//! state.
//!
//! Image observations (rendered environments with `env.pixels = true`,
//! "pixel CartPole", and MinAtar's `[10, 10, C]` grids, each channel in its
//! own colour) are drawn as frames, real beside predicted, into an
//! animated GIF or a PNG strip (`frames`). Vector observations are drawn
//! as an SVG chart, one panel per feature, with the rewards and the
//! episode's end beside the reward and continue heads' predictions
//! (`traces`).
//!
//! Per-step squared errors are written beside the picture as JSON, so the
//! growth of the open-loop error can be compared between runs, with the
//! rewards received beside those the reward head predicts at each step
//! and the continue head's probability: a model that predicts pictures
//! well but rewards only at their average rate teaches the actor to
//! survive rather than to score (a long `--context` scores the reward
//! head on a whole episode), and one whose continue head misses the
//! episode's end lets the actor walk into it.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::Serialize;
use somnium_envs::{Action, Env, Observation};

mod endings;
mod frames;
mod traces;

pub use endings::{EndingPrediction, EndingsReport};

use frames::Painter;

use super::checkpoint::Checkpoint;
use super::collect::make_env;
use super::run::{agent_name, config_hash, config_shaping};
use super::{ActionCodec, Agent, RunDir};
use crate::config::AgentKind;
use crate::core::{Dynamics, Encoder, LatentState, Noise, ObsBatch, ObsKind};
use crate::core::{ObservationModel, ObservationPrediction, WorldModel};
use crate::device::open_device;
use crate::dreamer::DreamerAgent;
use crate::nn::symlog::{symexp_f32, symlog};
use crate::nn::tensor_util::{tensor_from_vec, to_vec};
use crate::storm::StormAgent;
use crate::{Error, Result};

/// The squared errors of a dream, per step, in the units the model
/// predicts (images scaled to about [-0.5, 0.5], vectors symlog-ed).
#[derive(Debug, Serialize)]
struct DreamErrors {
    context: usize,
    steps: usize,
    /// Whether the episode ended in a terminal state at the last step (so
    /// the continue head's last probability should be near 0).
    terminated: bool,
    /// Mean squared error of each predicted observation against the real one.
    mse: Vec<f32>,
    /// Mean over the context steps (reconstruction).
    context_mse: f32,
    /// Mean over the imagined steps (open-loop prediction).
    open_loop_mse: f32,
    /// The action taken at each step but the last (an index for discrete
    /// actions, a vector for continuous ones): what the policy did.
    actions: Vec<TakenAction>,
    /// Reward received on arriving at each step (0 at the start).
    reward: Vec<f32>,
    /// The reward head's mean at each step.
    predicted_reward: Vec<f32>,
    /// The continue head's probability that the episode goes on after each step.
    predicted_continue: Vec<f32>,
    /// Mean predicted reward over the steps that paid a reward (none: null).
    predicted_reward_where_paid: Option<f32>,
    /// Mean predicted reward over the other steps.
    predicted_reward_elsewhere: Option<f32>,
    /// Vector observations only: the real features at each step, in the
    /// environment's units.
    #[serde(skip_serializing_if = "Option::is_none")]
    observations: Option<Vec<Vec<f32>>>,
    /// Vector observations only: the model's features (symexp of its
    /// symlog predictions).
    #[serde(skip_serializing_if = "Option::is_none")]
    predicted_observations: Option<Vec<Vec<f32>>>,
}

/// An action as the JSON shows it: the index or the vector, untagged.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum TakenAction {
    Discrete(usize),
    Continuous(Vec<f32>),
}

impl From<&Action> for TakenAction {
    fn from(action: &Action) -> Self {
        match action {
            Action::Discrete(index) => TakenAction::Discrete(*index),
            Action::Continuous(values) => TakenAction::Continuous(values.clone()),
        }
    }
}

/// Render a dream of the run's newest checkpoint, or of the one written at
/// `checkpoint` environment steps; returns the picture's path.
pub fn dream(
    run_dir: &Path,
    checkpoint: Option<u64>,
    context: usize,
    horizon: usize,
    output: Option<&Path>,
    overrides: &[String],
) -> Result<PathBuf> {
    let run = RunDir::open(run_dir)?;
    let config = run.load_config(overrides)?;
    if config.agent == AgentKind::Muzero {
        return Err(Error::Unsupported(format!(
            "`somnium dream` needs a world model with an observation decoder (DreamerV3, \
             STORM); this run's agent is {}",
            agent_name(config.agent)
        )));
    }
    if context == 0 {
        return Err(Error::Unsupported(
            "--context must be at least 1: the model needs one real observation to start from"
                .into(),
        ));
    }
    let checkpoint = usable_checkpoint(&run, &config, checkpoint, "dream from")?;
    let mut env = make_env(&config.env)?;
    let kind = ObsKind::of(env.observation_space());
    let output = output.map_or_else(
        || run.videos().join(Picture::default_name(kind)),
        Path::to_path_buf,
    );
    let picture = Picture::for_output(kind, &output)?;
    let device = open_device(&config.run.device, config.run.precision)?;
    let codec = ActionCodec::new(env.action_space())?;
    let (obs_space, act_space) = (env.observation_space().clone(), env.action_space().clone());
    let steps = context + horizon;
    let seed = config.run.seed;
    let plain = device.clone().inner();
    let (episode, prediction) = match config.agent {
        AgentKind::Storm => {
            let mut agent =
                StormAgent::new(&config.storm, &obs_space, &act_space, 1, seed, &device)?;
            agent.load(&checkpoint.dir)?;
            let episode = Episode::play(&mut agent, env.as_mut(), steps, seed)?;
            let model = agent.world_model().valid();
            let prediction = Prediction::of(&model, &episode, context, kind, &codec, &plain, seed);
            (episode, prediction)
        }
        _ => {
            let dreamer = &config.dreamer;
            let mut agent = DreamerAgent::new(dreamer, &obs_space, &act_space, 1, seed, &device)?;
            agent.load(&checkpoint.dir)?;
            let episode = Episode::play(&mut agent, env.as_mut(), steps, seed)?;
            let model = agent.world_model().valid();
            let prediction = Prediction::of(&model, &episode, context, kind, &codec, &plain, seed);
            (episode, prediction)
        }
    };
    let Episode {
        observations,
        rewards,
        actions,
        terminated,
    } = episode;
    let Prediction {
        predicted,
        predicted_reward,
        predicted_continue,
    } = prediction;
    let context = context.min(observations.len());

    // Real observations in the units the model predicts: scaled images, symlog vectors.
    let real: Vec<Vec<f32>> = observations
        .iter()
        .map(
            |o| match ObsBatch::from_observations(std::slice::from_ref(o), kind, &plain) {
                ObsBatch::Image(t) => to_vec(t),
                ObsBatch::Vector(t) => to_vec(symlog(t)),
            },
        )
        .collect();

    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
    }
    let series = Series {
        real: &real,
        predicted: &predicted,
        context,
        reward: &rewards,
        predicted_reward: &predicted_reward,
        predicted_continue: &predicted_continue,
        terminated,
    };
    picture.draw(&series, &output).map_err(|problem| {
        Error::io("writing the dream", &output, std::io::Error::other(problem))
    })?;

    let mse: Vec<f32> = real
        .iter()
        .zip(&predicted)
        .map(|(r, p)| r.iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum::<f32>() / r.len() as f32)
        .collect();
    let average = |xs: &[f32]| {
        if xs.is_empty() {
            0.0
        } else {
            xs.iter().sum::<f32>() / xs.len() as f32
        }
    };
    let predicted_where = |paid: bool| {
        let picked: Vec<f32> = (1..rewards.len())
            .filter(|&t| (rewards[t] != 0.0) == paid)
            .map(|t| predicted_reward[t])
            .collect();
        (!picked.is_empty()).then(|| average(&picked))
    };
    let vectors = matches!(kind, ObsKind::Vector { .. });
    let in_env_units = |of: &[Vec<f32>]| -> Vec<Vec<f32>> {
        of.iter()
            .map(|v| v.iter().map(|&x| symexp_f32(x)).collect())
            .collect()
    };
    let errors = DreamErrors {
        context,
        terminated,
        steps: mse.len(),
        context_mse: average(&mse[..context]),
        open_loop_mse: average(&mse[context..]),
        mse,
        predicted_reward_where_paid: predicted_where(true),
        predicted_reward_elsewhere: predicted_where(false),
        observations: vectors.then(|| in_env_units(&real)),
        predicted_observations: vectors.then(|| in_env_units(&predicted)),
        actions: actions.iter().map(TakenAction::from).collect(),
        reward: rewards,
        predicted_reward,
        predicted_continue,
    };
    let json = output.with_extension("json");
    let text = serde_json::to_string_pretty(&errors).expect("errors serialise");
    std::fs::write(&json, text).map_err(|e| Error::io("writing", &json, e))?;
    Ok(output)
}

/// The newest checkpoint of `run` written for `config` (or the one at
/// `steps`), `purpose` naming what it is for in errors.
fn usable_checkpoint(
    run: &RunDir,
    config: &crate::config::ExperimentConfig,
    steps: Option<u64>,
    purpose: &str,
) -> Result<Checkpoint> {
    let (hash, shaping) = (config_hash(config), config_shaping(config));
    Ok(Checkpoint::load_newest_usable(
        &run.checkpoints(),
        steps,
        purpose,
        |checkpoint| checkpoint.check_config(&hash, &shaping, agent_name(config.agent)),
        |_| Ok(()),
    )?
    .0)
}

/// `somnium dream --endings`: every ended episode of a checkpoint's replay
/// filtered through its world model (see [`EndingsReport`]), written as
/// JSON to `output` (default `<run>/videos/endings.json`).
pub fn dream_endings(
    run_dir: &Path,
    checkpoint: Option<u64>,
    output: Option<&Path>,
    overrides: &[String],
) -> Result<(PathBuf, EndingsReport)> {
    let run = RunDir::open(run_dir)?;
    let config = run.load_config(overrides)?;
    if config.agent == AgentKind::Muzero {
        return Err(Error::Unsupported(format!(
            "`somnium dream --endings` needs a world model with a continue head and a sequence \
             replay (DreamerV3, STORM); this run's agent is {}",
            agent_name(config.agent)
        )));
    }
    let checkpoint = usable_checkpoint(&run, &config, checkpoint, "read the endings of")?;
    let env = make_env(&config.env)?;
    let kind = ObsKind::of(env.observation_space());
    let (obs_space, act_space) = (env.observation_space().clone(), env.action_space().clone());
    let device = open_device(&config.run.device, config.run.precision)?;
    let plain = device.clone().inner();
    let (seed, steps) = (config.run.seed, checkpoint.manifest.counters.env_steps);
    let report = match config.agent {
        AgentKind::Storm => {
            let mut agent =
                StormAgent::new(&config.storm, &obs_space, &act_space, 1, seed, &device)?;
            agent.load(&checkpoint.dir)?;
            let model = agent.world_model().valid();
            EndingsReport::of(&model, &agent.replay().episodes(), kind, steps, &plain)
        }
        _ => {
            let mut agent =
                DreamerAgent::new(&config.dreamer, &obs_space, &act_space, 1, seed, &device)?;
            agent.load(&checkpoint.dir)?;
            let model = agent.world_model().valid();
            EndingsReport::of(&model, &agent.replay().episodes(), kind, steps, &plain)
        }
    };
    let output = output.map_or_else(|| run.videos().join("endings.json"), Path::to_path_buf);
    Ok((report.write(&output)?, report))
}

/// One greedy episode of the trained agent.
struct Episode {
    /// Every observation, the first after the reset.
    observations: Vec<Observation>,
    /// The reward on arriving at each observation (0 at the first).
    rewards: Vec<f32>,
    /// The action taken after each observation but the last.
    actions: Vec<Action>,
    /// Whether the last observation is terminal.
    terminated: bool,
}

impl Episode {
    /// Play up to `steps` steps greedily in the evaluation slot.
    fn play(agent: &mut dyn Agent, env: &mut dyn Env, steps: usize, seed: u64) -> Result<Self> {
        let mut episode = Episode {
            observations: vec![env.reset(Some(seed ^ 0xd7ea))?],
            rewards: vec![0.0],
            actions: Vec::new(),
            terminated: false,
        };
        while episode.actions.len() < steps {
            let first = episode.actions.is_empty();
            let last = episode.observations.last().expect("one");
            let action = agent
                .act(1, std::slice::from_ref(last), &[first], true)
                .remove(0);
            let step = env.step(&action)?;
            episode.actions.push(action);
            episode.observations.push(step.obs);
            episode.rewards.push(step.reward);
            episode.terminated = step.terminated;
            if step.terminated || step.truncated {
                break;
            }
        }
        Ok(episode)
    }
}

/// What the world model makes of an episode: each step's observation,
/// reward and continuation, filtered from the first `context`
/// observations and imagined after them from the actions taken.
struct Prediction {
    predicted: Vec<Vec<f32>>,
    predicted_reward: Vec<f32>,
    predicted_continue: Vec<f32>,
}

impl Prediction {
    fn of<M: WorldModel + Encoder + ObservationModel>(
        model: &M,
        episode: &Episode,
        context: usize,
        kind: ObsKind,
        codec: &ActionCodec,
        device: &Device,
        seed: u64,
    ) -> Self {
        let dynamics = model.dynamics();
        let mut noise = Noise::new(seed ^ 0xd7ea);
        let mut state = dynamics.initial(1, device);
        let mut previous = Tensor::<2>::zeros([1, codec.width()], device);
        let mut out = Prediction {
            predicted: Vec::new(),
            predicted_reward: Vec::new(),
            predicted_continue: Vec::new(),
        };
        for (t, obs) in episode.observations.iter().enumerate() {
            if t < context {
                let obs = ObsBatch::from_observations(std::slice::from_ref(obs), kind, device);
                let is_first = tensor_from_vec(vec![if t == 0 { 1.0 } else { 0.0 }], [1], device);
                state = dynamics
                    .observe(
                        &state,
                        previous.clone(),
                        model.encode(&obs),
                        is_first,
                        &mut noise,
                    )
                    .posterior;
            } else {
                state = dynamics.imagine(&state, previous.clone(), &mut noise);
            }
            let features = state.features();
            let reward = model.reward(features.clone()).mean();
            out.predicted_reward.push(to_vec(reward)[0]);
            let continues = model
                .continuation(features.clone())
                .map_or(1.0, |c| to_vec(c.mean())[0]);
            out.predicted_continue.push(continues);
            out.predicted.push(match model.decode(features) {
                ObservationPrediction::Image(frame) => to_vec(frame),
                ObservationPrediction::SymlogVector(vector) => to_vec(vector),
            });
            if let Some(action) = episode.actions.get(t) {
                previous = tensor_from_vec(codec.encode(action), [1, codec.width()], device);
            }
        }
        out
    }
}

/// A dream's per-step series, for drawing.
struct Series<'a> {
    /// Real observations, in the units the model predicts.
    real: &'a [Vec<f32>],
    /// The model's observations: reconstructions, then open-loop predictions.
    predicted: &'a [Vec<f32>],
    /// Steps before this one were seen; those from it on were imagined.
    context: usize,
    reward: &'a [f32],
    predicted_reward: &'a [f32],
    predicted_continue: &'a [f32],
    /// Whether the last step is terminal.
    terminated: bool,
}

/// What a dream is drawn as: image observations as frames (an animated
/// GIF, or a PNG strip), vectors as an SVG chart of each feature.
enum Picture {
    Animation(Painter),
    Strip(Painter),
    Chart,
}

impl Picture {
    /// The file name under `<run>/videos/` when no `--output` is given.
    fn default_name(kind: ObsKind) -> &'static str {
        match kind {
            ObsKind::Image { .. } => "dream.gif",
            ObsKind::Vector { .. } => "dream.svg",
        }
    }

    /// The picture `output`'s extension asks for, if `kind` can be drawn so.
    fn for_output(kind: ObsKind, output: &Path) -> Result<Self> {
        let extension = output
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match (kind, extension.as_deref()) {
            (ObsKind::Image { shape, pixels }, Some("gif")) => {
                Ok(Picture::Animation(Painter { shape, pixels }))
            }
            (ObsKind::Image { shape, pixels }, Some("png")) => {
                Ok(Picture::Strip(Painter { shape, pixels }))
            }
            (ObsKind::Vector { .. }, Some("svg")) => Ok(Picture::Chart),
            (ObsKind::Image { .. }, _) => Err(Error::Unsupported(format!(
                "--output {}: image observations are drawn as an animation (.gif) or a strip (.png)",
                output.display()
            ))),
            (ObsKind::Vector { .. }, _) => Err(Error::Unsupported(format!(
                "--output {}: vector observations are drawn as a chart of each feature (.svg)",
                output.display()
            ))),
        }
    }

    fn draw(&self, series: &Series, output: &Path) -> std::result::Result<(), String> {
        let text = |e: image::ImageError| e.to_string();
        match self {
            Picture::Animation(painter) => painter
                .gif(series.real, series.predicted, series.context, output)
                .map_err(text),
            Picture::Strip(painter) => painter
                .strip(series.real, series.predicted, series.context)
                .save(output)
                .map_err(text),
            Picture::Chart => traces::write_chart(series, output),
        }
    }
}

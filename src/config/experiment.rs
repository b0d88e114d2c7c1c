//! The top-level experiment config: which agent, which environment, how
//! long and where to run.

use serde::{Deserialize, Serialize};

use super::sweep::SweepConfig;
use super::{Validate, Validator};
use crate::device::Precision;
use crate::dreamer::DreamerConfig;
use crate::muzero::MuzeroConfig;
use crate::storm::StormConfig;

/// The agent family an experiment trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AgentKind {
    /// DreamerV3: RSSM world model and actor-critic in imagination.
    #[default]
    Dreamer,
    /// MuZero: value-equivalent model and tree search.
    Muzero,
    /// STORM: transformer world model and actor-critic in imagination.
    Storm,
}

/// A whole experiment, as written in `experiments/*.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Which agent to train: `dreamer`, `muzero` or `storm`.
    pub agent: AgentKind,
    /// The environment.
    pub env: EnvConfig,
    /// Run length, logging, checkpoints, evaluation and device.
    pub run: RunConfig,
    /// DreamerV3 hyperparameters (used when `agent = "dreamer"`).
    pub dreamer: DreamerConfig,
    /// MuZero hyperparameters (used when `agent = "muzero"`).
    pub muzero: MuzeroConfig,
    /// STORM hyperparameters (used when `agent = "storm"`).
    pub storm: StormConfig,
    /// Seeds and grid for `somnium sweep` (a single run ignores them).
    pub sweep: SweepConfig,
}

/// Which environment and how it is wrapped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvConfig {
    /// Registered id, e.g. `CartPole-v1` or `MinAtar/Breakout-v1` (`somnium envs` lists them).
    pub id: String,
    /// Copies stepped in parallel for collection.
    pub num_envs: usize,
    /// Repeat each action this many times, summing rewards (1 = off).
    pub action_repeat: usize,
    /// Truncate episodes after this many agent steps (0 = the environment's own limit).
    pub time_limit: usize,
    /// Replace observations by rendered frames of `pixel_size` x `pixel_size` (for image agents on vector tasks).
    pub pixels: bool,
    /// Side of rendered frames when `pixels` is on.
    pub pixel_size: usize,
    /// Threads used to step the copies (1 = step them in the calling thread).
    pub threads: usize,
}

impl Default for EnvConfig {
    fn default() -> Self {
        EnvConfig {
            id: "CartPole-v1".into(),
            num_envs: 1,
            action_repeat: 1,
            time_limit: 0,
            pixels: false,
            pixel_size: 64,
            threads: 1,
        }
    }
}

/// How long to train and what to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Seed of every random draw of the run (environments, networks, sampling).
    pub seed: u64,
    /// Compute device: `flex` (CPU), `wgpu`, `wgpu:cpu`, `wgpu:N`, `cuda:N`.
    pub device: String,
    /// Further devices that share every DreamerV3 or STORM update (data
    /// parallelism: the batch is split over `device` and these, gradients
    /// are summed on `device`; STORM splits its imagination and
    /// actor-critic losses, and its world model learns on `device`), e.g.
    /// `["wgpu:1", "wgpu:2"]`; empty = off.
    pub replica_devices: Vec<String>,
    /// Shares each DreamerV3 or STORM update is split into on `device` itself, each
    /// computed on its own thread with an equal part of the CPU threads
    /// (data parallelism within one device, combined with any replica
    /// devices); 1 = off. On a CPU, set it to the number of cores: the
    /// element-wise work between matrix products then runs on every core
    /// (docs/performance.md). The shares pool their returns for the
    /// return normaliser's percentiles, as the reference's devices do.
    pub update_shards: usize,
    /// Float precision of the tensors: `f32`, `f16` or `bf16` (half
    /// precision for GPUs, with f32 master weights in the optimisers; see
    /// `somnium::device::Precision`).
    pub precision: Precision,
    /// Step the environments on a worker thread while the agent trains on
    /// the replay it has (the step's own transitions reach replay right
    /// after), so learning does not wait for slow environments.
    pub overlap_envs: bool,
    /// Act and step the training environments on an actor thread with a
    /// snapshot of the policy, refreshed after every round of updates, while
    /// the learner trains (DreamerV3; not deterministic; see docs/devices.md).
    pub async_actors: bool,
    /// Environment steps to train for (summed over copies, before action repeat).
    pub env_steps: u64,
    /// Environment steps collected with random actions before training starts.
    pub prefill: u64,
    /// Log metrics every this many environment steps.
    pub log_every: u64,
    /// Write a checkpoint every this many environment steps (0 = only at the end).
    pub checkpoint_every: u64,
    /// Checkpoints kept on disk; older ones are deleted (at least 1).
    pub keep_checkpoints: usize,
    /// Evaluate every this many environment steps (0 = never during training).
    pub eval_every: u64,
    /// Episodes per evaluation.
    pub eval_episodes: usize,
    /// Evaluate with the policy's most likely actions (MuZero: no root
    /// noise, temperature 0) instead of acting as in training (sampled
    /// actions; DreamerV3's reference evaluates this way).
    pub eval_greedy: bool,
    /// Stop training after an evaluation whose mean return reaches this
    /// (e.g. 475, CartPole's "solved" mark), writing the final checkpoint
    /// there: it holds the policy that reached it. Unset, or `inf` (to
    /// lift an experiment file's goal from the command line): train for
    /// `env_steps`.
    pub stop_at_eval_return: Option<f64>,
    /// Directory under which run directories are created.
    pub logdir: String,
    /// Write TensorBoard event files beside `metrics.jsonl`.
    pub tensorboard: bool,
    /// Show a progress bar on the terminal.
    pub progress: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            seed: 0,
            device: "flex".into(),
            replica_devices: Vec::new(),
            update_shards: 1,
            precision: Precision::F32,
            overlap_envs: false,
            async_actors: false,
            env_steps: 100_000,
            prefill: 1_000,
            log_every: 1_000,
            checkpoint_every: 10_000,
            keep_checkpoints: 2,
            eval_every: 10_000,
            eval_episodes: 10,
            eval_greedy: false,
            stop_at_eval_return: None,
            logdir: "runs".into(),
            tensorboard: true,
            progress: true,
        }
    }
}

impl Validate for ExperimentConfig {
    /// `inf` never stops a run early; new steps at priority `inf` are
    /// replayed before any other.
    const MAY_BE_INFINITE: &'static [&'static str] =
        &["run.stop_at_eval_return", "dreamer.replay.prio.initial"];

    fn validate(&self, v: &mut Validator) {
        self.sweep.validate(v);
        v.section("env", |v| {
            v.check(
                !self.env.id.is_empty(),
                "id",
                "must name an environment; run `somnium envs` to list them",
            );
            v.positive("num_envs", self.env.num_envs);
            v.positive("action_repeat", self.env.action_repeat);
            v.positive("threads", self.env.threads);
            v.in_range("pixel_size", self.env.pixel_size, 8, 512);
        });
        v.section("run", |v| {
            v.positive("env_steps", self.run.env_steps);
            v.positive("log_every", self.run.log_every);
            v.positive("keep_checkpoints", self.run.keep_checkpoints);
            v.check(
                self.run.eval_every == 0 || self.run.eval_episodes > 0,
                "eval_episodes",
                "must be positive when eval_every is set",
            );
            v.check(
                self.run
                    .stop_at_eval_return
                    .is_none_or(|goal| goal == f64::INFINITY)
                    || self.run.eval_every > 0,
                "stop_at_eval_return",
                "needs evaluations: set eval_every (or inf: never stop early)",
            );
            v.check(
                self.run.device.parse::<crate::device::DeviceSpec>().is_ok(),
                "device",
                format!(
                    "unknown device `{}`; expected flex, wgpu, wgpu:cpu, wgpu:N or cuda:N",
                    self.run.device
                ),
            );
        });
        v.section("run", |v| {
            for spec in &self.run.replica_devices {
                v.check(
                    spec.parse::<crate::device::DeviceSpec>().is_ok(),
                    "replica_devices",
                    format!(
                        "unknown device `{spec}`; expected flex, wgpu, wgpu:cpu, wgpu:N or cuda:N"
                    ),
                );
            }
            v.check(
                self.run.replica_devices.is_empty() || self.agent != AgentKind::Muzero,
                "replica_devices",
                "data parallelism is implemented for DreamerV3 and STORM only",
            );
            v.check(
                !self.run.async_actors || self.agent == AgentKind::Dreamer,
                "async_actors",
                "actor threads are implemented for DreamerV3 only (MuZero's search \
                 statistics are recorded with its steps); use overlap_envs",
            );
            v.check(
                !(self.run.async_actors && self.run.overlap_envs),
                "async_actors",
                "already steps the environments apart from the learner; \
                 set overlap_envs = false",
            );
            // With no batch at all, the batch is the key to blame (below).
            let (batch, batch_key) = match self.agent {
                AgentKind::Storm => (self.storm.replay.batch, "storm.replay.batch"),
                _ => (self.dreamer.replay.batch, "dreamer.replay.batch"),
            };
            v.check(
                batch == 0 || self.run.replica_devices.len() < batch,
                "replica_devices",
                format!("needs fewer devices than sequences per batch ({batch_key})"),
            );
            v.check(
                self.run.update_shards >= 1,
                "update_shards",
                "must be at least 1",
            );
            v.check(
                self.run.update_shards == 1 || self.agent != AgentKind::Muzero,
                "update_shards",
                "data parallelism is implemented for DreamerV3 and STORM only",
            );
            v.check(
                batch == 0 || self.run.update_shards + self.run.replica_devices.len() <= batch,
                "update_shards",
                format!(
                    "with the replica devices, needs at most one share per sequence \
                     of the batch ({batch_key})"
                ),
            );
        });
        v.section("dreamer", |v| self.dreamer.validate(v));
        v.section("muzero", |v| self.muzero.validate(v));
        v.section("storm", |v| self.storm.validate(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    #[test]
    fn empty_file_gives_the_defaults() {
        let c: ExperimentConfig = load_str("", "empty.toml", &[]).unwrap();
        assert_eq!(c, ExperimentConfig::default());
    }

    /// What a run directory's `config.toml` holds loads back as it was, for
    /// every agent's defaults (infinite defaults included), so every run
    /// can be resumed.
    #[test]
    fn every_agents_resolved_defaults_load_back() {
        let dir = tempfile::tempdir().unwrap();
        for agent in [AgentKind::Dreamer, AgentKind::Muzero, AgentKind::Storm] {
            let config = ExperimentConfig {
                agent,
                ..ExperimentConfig::default()
            };
            let path = dir.path().join("config.toml");
            crate::config::save_resolved(&config, &path).unwrap();
            let back: ExperimentConfig = crate::config::load(&path, &[]).unwrap();
            assert_eq!(back, config, "{agent:?}");
        }
    }

    #[test]
    fn a_goal_needs_evaluations_unless_it_is_infinite() {
        let goal = |value: &str| {
            let text = format!("[run]\neval_every = 0\nstop_at_eval_return = {value}\n");
            load_str::<ExperimentConfig>(&text, "goal.toml", &[])
        };
        let err = goal("475.0").unwrap_err().to_string();
        assert!(err.contains("run.stop_at_eval_return"), "{err}");
        assert!(
            goal("inf").is_ok(),
            "inf never stops a run, so needs no evaluations"
        );
    }

    fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                toml::Value::Table(t) => flatten(&path, t, out),
                _ => out.push(path),
            }
        }
    }

    #[test]
    fn docs_config_md_lists_every_key() {
        let table = toml::Table::try_from(ExperimentConfig::default()).unwrap();
        let mut keys = Vec::new();
        flatten("", &table, &mut keys);
        let docs = include_str!("../../docs/config.md");
        let missing: Vec<_> = keys
            .iter()
            .filter(|k| !docs.contains(&format!("`{k}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/config.md does not list {missing:?}"
        );
    }

    #[test]
    fn update_shards_are_checked_against_the_batch() {
        let load = |text: &str| load_str::<ExperimentConfig>(text, "e.toml", &[]);
        let c = load("[run]\nupdate_shards = 2\n").unwrap();
        assert_eq!(c.run.update_shards, 2);
        for (text, problem) in [
            ("[run]\nupdate_shards = 0\n", "at least 1"),
            ("[run]\nupdate_shards = 17\n", "dreamer.replay.batch"),
            (
                "[run]\nupdate_shards = 15\nreplica_devices = [\"flex\", \"flex\"]\n",
                "dreamer.replay.batch",
            ),
            (
                "agent = \"muzero\"\n[run]\nupdate_shards = 2\n",
                "DreamerV3 and STORM only",
            ),
            (
                "agent = \"storm\"\n[run]\nupdate_shards = 17\n",
                "storm.replay.batch",
            ),
        ] {
            let err = load(text).unwrap_err().to_string();
            assert!(
                err.starts_with("e.toml: `run.update_shards`") && err.contains(problem),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn bad_device_and_ranges_name_their_keys() {
        let err = load_str::<ExperimentConfig>("[run]\ndevice = \"tpu\"\n", "e.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("e.toml: `run.device`"), "{err}");
        let err = load_str::<ExperimentConfig>("[env]\nnum_envs = 0\n", "e.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("e.toml: `env.num_envs`"), "{err}");
        let err = load_str::<ExperimentConfig>("agent = \"ppo\"\n", "e.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`agent`") && err.contains("dreamer"), "{err}");
        let err = load_str::<ExperimentConfig>(
            "agent = \"muzero\"\n[run]\nreplica_devices = [\"flex\"]\n",
            "e.toml",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`run.replica_devices`") && err.contains("DreamerV3 and STORM only"),
            "{err}"
        );
        let err = load_str::<ExperimentConfig>(
            "agent = \"muzero\"\n[run]\nasync_actors = true\n",
            "e.toml",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`run.async_actors`") && err.contains("DreamerV3 only"),
            "{err}"
        );
        let err = load_str::<ExperimentConfig>(
            "[run]\nasync_actors = true\noverlap_envs = true\n",
            "e.toml",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("overlap_envs = false"), "{err}");
        let err =
            load_str::<ExperimentConfig>("[run]\nreplica_devices = [\"wgpu:x\"]\n", "e.toml", &[])
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("`run.replica_devices`") && err.contains("wgpu:x"),
            "{err}"
        );
    }
}

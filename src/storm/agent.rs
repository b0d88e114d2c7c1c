//! The STORM agent: world model, actor-critic, replay and the update step
//! (the reference's `train.py`: one world-model update on a batch of
//! replayed sequences, then one actor-critic update in imagination from
//! context windows of the same batch).

use std::path::Path;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use somnium_envs::{Action, Observation, Space};

use super::agent_config::StormConfig;
use super::model::StormWorldModel;
use super::state::StormState;
use crate::Result;
use crate::core::{Dynamics, Noise, ObsKind};
use crate::dreamer::ActorCritic;
use crate::dreamer::actor_critic::{Shard, concurrently, copies_on};
use crate::dreamer::world_model::DeviceBatch;
use crate::error::check_finite;
use crate::logging::Scalar;
use crate::nn::grad::clip_global_norm;
use crate::nn::master_weights::optimizer_for;
use crate::nn::tensor_util::to_vec;
use crate::planners::AnyPlanner;
use crate::replay::{SequenceBatch, SequenceReplay};
use crate::train::checkpoint::{
    load_json, load_module, load_optimizer, load_replay, save_json, save_module, save_optimizer,
    save_replay,
};
use crate::train::latent_acting::{ActingNets, LatentActing};
use crate::train::{ActionCodec, Agent, record_step, updates_owed};

/// Counters and the sampling stream, saved beside the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AgentState {
    updates: u64,
    noise: Noise,
}

/// STORM.
pub struct StormAgent {
    config: StormConfig,
    obs_kind: ObsKind,
    codec: ActionCodec,
    device: Device,
    model: StormWorldModel,
    behaviour: ActorCritic,
    model_optim: ModuleOptimizer,
    planner: AnyPlanner,
    state: AgentState,
    replay: SequenceReplay,
    acting: [Option<LatentActing<StormState>>; 2],
    /// Further devices (or the agent's own again) that imagination is
    /// split over.
    replicas: Vec<Device>,
}

fn model_optimizer(config: &StormConfig, device: &Device) -> ModuleOptimizer {
    optimizer_for(
        AdamConfig::new().with_epsilon(config.model_eps).build(),
        device,
    )
}

impl StormAgent {
    /// A fresh agent for the given spaces, on `device` (gradients are
    /// enabled on it); `seed` draws the initial weights and the agent's
    /// sampling.
    pub fn new(
        config: &StormConfig,
        observation_space: &Space,
        action_space: &Space,
        num_envs: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let device = device.clone().autodiff();
        device.seed(seed);
        let obs_kind = ObsKind::of(observation_space);
        let codec = ActionCodec::new(action_space)?;
        let (width, discrete) = (codec.width(), codec.is_discrete());
        let model = StormWorldModel::new(&config.model, obs_kind, width, &device);
        let features = model.dynamics.feature_width();
        let ac = &config.actor_critic;
        let behaviour = ActorCritic::new(features, width, discrete, &ac.dreamer(), &device);
        let planner = AnyPlanner::new(&config.planner, width, discrete, ac.behaviour.discount)?;
        Ok(StormAgent {
            obs_kind,
            model_optim: model_optimizer(config, &device),
            device,
            model,
            behaviour,
            planner,
            state: AgentState {
                updates: 0,
                noise: Noise::new(seed ^ 0x5707_3a11),
            },
            replay: SequenceReplay::new(config.replay.capacity, num_envs, obs_kind, width),
            acting: [None, None],
            replicas: Vec::new(),
            codec,
            config: config.clone(),
        })
    }

    /// Split every update's imagination and actor-critic losses over
    /// `replicas` as well as the agent's own device: each share imagines
    /// from the context windows of its own sequences on its own thread,
    /// and the gradients are summed on the agent's device. Replicas are
    /// further GPUs, or the agent's own device again to use more CPU cores
    /// (`run.update_shards`). The world model, a small part of a STORM
    /// update, learns on the whole batch on the agent's device.
    pub fn with_replicas(mut self, replicas: &[Device]) -> Self {
        self.replicas = replicas.iter().map(|d| d.clone().autodiff()).collect();
        self
    }

    /// The world model (for `somnium dream` and custom analysis).
    pub fn world_model(&self) -> &StormWorldModel {
        &self.model
    }

    /// The replay buffer.
    pub fn replay(&self) -> &SequenceReplay {
        &self.replay
    }

    /// The actor and critic.
    pub fn actor_critic(&self) -> &ActorCritic {
        &self.behaviour
    }

    /// One update of the world model, then of actor and critic, on a
    /// replayed batch.
    pub fn train_step(&mut self) -> Result<Vec<Scalar>> {
        let c = &self.config;
        let noise = &mut self.state.noise;
        let batch = self
            .replay
            .sample_for_update(c.replay.batch, c.replay.length, 0, noise);
        let terminals = ("replay/batch_terminals".to_string(), batch.terminals());
        let started = std::time::Instant::now();
        let shares = match self.replicas.len() {
            0 => Vec::new(),
            n => batch.split(n + 1),
        };
        let data = DeviceBatch::new(batch, self.obs_kind, &self.device);
        let observed = self
            .model
            .observe_sequences(&data, c.model.free_nats, noise);
        let mut metrics: Vec<Scalar> = observed
            .losses
            .named()
            .into_iter()
            .map(|(name, loss)| {
                (
                    format!("loss/{name}"),
                    to_vec(loss.clone().detach())[0] as f64,
                )
            })
            .collect();
        metrics.push(("model/kl".into(), to_vec(observed.kl.clone())[0] as f64));
        metrics.push(terminals);
        let total = observed.losses.total(&c.model.loss_scales());
        let mut grads = GradientsParams::from_grads(total.backward(), &self.model);
        let norm = clip_global_norm(&self.model, &mut grads, c.model_clip);
        metrics.push(("model/grad_norm".into(), norm as f64));
        if norm.is_finite() {
            self.model = self.model_optim.step(c.model_lr, self.model.clone(), grads);
        }
        let model_seconds = started.elapsed().as_secs_f64();

        // Actor and critic in imagination inside the updated model, fixed
        // and without dropout (the reference imagines in eval mode).
        let started = std::time::Instant::now();
        if self.replicas.is_empty() {
            let frozen = self.model.clone().freeze();
            let (starts, continues) = frozen.imagination_starts(&data, c.model.context, noise);
            metrics.extend(self.behaviour.update(&frozen, starts, continues, noise));
        } else {
            metrics.extend(self.sharded_behaviour_update(shares));
        }
        metrics.push(("perf/model_update_s".into(), model_seconds));
        metrics.push((
            "perf/behaviour_update_s".into(),
            started.elapsed().as_secs_f64(),
        ));
        self.state.updates += 1;
        check_finite(metrics, self.state.updates)
    }

    /// The actor-critic update with each of `shares` (sequences of the
    /// batch) imagined on its own device and thread.
    fn sharded_behaviour_update(&mut self, shares: Vec<SequenceBatch>) -> Vec<Scalar> {
        let devices: Vec<Device> = std::iter::once(self.device.clone())
            .chain(self.replicas.iter().cloned())
            .collect();
        let frozen: Vec<StormWorldModel> = copies_on(&self.model, &devices, &self.device)
            .into_iter()
            .map(StormWorldModel::freeze)
            .collect();
        let (obs_kind, context) = (self.obs_kind, self.config.model.context);
        let noise = &mut self.state.noise;
        let jobs: Vec<_> = shares
            .into_iter()
            .zip(&frozen)
            .zip(&devices)
            .map(|((share, model), device)| {
                let mut noise = noise.fork();
                move || {
                    let data = DeviceBatch::new(share, obs_kind, device);
                    model.imagination_starts(&data, context, &mut noise)
                }
            })
            .collect();
        let starts = concurrently(jobs);
        let shards = starts
            .into_iter()
            .zip(&frozen)
            .map(|((starts, first_continues), model)| Shard {
                model,
                starts,
                first_continues,
                replay: None,
            })
            .collect();
        self.behaviour
            .update_parallel(shards, &self.device, &mut self.state.noise)
    }
}

impl Agent for StormAgent {
    fn name(&self) -> &'static str {
        "storm"
    }

    fn updates(&self) -> u64 {
        self.state.updates
    }

    fn act(
        &mut self,
        slot: usize,
        observations: &[Observation],
        is_first: &[bool],
        greedy: bool,
    ) -> Vec<Action> {
        let (model, actor, critic) = (
            self.model.valid(),
            self.behaviour.actor.valid(),
            self.behaviour.critic.valid(),
        );
        let device = self.device.clone().inner();
        self.planner.set_explore(!greedy);
        ActingNets {
            model: &model,
            encoder: &model,
            actor: &actor,
            critic: &critic,
            codec: &self.codec,
            obs_kind: self.obs_kind,
            device: &device,
        }
        .act(
            &mut self.planner,
            &mut self.acting[slot],
            &mut self.state.noise,
            observations,
            is_first,
        )
    }

    fn reset_acting(&mut self, slot: usize) {
        self.acting[slot] = None;
    }

    fn record(
        &mut self,
        env_index: usize,
        obs: &Observation,
        action: Option<&Action>,
        reward: f32,
        is_first: bool,
        is_terminal: bool,
    ) {
        record_step(
            &mut self.replay,
            &self.codec,
            env_index,
            obs,
            action,
            reward,
            is_first,
            is_terminal,
        );
    }

    fn train(&mut self, env_steps: u64, prefill: u64) -> Result<Vec<Scalar>> {
        let r = &self.config.replay;
        let owed = updates_owed(
            env_steps,
            prefill,
            self.config.train_ratio,
            r.batch * r.length,
        );
        let mut last = Vec::new();
        while env_steps >= prefill
            && self.state.updates < owed
            && self.replay.can_sample(self.config.replay.length)
        {
            last = self.train_step()?;
        }
        Ok(last)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        save_module(&self.model, &dir.join("model.bpk"))?;
        save_optimizer(&self.model_optim, &dir.join("model_optim.bpk"))?;
        self.behaviour.save(dir)?;
        save_json(&self.state, &dir.join("agent_state.json"))?;
        save_replay(&self.replay, dir)
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        self.model = load_module(self.model.clone(), &dir.join("model.bpk"))?;
        self.model_optim = load_optimizer(
            model_optimizer(&self.config, &self.device),
            &dir.join("model_optim.bpk"),
        )?;
        self.behaviour.load(dir)?;
        self.state = load_json(&dir.join("agent_state.json"))?;
        if let Some(replay) = load_replay(dir)? {
            self.replay = replay;
        }
        self.acting = [None, None];
        Ok(())
    }
}

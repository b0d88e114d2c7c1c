//! The DreamerV3 agent: networks, optimisers, replay and the update step.

use std::path::Path;

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::behaviour::{behaviour_losses, imagine};
use super::config::{DreamerConfig, OptimizerKind};
use super::networks::{Actor, Critic};
use super::returns::ReturnNormalizer;
use super::rssm::RssmState;
use super::world_model::{DeviceBatch, DreamerWorldModel};
use crate::core::{Dynamics, Encoder, LatentState, Noise, ObsBatch, ObsKind, PolicyModel};
use crate::logging::Scalar;
use crate::nn::ema::ema_update;
use crate::nn::grad::clip_global_norm;
use crate::nn::tensor_util::{tensor_from_vec, to_vec};
use crate::replay::{SequenceReplay, Transition};
use crate::train::checkpoint::{
    load_json, load_module, load_optimizer, save_json, save_module, save_optimizer,
};
use crate::train::{ActionCodec, Agent};
use crate::{Error, Result};
use somnium_envs::{Action, Observation, Space};

/// Counters and small state saved beside the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AgentState {
    updates: u64,
    normalizer: ReturnNormalizer,
    noise: Noise,
}

/// Latent state of the environments being acted in.
struct ActingState {
    state: RssmState,
    prev_action: Tensor<2>,
}

/// DreamerV3.
pub struct DreamerAgent {
    config: DreamerConfig,
    obs_kind: ObsKind,
    codec: ActionCodec,
    device: Device,
    model: DreamerWorldModel,
    actor: Actor,
    critic: Critic,
    slow_critic: Critic,
    model_optim: ModuleOptimizer,
    actor_optim: ModuleOptimizer,
    critic_optim: ModuleOptimizer,
    state: AgentState,
    replay: SequenceReplay,
    acting: [Option<ActingState>; 2],
}

fn adam(eps: f32) -> ModuleOptimizer {
    AdamConfig::new().with_epsilon(eps).init()
}

impl DreamerAgent {
    /// A fresh agent for the given spaces, on `device` (gradients are enabled on it).
    pub fn new(
        config: &DreamerConfig,
        observation_space: &Space,
        action_space: &Space,
        num_envs: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        if config.optimizer.kind == OptimizerKind::Laprop {
            return Err(Error::Unsupported(
                "dreamer.optimizer.kind = \"laprop\" is not implemented yet; use \"adam\"".into(),
            ));
        }
        let device = device.clone().autodiff();
        let obs_kind = ObsKind::of(observation_space);
        let codec = ActionCodec::new(action_space)?;
        let width = codec.width();
        let model = DreamerWorldModel::new(config, obs_kind, width, &device);
        let features = model.rssm.feature_width();
        let actor = Actor::new(features, width, codec.is_discrete(), config, &device);
        let critic = Critic::new(features, &config.heads, config.norm, &device);
        let slow_critic = critic.clone();
        let o = &config.optimizer;
        let b = &config.behaviour;
        Ok(DreamerAgent {
            obs_kind,
            device,
            model,
            actor,
            critic,
            slow_critic,
            model_optim: adam(o.model_eps),
            actor_optim: adam(o.actor_critic_eps),
            critic_optim: adam(o.actor_critic_eps),
            state: AgentState {
                updates: 0,
                normalizer: ReturnNormalizer::new(
                    b.return_norm_rate,
                    b.return_norm_limit,
                    b.return_norm_low,
                    b.return_norm_high,
                ),
                noise: Noise::new(seed ^ 0x5eed_d4ea),
            },
            replay: SequenceReplay::new(config.replay.capacity, num_envs, obs_kind, width),
            acting: [None, None],
            codec,
            config: config.clone(),
        })
    }

    /// The world model (for `somnium dream` and custom analysis).
    pub fn world_model(&self) -> &DreamerWorldModel {
        &self.model
    }

    /// The replay buffer.
    pub fn replay(&self) -> &SequenceReplay {
        &self.replay
    }

    /// One update of world model, actor and critic on a replayed batch.
    pub fn train_step(&mut self) -> Result<Vec<Scalar>> {
        let c = &self.config;
        let batch = self
            .replay
            .sample(c.replay.batch, c.replay.length, &mut self.state.noise);
        let data = DeviceBatch::new(batch, self.obs_kind, &self.device);
        let mut metrics = Vec::new();

        // World model.
        let observed = self
            .model
            .observe_sequences(&data, c.rssm.free_nats, &mut self.state.noise);
        let total = observed.losses.total(&c.loss_scales);
        for (name, loss) in observed.losses.named() {
            metrics.push((
                format!("loss/{name}"),
                to_vec(loss.clone().detach())[0] as f64,
            ));
        }
        metrics.push(("model/kl".into(), to_vec(observed.kl.clone())[0] as f64));
        let mut grads = GradientsParams::from_grads(total.backward(), &self.model);
        let norm = clip_global_norm(&self.model, &mut grads, c.optimizer.model_clip);
        metrics.push(("model/grad_norm".into(), norm as f64));
        self.model = self
            .model_optim
            .step(c.optimizer.model_lr, self.model.clone(), grads);

        // Actor and critic in imagination, from every posterior state.
        let backprop = !self.codec.is_discrete();
        let imagined = imagine(
            &self.model,
            &self.actor,
            observed.posteriors,
            c.behaviour.horizon,
            backprop,
            &mut self.state.noise,
        );
        let losses = behaviour_losses(
            &self.model,
            &self.actor,
            &self.critic,
            &self.slow_critic,
            &imagined,
            observed.continues,
            &mut self.state.normalizer,
            &c.behaviour,
            &c.loss_scales,
            backprop,
        );
        metrics.push((
            "loss/actor".into(),
            to_vec(losses.actor.clone().detach())[0] as f64,
        ));
        metrics.push((
            "loss/critic".into(),
            to_vec(losses.critic.clone().detach())[0] as f64,
        ));
        metrics.push(("actor/entropy".into(), losses.entropy as f64));
        metrics.push(("actor/return_mean".into(), losses.return_mean as f64));
        metrics.push(("actor/return_scale".into(), losses.return_scale as f64));
        let mut grads = (losses.actor + losses.critic).backward();
        let mut actor_grads = GradientsParams::from_module(&mut grads, &self.actor);
        let mut critic_grads = GradientsParams::from_module(&mut grads, &self.critic);
        let actor_norm =
            clip_global_norm(&self.actor, &mut actor_grads, c.optimizer.actor_critic_clip);
        let critic_norm = clip_global_norm(
            &self.critic,
            &mut critic_grads,
            c.optimizer.actor_critic_clip,
        );
        metrics.push(("actor/grad_norm".into(), actor_norm as f64));
        metrics.push(("critic/grad_norm".into(), critic_norm as f64));
        self.actor =
            self.actor_optim
                .step(c.optimizer.actor_critic_lr, self.actor.clone(), actor_grads);
        self.critic = self.critic_optim.step(
            c.optimizer.actor_critic_lr,
            self.critic.clone(),
            critic_grads,
        );

        self.state.updates += 1;
        if self
            .state
            .updates
            .is_multiple_of(c.behaviour.slow_critic_every as u64)
        {
            self.slow_critic = ema_update(
                self.slow_critic.clone(),
                &self.critic,
                c.behaviour.slow_critic_rate,
            );
        }
        for (name, value) in &metrics {
            if !value.is_finite() {
                return Err(Error::NonFinite {
                    name: name.clone(),
                    update: self.state.updates,
                    value: *value,
                });
            }
        }
        Ok(metrics)
    }
}

impl Agent for DreamerAgent {
    fn name(&self) -> &'static str {
        "dreamer"
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
        let n = observations.len();
        let device = self.device.clone();
        let acting = self.acting[slot].get_or_insert_with(|| ActingState {
            state: self.model.rssm.initial(n, &device),
            prev_action: Tensor::zeros([n, self.codec.width()], &device),
        });
        let first: Vec<f32> = is_first
            .iter()
            .map(|&f| if f { 1.0 } else { 0.0 })
            .collect();
        let obs = ObsBatch::from_observations(observations, self.obs_kind, &device);
        let embed = self.model.encoder.encode(&obs);
        let is_first = tensor_from_vec(first, [n], &device);
        let observed = self.model.rssm.observe(
            &acting.state,
            acting.prev_action.clone(),
            embed,
            is_first,
            &mut self.state.noise,
        );
        let state = observed.posterior.detach();
        let policy = self.actor.policy(state.features().detach());
        let action = if greedy {
            policy.mode()
        } else {
            policy.sample(&mut self.state.noise)
        }
        .detach();
        acting.state = state;
        acting.prev_action = action.clone();
        self.codec.decode(&to_vec(action), n)
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
        let obs = obs.to_f32();
        let action = action.map_or_else(|| vec![0.0; self.codec.width()], |a| self.codec.encode(a));
        self.replay.add(
            env_index,
            &Transition {
                obs: &obs,
                action: &action,
                reward,
                is_first,
                is_terminal,
            },
        );
    }

    fn train(&mut self, env_steps: u64, prefill: u64) -> Result<Vec<Scalar>> {
        let (length, per_update) = (
            self.config.replay.length,
            (self.config.replay.batch * self.config.replay.length) as f64,
        );
        let owed = (env_steps.saturating_sub(prefill) as f64 * self.config.train_ratio / per_update)
            .floor() as u64;
        let mut last = Vec::new();
        while env_steps >= prefill && self.state.updates < owed && self.replay.can_sample(length) {
            last = self.train_step()?;
        }
        Ok(last)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        save_module(&self.model, &dir.join("model.bpk"))?;
        save_module(&self.actor, &dir.join("actor.bpk"))?;
        save_module(&self.critic, &dir.join("critic.bpk"))?;
        save_module(&self.slow_critic, &dir.join("slow_critic.bpk"))?;
        save_optimizer(&self.model_optim, &dir.join("model_optim.bpk"))?;
        save_optimizer(&self.actor_optim, &dir.join("actor_optim.bpk"))?;
        save_optimizer(&self.critic_optim, &dir.join("critic_optim.bpk"))?;
        save_json(&self.state, &dir.join("agent_state.json"))?;
        self.replay.save(&dir.join("replay.json"))
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        self.model = load_module(self.model.clone(), &dir.join("model.bpk"))?;
        self.actor = load_module(self.actor.clone(), &dir.join("actor.bpk"))?;
        self.critic = load_module(self.critic.clone(), &dir.join("critic.bpk"))?;
        self.slow_critic = load_module(self.slow_critic.clone(), &dir.join("slow_critic.bpk"))?;
        let o = &self.config.optimizer;
        self.model_optim = load_optimizer(adam(o.model_eps), &dir.join("model_optim.bpk"))?;
        self.actor_optim = load_optimizer(adam(o.actor_critic_eps), &dir.join("actor_optim.bpk"))?;
        self.critic_optim =
            load_optimizer(adam(o.actor_critic_eps), &dir.join("critic_optim.bpk"))?;
        self.state = load_json(&dir.join("agent_state.json"))?;
        let replay_path = dir.join("replay.json");
        if replay_path.exists() {
            self.replay = SequenceReplay::load(&replay_path)?;
        }
        self.acting = [None, None];
        Ok(())
    }
}

//! The MuZero agent: acting by search, prioritised trajectory replay,
//! unrolled updates, a target network, and checkpoints. With
//! `acting = "actor_critic"` it acts instead with DreamerV3's actor, trained
//! in imagination inside the MuZero model after every update.

use std::path::Path;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::config::{MuzeroActing, MuzeroConfig};
use super::consistency::ConsistencyHeads;
use super::learner::{Bootstrap, reanalyse_policies, unroll_loss, value_targets};
use super::networks::MuzeroNet;
use crate::core::{LatentState, Noise, ObsBatch, ObsKind, PolicyModel, ValueModel};
use crate::dreamer::ActorCritic;
use crate::error::check_finite;
use crate::logging::Scalar;
use crate::nn::grad::{clip_global_norm, global_norm};
use crate::nn::loss_scale::LossScale;
use crate::nn::master_weights::optimizer_for;
use crate::nn::tensor_util::{tensor_from_vec, to_vec};
use crate::planners::{MctsPlanner, SearchConfig};
use crate::replay::{SearchStats, TrajectoryReplay};
use crate::train::checkpoint::{
    REPLAY_FILE, load_json, load_module, load_optimizer, load_replay, save_json, save_module,
    save_optimizer, save_replay,
};
use crate::train::{ActionCodec, Agent};
use crate::{Error, Result};
use somnium_envs::{Action, Observation, Space};

/// Counters and random state saved beside the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AgentState {
    updates: u64,
    env_steps: u64,
    noise: Noise,
    /// The loss scale (used in f16 only; older checkpoints have none and
    /// start from the initial one).
    #[serde(default)]
    loss_scale: LossScale,
}

/// The networks that are trained together.
#[derive(Module, Debug)]
pub struct MuzeroModules {
    /// Representation, dynamics and prediction.
    pub net: MuzeroNet,
    /// EfficientZero's consistency heads (unused unless its weight is positive).
    pub consistency: ConsistencyHeads,
}

/// MuZero (with Gumbel search and EfficientZero's extras as options).
pub struct MuzeroAgent {
    config: MuzeroConfig,
    obs_kind: ObsKind,
    actions: usize,
    device: Device,
    modules: MuzeroModules,
    target: MuzeroNet,
    optim: ModuleOptimizer,
    state: AgentState,
    replay: TrajectoryReplay,
    planner: MctsPlanner,
    greedy_planner: MctsPlanner,
    /// The actor and critic of `acting = "actor_critic"`.
    actor_critic: Option<ActorCritic>,
    /// The updates the run will make, which scales EfficientZero's
    /// off-policy correction ([`Self::set_planned_updates`]).
    planned_updates: u64,
}

/// EfficientZero's off-policy correction of the n-step horizon: `td`
/// shortened by one step per `per_step` transitions of `age`, at least one
/// (its `clip(td_steps - age // auto_td_steps, 1, td_steps)`).
pub fn corrected_td_steps(td: usize, age: u64, per_step: f64) -> usize {
    let shorter = (age as f64 / per_step).floor() as usize;
    td.saturating_sub(shorter).max(1)
}

fn optimizer(config: &MuzeroConfig, device: &Device) -> ModuleOptimizer {
    let adamw = AdamWConfig::new()
        .with_weight_decay(config.training.weight_decay)
        .with_epsilon(1e-8)
        .build();
    optimizer_for(adamw, device)
}

impl MuzeroAgent {
    /// A fresh agent for the given spaces (discrete actions only), on `device`.
    /// `seed` seeds the device's random generator, which draws the initial
    /// weights, and the agent's own sampling.
    pub fn new(
        config: &MuzeroConfig,
        observation_space: &Space,
        action_space: &Space,
        num_envs: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let ActionCodec::Discrete(actions) = ActionCodec::new(action_space)? else {
            return Err(Error::Unsupported(
                "MuZero needs a discrete action space (use DreamerV3 for continuous control)"
                    .into(),
            ));
        };
        let device = device.clone().autodiff();
        // The networks' initial weights come from the device's generator.
        device.seed(seed);
        let obs_kind = ObsKind::of(observation_space);
        if !MuzeroNet::supports(&config.network, obs_kind) {
            return Err(Error::Unsupported(format!(
                "muzero.network.kind = \"residual\" needs image observations, and this \
                 environment's are {}; use kind = \"mlp\"",
                observation_space.describe()
            )));
        }
        let mut net = MuzeroNet::new(&config.network, obs_kind, actions, &device);
        let ez = &config.efficient_zero;
        if ez.value_prefix {
            net = net.with_value_prefix(ez.lstm_units, ez.prefix_horizon, &config.network, &device);
        }
        let features = crate::core::Dynamics::feature_width(&net);
        let actor_critic = (config.acting == MuzeroActing::ActorCritic).then(|| {
            ActorCritic::new(
                features,
                actions,
                true,
                &config.actor_critic.dreamer(),
                &device,
            )
        });
        let consistency = ConsistencyHeads::new(
            crate::core::Dynamics::feature_width(&net),
            config.efficient_zero.projection,
            &config.network,
            &device,
        );
        let discount = config.training.discount;
        let greedy = SearchConfig {
            dirichlet_fraction: 0.0,
            gumbel_scale: 0.0,
            ..config.search.clone()
        };
        let mut greedy_planner = MctsPlanner::new(greedy, actions, discount);
        greedy_planner.temperature = 0.0;
        Ok(MuzeroAgent {
            target: net.valid(),
            modules: MuzeroModules { net, consistency },
            optim: optimizer(config, &device),
            state: AgentState {
                updates: 0,
                env_steps: 0,
                noise: Noise::new(seed ^ 0x6d75_7a65),
                loss_scale: LossScale::default(),
            },
            replay: TrajectoryReplay::new(config.replay.capacity, num_envs, obs_kind, actions),
            planner: MctsPlanner::new(config.search.clone(), actions, discount),
            greedy_planner,
            actor_critic,
            obs_kind,
            actions,
            device,
            planned_updates: config.replay.capacity as u64,
            config: config.clone(),
        })
    }

    /// Tell the agent how many updates its run will make (EfficientZero's
    /// `training_steps`), which sets how fast the off-policy correction
    /// shortens the horizon of old data. Until told, the replay capacity
    /// stands in.
    pub fn set_planned_updates(&mut self, updates: u64) {
        self.planned_updates = updates;
    }

    /// The networks.
    pub fn net(&self) -> &MuzeroNet {
        &self.modules.net
    }

    /// The actor and critic, when the agent acts by them.
    pub fn actor_critic(&self) -> Option<&ActorCritic> {
        self.actor_critic.as_ref()
    }

    /// The replay buffer.
    pub fn replay(&self) -> &TrajectoryReplay {
        &self.replay
    }

    /// One update on a prioritised batch.
    pub fn train_step(&mut self) -> Result<Vec<Scalar>> {
        let c = &self.config;
        let t = &c.training;
        let noise = &mut self.state.noise;
        let positions = self
            .replay
            .sample(t.batch, c.replay.alpha, c.replay.beta, noise);
        let td = t.td_steps;
        let correct = c.efficient_zero.off_policy_correction;
        // EfficientZero: one step shorter per `ratio * training steps` of
        // age in transitions (its auto_td_steps), never below one step.
        let per_step = (c.efficient_zero.off_policy_ratio * self.planned_updates as f64).max(1.0);
        let horizon = move |age: u64| match correct {
            true => corrected_td_steps(td, age, per_step),
            false => td,
        };
        let mut targets = self
            .replay
            .targets(&positions, t.unroll, t.discount, horizon, noise);
        let plain = self.device.clone().inner();
        let reanalysed = (t.batch as f64 * c.reanalyze.policy_ratio).round() as usize;
        if reanalysed > 0 {
            let net = self.modules.net.valid();
            let planner = match c.reanalyze.root_noise {
                true => &mut self.planner,
                false => &mut self.greedy_planner,
            };
            reanalyse_policies(
                &mut targets,
                reanalysed,
                &net,
                planner,
                self.obs_kind,
                &plain,
                noise,
            );
        }
        let bootstrap = match (c.reanalyze.target_values, c.reanalyze.root_values) {
            (false, _) => Bootstrap::Stored,
            (true, false) => Bootstrap::Predicted(&self.target),
            (true, true) => {
                let planner = match c.reanalyze.root_noise {
                    true => &mut self.planner,
                    false => &mut self.greedy_planner,
                };
                Bootstrap::Searched(&self.target, planner, noise)
            }
        };
        let values = value_targets(&targets, bootstrap, self.obs_kind, &plain);
        let heads = (c.efficient_zero.consistency > 0.0).then_some(&self.modules.consistency);
        let loss = unroll_loss(
            &self.modules.net,
            heads,
            &targets,
            &values,
            c,
            self.obs_kind,
            &self.device,
        );
        let mut metrics = loss.metrics;
        let scaling = LossScale::applies_on(&self.device);
        let total = match scaling {
            true => self.state.loss_scale.scale_loss(loss.total),
            false => loss.total,
        };
        let mut grads = GradientsParams::from_grads(total.backward(), &self.modules);
        if scaling {
            self.state.loss_scale.unscale(&self.modules, &mut grads);
        }
        let norm = match t.grad_clip > 0.0 {
            true => Some(clip_global_norm(&self.modules, &mut grads, t.grad_clip)),
            false => scaling.then(|| global_norm(&self.modules, &grads)),
        };
        let finite = norm.is_none_or(f32::is_finite);
        let scale = &mut self.state.loss_scale;
        let apply = scale.apply_step(scaling, finite, "model", &mut metrics);
        if let Some(norm) = norm.filter(|_| apply && t.grad_clip > 0.0) {
            metrics.push(("model/grad_norm".into(), norm as f64));
        }
        // Losses and gradient norm checked before the step, so a NaN never
        // reaches the weights or the replay's priorities.
        let mut metrics = check_finite(metrics, self.state.updates + 1)?;
        if apply {
            self.modules = self.optim.step(t.lr, self.modules.clone(), grads);
        }
        self.replay
            .update_priorities(&positions, &loss.priorities, c.replay.min_priority);
        self.state.updates += 1;
        if self.state.updates.is_multiple_of(t.target_update_every) {
            self.target = self.modules.net.valid();
        }
        if let Some(ac) = &mut self.actor_critic {
            // Imagine from the represented roots; a root that is a
            // trajectory's last observation (no action taken) does not continue.
            let roots = ObsBatch::from_flat(
                targets.root_obs.clone(),
                t.batch,
                self.obs_kind,
                &self.device,
            );
            let starts = self.modules.net.represent(&roots).detach();
            let k1 = t.unroll + 1;
            let continues = (0..t.batch).map(|i| targets.acted[i * k1]).collect();
            let continues = tensor_from_vec(continues, [t.batch], &self.device);
            let frozen = self.modules.net.clone().no_grad();
            let ac_metrics = ac.update(&frozen, starts, continues, noise);
            metrics.extend(check_finite(ac_metrics, self.state.updates)?);
        }
        let mean_priority = loss.priorities.iter().sum::<f32>() / loss.priorities.len() as f32;
        metrics.push(("replay/priority".into(), mean_priority as f64));
        metrics.push(("replay/steps".into(), self.replay.len() as f64));
        Ok(metrics)
    }
}

impl MuzeroAgent {
    /// Act with the actor-critic's actor on the represented observations;
    /// its probabilities and the critic's value stand in for search results.
    fn act_by_actor(
        &mut self,
        slot: usize,
        observations: &[Observation],
        greedy: bool,
    ) -> Vec<Action> {
        let ac = self.actor_critic.as_ref().expect("acting by actor");
        let n = observations.len();
        let plain = self.device.clone().inner();
        let obs = ObsBatch::from_observations(observations, self.obs_kind, &plain);
        let features = self.modules.net.valid().represent(&obs).features();
        let policy = ac.actor.valid().policy(features.clone());
        let chosen = if greedy {
            policy.mode()
        } else {
            policy.sample(&mut self.state.noise)
        };
        let a = self.actions;
        if slot == 0 {
            let probs = to_vec(policy.probs().expect("discrete actor").detach());
            let values = to_vec(ac.critic.valid().value(features).mean());
            for env in 0..n {
                let policy = probs[env * a..(env + 1) * a].to_vec();
                let value = values[env];
                self.replay.set_search(env, SearchStats { policy, value });
            }
        }
        let one_hot = to_vec(chosen.detach());
        one_hot
            .chunks(a)
            .map(|row| Action::Discrete(row.iter().position(|&x| x > 0.5).unwrap_or(0)))
            .collect()
    }
}

impl Agent for MuzeroAgent {
    fn name(&self) -> &'static str {
        "muzero"
    }

    fn updates(&self) -> u64 {
        self.state.updates
    }

    fn act(
        &mut self,
        slot: usize,
        observations: &[Observation],
        _is_first: &[bool],
        greedy: bool,
    ) -> Vec<Action> {
        let n = observations.len();
        if self.actor_critic.is_some() {
            return self.act_by_actor(slot, observations, greedy);
        }
        let plain = self.device.clone().inner();
        let net = self.modules.net.valid();
        let obs = ObsBatch::from_observations(observations, self.obs_kind, &plain);
        let states = net.represent(&obs);
        let noise = &mut self.state.noise;
        let out = if greedy {
            self.greedy_planner.search(&net, &net, &net, &states, noise)
        } else {
            self.planner.temperature = self.config.training.temperature_at(self.state.env_steps);
            self.planner.search(&net, &net, &net, &states, noise)
        };
        if slot == 0 {
            for env in 0..n {
                let a = self.actions;
                let policy = out.policy[env * a..(env + 1) * a].to_vec();
                self.replay.set_search(
                    env,
                    SearchStats {
                        policy,
                        value: out.value[env],
                    },
                );
            }
        }
        out.actions.into_iter().map(Action::Discrete).collect()
    }

    fn reset_acting(&mut self, _slot: usize) {}

    fn record(
        &mut self,
        env_index: usize,
        obs: &Observation,
        action: Option<&Action>,
        reward: f32,
        is_first: bool,
        is_terminal: bool,
    ) {
        let action = action.map(|a| match a {
            Action::Discrete(i) => *i,
            Action::Continuous(_) => unreachable!("MuZero checks for a discrete action space"),
        });
        self.replay.add(
            env_index,
            &obs.to_f32(),
            action,
            reward,
            is_first,
            is_terminal,
        );
    }

    fn train(&mut self, env_steps: u64, prefill: u64) -> Result<Vec<Scalar>> {
        self.state.env_steps = env_steps;
        let owed = (env_steps.saturating_sub(prefill) as f64 * self.config.updates_per_step).floor()
            as u64;
        let mut last = Vec::new();
        while env_steps >= prefill && self.state.updates < owed && !self.replay.is_empty() {
            last = self.train_step()?;
        }
        Ok(last)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        save_module(&self.modules, &dir.join("model.bpk"))?;
        save_module(&self.target, &dir.join("target.bpk"))?;
        save_optimizer(&self.optim, &dir.join("optim.bpk"))?;
        save_json(&self.state, &dir.join("agent_state.json"))?;
        if let Some(ac) = &self.actor_critic {
            ac.save(dir)?;
        }
        save_replay(&self.replay, dir)
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        self.modules = load_module(self.modules.clone(), &dir.join("model.bpk"))?;
        self.target = load_module(self.modules.net.valid(), &dir.join("target.bpk"))?;
        self.optim = load_optimizer(
            optimizer(&self.config, &self.device),
            &dir.join("optim.bpk"),
        )?;
        self.state = load_json(&dir.join("agent_state.json"))?;
        self.replay = load_replay(dir)?
            .ok_or_else(|| crate::Error::checkpoint(dir, format!("{REPLAY_FILE} is missing")))?;
        if let Some(ac) = &mut self.actor_critic {
            ac.load(dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::corrected_td_steps;

    #[test]
    fn the_off_policy_correction_shortens_by_age_as_efficientzero() {
        // EfficientZero's Atari numbers: td_steps 5, auto_td_steps 0.3 x
        // 100k training steps = 30k transitions per step of shortening.
        let per_step = 0.3 * 100_000.0;
        let horizons: Vec<usize> = [0, 29_999, 30_000, 59_999, 60_000, 120_000, 1_000_000]
            .iter()
            .map(|&age| corrected_td_steps(5, age, per_step))
            .collect();
        assert_eq!(horizons, vec![5, 5, 4, 4, 3, 1, 1]);
    }
}

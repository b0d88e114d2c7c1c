//! The DreamerV3 agent: networks, optimisers, replay and the update step.

use std::path::Path;

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::actor_critic::{ActorCritic, Shard, add_weighted, concurrently, copies_on};
use super::config::{CnnKind, DreamerConfig};
use super::networks::{Actor, Critic};
use super::rssm::RssmState;
use super::world_model::{DeviceBatch, DreamerWorldModel};
use crate::Result;
use crate::core::{Noise, ObsKind};
use crate::error::{Error, check_finite};
use crate::logging::Scalar;
use crate::nn::cnn_pooled::pooled_resolution;
use crate::nn::grad::clip_global_norm;
use crate::nn::loss_scale::LossScale;
use crate::nn::tensor_util::to_vec;
use crate::planners::AnyPlanner;
use crate::replay::{SequenceBatch, SequenceReplay};
use crate::train::checkpoint::{
    load_json, load_module, load_optimizer, load_replay, save_json, save_module, save_optimizer,
    save_replay,
};
use crate::train::latent_acting::{ActingNets, LatentActing};
use crate::train::{ActingPolicy, ActionCodec, Agent, record_step, updates_owed};
use somnium_envs::{Action, Observation, Space};

/// Counters and small state saved beside the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AgentState {
    updates: u64,
    noise: Noise,
    /// The world model's loss scale (used in f16 only; older checkpoints
    /// have none and start from the initial one).
    #[serde(default)]
    loss_scale: LossScale,
}

/// Latent state of the environments being acted in.
type ActingState = LatentActing<RssmState>;

/// What acting reads: inference copies of the networks (on the plain
/// device, so no graph is recorded) and how to read observations and write
/// actions.
#[derive(Clone)]
struct Nets {
    model: DreamerWorldModel,
    actor: Actor,
    critic: Critic,
    codec: ActionCodec,
    obs_kind: ObsKind,
    device: Device,
}

impl Nets {
    fn inference(agent: &DreamerAgent) -> Self {
        Nets {
            model: agent.model.valid(),
            actor: agent.behaviour.actor.valid(),
            critic: agent.behaviour.critic.valid(),
            codec: agent.codec.clone(),
            obs_kind: agent.obs_kind,
            device: agent.device.clone().inner(),
        }
    }

    /// Filter the observations into the latent states of `acting` and let
    /// `planner` choose actions from them.
    fn act(
        &self,
        planner: &mut AnyPlanner,
        acting: &mut Option<ActingState>,
        noise: &mut Noise,
        observations: &[Observation],
        is_first: &[bool],
    ) -> Vec<Action> {
        ActingNets {
            model: &self.model,
            encoder: &self.model.encoder,
            actor: &self.actor,
            critic: &self.critic,
            codec: &self.codec,
            obs_kind: self.obs_kind,
            device: &self.device,
        }
        .act(planner, acting, noise, observations, is_first)
    }
}

/// A snapshot of a DreamerV3 agent's exploring policy for an actor thread
/// (`run.async_actors`): inference copies of the world model, actor and
/// critic, the planner, and the collection environments' latent states.
pub struct DreamerPolicy {
    nets: Nets,
    planner: AnyPlanner,
    acting: Option<ActingState>,
    noise: Noise,
}

impl ActingPolicy for DreamerPolicy {
    fn act(&mut self, observations: &[Observation], is_first: &[bool]) -> Vec<Action> {
        self.nets.act(
            &mut self.planner,
            &mut self.acting,
            &mut self.noise,
            observations,
            is_first,
        )
    }

    fn refresh(&mut self, newer: Box<dyn ActingPolicy>) {
        let newer = newer
            .into_any()
            .downcast::<DreamerPolicy>()
            .expect("a DreamerV3 policy is refreshed from a DreamerV3 snapshot");
        self.nets = newer.nets;
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// DreamerV3.
pub struct DreamerAgent {
    config: DreamerConfig,
    obs_kind: ObsKind,
    codec: ActionCodec,
    device: Device,
    model: DreamerWorldModel,
    behaviour: ActorCritic,
    model_optim: ModuleOptimizer,
    planner: AnyPlanner,
    state: AgentState,
    replay: SequenceReplay,
    acting: [Option<ActingState>; 2],
    /// Further devices that share every update (data parallelism).
    replicas: Vec<Device>,
}

/// The pooled CNN halves images once per multiplier; say which key to
/// change when this environment's images do not halve that often.
fn check_image_size(config: &DreamerConfig, obs_kind: ObsKind) -> Result<()> {
    if let (ObsKind::Image { shape, .. }, CnnKind::Pooled) = (obs_kind, config.encoder.cnn) {
        let stages = config.encoder.cnn_mults.len();
        pooled_resolution(shape[0], shape[1], stages).map_err(|problem| {
            Error::config(
                "the environment's images",
                "dreamer.encoder.cnn_mults",
                problem,
            )
        })?;
    }
    Ok(())
}

impl DreamerAgent {
    /// A fresh agent for the given spaces, on `device` (gradients are enabled on it).
    /// `seed` seeds the device's random generator, which draws the initial
    /// weights, and the agent's own sampling.
    pub fn new(
        config: &DreamerConfig,
        observation_space: &Space,
        action_space: &Space,
        num_envs: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let device = device.clone().autodiff();
        // The networks' initial weights come from the device's generator.
        device.seed(seed);
        let obs_kind = ObsKind::of(observation_space);
        check_image_size(config, obs_kind)?;
        let codec = ActionCodec::new(action_space)?;
        let width = codec.width();
        let model = DreamerWorldModel::new(config, obs_kind, width, &device);
        let features = model.rssm.feature_width();
        let discrete = codec.is_discrete();
        let behaviour = ActorCritic::new(features, width, discrete, config, &device);
        let discount = config.behaviour.discount;
        let planner = AnyPlanner::new(&config.planner, width, discrete, discount)?;
        let model_optim = config.optimizer.build(config.optimizer.model_eps, &device);
        Ok(DreamerAgent {
            obs_kind,
            device,
            model,
            behaviour,
            model_optim,
            planner,
            state: AgentState {
                updates: 0,
                noise: Noise::new(seed ^ 0x5eed_d4ea),
                loss_scale: LossScale::default(),
            },
            replay: replay_for(
                config,
                SequenceReplay::new(config.replay.capacity, num_envs, obs_kind, width),
            ),
            acting: [None, None],
            replicas: Vec::new(),
            codec,
            config: config.clone(),
        })
    }

    /// The world model (for `somnium dream` and custom analysis).
    pub fn world_model(&self) -> &DreamerWorldModel {
        &self.model
    }

    /// The actor and critic.
    pub fn actor_critic(&self) -> &ActorCritic {
        &self.behaviour
    }

    /// The replay buffer.
    pub fn replay(&self) -> &SequenceReplay {
        &self.replay
    }

    /// Split every update's batch over `replicas` as well as the agent's
    /// own device (data parallelism): each share's losses are computed on
    /// its own thread, on a forked copy of the networks, and the gradients
    /// are summed on the agent's device, which applies them. Replicas are
    /// further GPUs, or the agent's own device again to use more CPU cores
    /// (`run.update_shards`: two shares on two cores cut a preset-S update
    /// from 6.8 s to 4.6 s).
    pub fn with_replicas(mut self, replicas: &[Device]) -> Self {
        self.replicas = replicas.iter().map(|d| d.clone().autodiff()).collect();
        self
    }

    /// One update of world model, actor and critic on a replayed batch.
    pub fn train_step(&mut self) -> Result<Vec<Scalar>> {
        let c = &self.config;
        let batch = self.replay.sample_for_update(
            c.replay.batch,
            c.replay.length,
            c.replay.context,
            &mut self.state.noise,
        );
        let terminals = batch.terminals();
        let devices: Vec<Device> = std::iter::once(self.device.clone())
            .chain(self.replicas.iter().cloned())
            .collect();
        let parts = if devices.len() > 1 {
            batch.split(devices.len())
        } else {
            vec![batch]
        };
        let mut metrics = Vec::new();
        let started = std::time::Instant::now();

        // World model: each share on its device (and, with several, its own
        // thread), gradients summed here.
        let scaling = LossScale::applies_on(&self.device);
        let update = ModelUpdate {
            model: &self.model,
            config: c,
            obs_kind: self.obs_kind,
            main: &self.device,
            loss_scale: scaling.then_some(self.state.loss_scale),
            priorities: self.replay.wants_priorities(),
        };
        let shares: Vec<ModelShare> = if parts.len() == 1 {
            let part = parts.into_iter().next().expect("one share");
            vec![update.share(part, &self.device, false, &mut self.state.noise)]
        } else {
            let noises: Vec<Noise> = parts.iter().map(|_| self.state.noise.fork()).collect();
            let jobs = parts.into_iter().zip(&devices).zip(noises).enumerate();
            concurrently(
                jobs.map(|(i, ((part, device), mut noise))| {
                    move || update.share(part, device, i > 0, &mut noise)
                })
                .collect(),
            )
        };
        let mut sum = GradientsAccumulator::<DreamerWorldModel>::new();
        let mut shards = Vec::with_capacity(shares.len());
        for share in shares {
            add_weighted(&mut metrics, share.metrics, share.weight);
            sum.accumulate(&self.model, share.grads);
            if let Some(losses) = &share.step_losses {
                self.replay.prioritize(&share.data.positions, losses);
            }
            if c.replay.context > 0 {
                // The next sequences after these steps start from them.
                self.replay.store_latents(
                    &share.data.positions,
                    &to_vec(share.posteriors.deter.clone()),
                    &to_vec(share.posteriors.stoch.clone()),
                );
            }
            shards.push((share.data, share.posteriors, share.continues));
        }
        // After the shares' metrics, which are summed by position.
        metrics.push(("replay/batch_terminals".into(), terminals));
        let mut grads = sum.grads();
        let clip = c.optimizer.global_clip(c.optimizer.model_clip);
        let lr = c.optimizer.lr(c.optimizer.model_lr, self.state.updates);
        let norm = clip_global_norm(&self.model, &mut grads, clip);
        let scale = &mut self.state.loss_scale;
        if scale.apply_step(scaling, norm.is_finite(), "model", &mut metrics) {
            metrics.push(("model/grad_norm".into(), norm as f64));
            self.model = self.model_optim.step(lr, self.model.clone(), grads);
        }

        let model_seconds = started.elapsed().as_secs_f64();
        let started = std::time::Instant::now();

        // Actor and critic in imagination, from every posterior state.
        // Copies whose parameters need no gradient: the world model is not
        // trained by these losses, and burn would otherwise keep growing
        // graphs on its parameters.
        let frozen: Vec<DreamerWorldModel> = copies_on(&self.model, &devices, &self.device)
            .into_iter()
            .map(DreamerWorldModel::no_grad)
            .collect();
        if shards.len() == 1 {
            let (data, posteriors, continues) = shards.pop().expect("one shard");
            metrics.extend(self.behaviour.update_with_replay(
                &frozen[0],
                posteriors,
                continues,
                Some(&data),
                &mut self.state.noise,
            ));
        } else {
            let shards = shards
                .iter()
                .zip(&frozen)
                .map(|((data, posteriors, continues), model)| Shard {
                    model,
                    starts: posteriors.clone(),
                    first_continues: continues.clone(),
                    replay: Some(data),
                })
                .collect();
            metrics.extend(self.behaviour.update_parallel(
                shards,
                &self.device,
                &mut self.state.noise,
            ));
        }
        // Where an update's time goes (the flex backend runs eagerly, so
        // wall time is compute time; on GPUs it includes waiting for readbacks).
        metrics.push(("perf/model_update_s".into(), model_seconds));
        metrics.push((
            "perf/behaviour_update_s".into(),
            started.elapsed().as_secs_f64(),
        ));
        self.state.updates += 1;
        check_finite(metrics, self.state.updates)
    }
}

/// `replay`, keeping latent states when sequences start from them
/// (`replay.context`, the 2025 design).
fn replay_for(config: &DreamerConfig, mut replay: SequenceReplay) -> SequenceReplay {
    if config.replay.context > 0 {
        let r = &config.rssm;
        replay.keep_latents(r.deter, r.stoch, r.classes);
    }
    if config.replay.online {
        replay.queue_online(config.replay.context + config.replay.length);
    }
    let r = &config.replay;
    replay.select_by(r.fracs, r.prio, r.recexp);
    replay
}

/// One share of a world-model update: its gradients (on the agent's
/// device), its loss metrics and what imagination starts from.
struct ModelShare {
    weight: f32,
    grads: GradientsParams,
    metrics: Vec<Scalar>,
    data: DeviceBatch,
    posteriors: RssmState,
    continues: Tensor<1>,
    /// Every step's scaled world-model loss `[T * B]`, when the replay
    /// prioritises by it.
    step_losses: Option<Vec<f32>>,
}

/// What every share of a world-model update reads: the model, its config,
/// how observations are fed and the device the gradients are summed on.
#[derive(Clone, Copy)]
struct ModelUpdate<'a> {
    model: &'a DreamerWorldModel,
    config: &'a DreamerConfig,
    obs_kind: ObsKind,
    main: &'a Device,
    /// The loss scale, in f16.
    loss_scale: Option<LossScale>,
    /// Read back every step's loss for the replay's priorities.
    priorities: bool,
}

impl ModelUpdate<'_> {
    /// Observe `part` on `device` and differentiate its world-model
    /// losses, weighted by its share of the batch. `own_copy` forks the
    /// model (same parameter ids, a fresh autodiff graph) so that shares on
    /// one device can run on separate threads without sharing a graph.
    fn share(
        &self,
        part: SequenceBatch,
        device: &Device,
        own_copy: bool,
        noise: &mut Noise,
    ) -> ModelShare {
        let (c, main) = (self.config, self.main);
        let weight = part.batch as f32 / c.replay.batch as f32;
        let replica = (own_copy || device != main).then(|| self.model.clone().fork(device));
        let model = replica.as_ref().unwrap_or(self.model);
        let data = DeviceBatch::new(part, self.obs_kind, device);
        let observed = model.observe_sequences(&data, c.rssm.free_nats, noise);
        let total = observed.losses.total(&c.loss_scales) * weight;
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
        let step_losses = self
            .priorities
            .then(|| to_vec(observed.step_losses.total(&c.loss_scales)));
        let grads = match &self.loss_scale {
            Some(scale) => {
                let backward = scale.scale_loss(total).backward();
                let mut grads = GradientsParams::from_grads(backward, model);
                scale.unscale(model, &mut grads);
                grads
            }
            None => GradientsParams::from_grads(total.backward(), model),
        };
        let grads = match &replica {
            Some(replica) => grads.to_device(main, replica),
            None => grads,
        };
        ModelShare {
            weight,
            grads,
            metrics,
            data,
            posteriors: observed.posteriors,
            continues: observed.continues,
            step_losses,
        }
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
        // Act with inference copies on the plain device: no graph is built
        // for steps that are never differentiated.
        let nets = Nets::inference(self);
        self.planner.set_explore(!greedy);
        nets.act(
            &mut self.planner,
            &mut self.acting[slot],
            &mut self.state.noise,
            observations,
            is_first,
        )
    }

    fn acting_policy(&self) -> Option<Box<dyn ActingPolicy>> {
        let c = &self.config;
        let (width, discrete) = (self.codec.width(), self.codec.is_discrete());
        let mut planner = AnyPlanner::new(&c.planner, width, discrete, c.behaviour.discount)
            .expect("the agent's own planner configuration");
        planner.set_explore(true);
        Some(Box::new(DreamerPolicy {
            nets: Nets::inference(self),
            planner,
            acting: None,
            noise: Noise::new(self.state.noise.clone().next_u64() ^ 0xac70_7a11),
        }))
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
        let length = r.length + r.context;
        let owed = updates_owed(
            env_steps,
            prefill,
            self.config.train_ratio,
            r.batch * r.length,
        );
        let mut last = Vec::new();
        while env_steps >= prefill && self.state.updates < owed && self.replay.can_sample(length) {
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
        let o = &self.config.optimizer;
        self.model_optim = load_optimizer(
            o.build(o.model_eps, &self.device),
            &dir.join("model_optim.bpk"),
        )?;
        self.behaviour.load(dir)?;
        self.state = load_json(&dir.join("agent_state.json"))?;
        if let Some(replay) = load_replay(dir)? {
            self.replay = replay_for(&self.config, replay);
        }
        self.acting = [None, None];
        Ok(())
    }
}

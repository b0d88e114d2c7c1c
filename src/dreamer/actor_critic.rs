//! DreamerV3's behaviour learning as a part of its own: an actor, a twohot
//! critic with its slow EMA copy, the return normaliser and their
//! optimisers, trained in imagination inside *any* [`WorldModel`].
//!
//! DreamerV3 trains it inside the RSSM after each world-model update;
//! MuZero trains it inside its own dynamics when it acts by policy
//! (`muzero.acting = "actor_critic"`); a user's model can do the same.
//! The losses are in [`super::behaviour`].

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::behaviour::{Imagination, behaviour_losses, imagine};
use super::config::{ActorGradient, BehaviourConfig, DreamerConfig, LossScales, OptimizerConfig};
use super::networks::{Actor, Critic};
use super::returns::{GatheredReturns, ReturnNormalizer, ReturnScaling, replay_returns};
use super::world_model::DeviceBatch;
use crate::Result;
use crate::core::{Dynamics, Noise, ValueModel, WorldModel};
use crate::logging::Scalar;
use crate::nn::ema::ema_update;
use crate::nn::grad::clip_global_norm;
use crate::nn::loss_scale::LossScale;
use crate::nn::tensor_util::to_vec;
use crate::train::checkpoint::{
    load_json, load_module, load_optimizer, save_json, save_module, save_optimizer,
};

/// Counters and the return scale, saved beside the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ActorCriticState {
    updates: u64,
    normalizer: ReturnNormalizer,
    /// The loss scale of the actor's and critic's shared backward pass
    /// (used in f16 only; older checkpoints start from the initial one).
    #[serde(default)]
    loss_scale: LossScale,
}

/// One device's share of a behaviour update: a world model (with
/// parameters that need no gradient), the posterior states to imagine from
/// `[N]`, their `1 - is_terminal` `[N]` and, for the critic loss on replay
/// states, the replayed sequences they came from; all on one device.
pub struct Shard<'a, M: WorldModel> {
    /// The world model on this device.
    pub model: &'a M,
    /// Imagination starts.
    pub starts: <M::Dynamics as Dynamics>::State,
    /// `1 - is_terminal` of each start.
    pub first_continues: Tensor<1>,
    /// The replayed sequences of the starts (time-major), if any.
    pub replay: Option<&'a DeviceBatch>,
}

/// The networks a shard differentiates: the agent's own, or copies forked
/// to the shard's device.
#[derive(Clone, Copy)]
struct Nets<'a> {
    actor: &'a Actor,
    critic: &'a Critic,
    slow_critic: &'a Critic,
}

/// A shard's gradients (on its device) and metrics.
struct ShardGrads {
    actor: GradientsParams,
    critic: GradientsParams,
    metrics: Vec<Scalar>,
}

/// Add `weight` times each of `new` to `sum` (same names in the same
/// order; an empty `sum` starts from zero).
pub(crate) fn add_weighted(sum: &mut Vec<Scalar>, new: Vec<Scalar>, weight: f32) {
    if sum.is_empty() {
        sum.extend(new.into_iter().map(|(name, v)| (name, v * weight as f64)));
    } else {
        for ((name, total), (new_name, v)) in sum.iter_mut().zip(new) {
            debug_assert_eq!(*name, new_name);
            *total += v * weight as f64;
        }
    }
}

/// `model` on each of `devices`: a copy on `main` (itself), forked to the
/// others, for shares of an update that each run on their own device.
pub(crate) fn copies_on<M: Module + Clone>(model: &M, devices: &[Device], main: &Device) -> Vec<M> {
    devices
        .iter()
        .map(|device| match device == main {
            true => model.clone(),
            false => model.clone().fork(device),
        })
        .collect()
}

/// Run `jobs` at the same time, one thread each, and return their results
/// in order: the shares of a data-parallel update. Each job runs in its own
/// rayon pool with an equal part of the global pool's threads, so that on a
/// CPU the matrix products of a share stay on its threads (with as many
/// shares as cores, each share's work runs on one core end to end; shared,
/// the element-wise work between products left the cores half idle).
/// A panicking job panics the caller.
pub(crate) fn concurrently<T: Send, F: FnOnce() -> T + Send>(jobs: Vec<F>) -> Vec<T> {
    let threads = (rayon::current_num_threads() / jobs.len().max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|job| {
                scope.spawn(move || {
                    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
                        Ok(pool) => pool.install(job),
                        Err(_) => job(),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e))
            })
            .collect()
    })
}

/// An actor and critic learned in imagination.
pub struct ActorCritic {
    /// The policy `[B, F] -> [B, A]`.
    pub actor: Actor,
    /// The value `[B, F] -> [B]`.
    pub critic: Critic,
    /// The critic's slow EMA copy, a regulariser of its targets.
    pub slow_critic: Critic,
    actor_optim: ModuleOptimizer,
    critic_optim: ModuleOptimizer,
    state: ActorCriticState,
    behaviour: BehaviourConfig,
    scales: LossScales,
    optimizer: OptimizerConfig,
    /// Continuous actions learn by backpropagating through the dynamics
    /// (`behaviour.actor_gradient = "auto"`).
    backprop: bool,
    /// The device computes in f16: losses are scaled ([`LossScale`]).
    loss_scaling: bool,
}

impl ActorCritic {
    /// A fresh actor and critic reading features of width `features`, for
    /// `actions` discrete actions or continuous dimensions, with DreamerV3's
    /// hyperparameters from `config` (`behaviour`, `heads`, `loss_scales`
    /// and the actor-critic entries of `optimizer`).
    pub fn new(
        features: usize,
        actions: usize,
        discrete: bool,
        config: &DreamerConfig,
        device: &Device,
    ) -> Self {
        let actor = Actor::new(features, actions, discrete, config, device);
        let critic = Critic::new(features, &config.heads, config.dense_style(), device);
        let b = &config.behaviour;
        let o = &config.optimizer;
        ActorCritic {
            slow_critic: critic.clone(),
            actor,
            critic,
            actor_optim: o.build(o.actor_critic_eps, device),
            critic_optim: o.build(o.actor_critic_eps, device),
            state: ActorCriticState {
                updates: 0,
                normalizer: ReturnNormalizer::new(
                    b.return_norm_rate,
                    b.return_norm_limit,
                    b.return_norm_low,
                    b.return_norm_high,
                ),
                loss_scale: LossScale::default(),
            },
            behaviour: b.clone(),
            scales: config.loss_scales.clone(),
            optimizer: o.clone(),
            backprop: !discrete && b.actor_gradient == ActorGradient::Auto,
            loss_scaling: LossScale::applies_on(device),
        }
    }

    /// One update: imagine `horizon` steps from `starts [N]` (detached
    /// states of `model`) and step the actor and critic. `first_continues
    /// [N]` is 1 where a start state is not terminal. Returns the metrics.
    ///
    /// Pass a copy of the model whose parameters need no gradient
    /// (`model.clone().no_grad()`, burn's `Module::no_grad`): these losses
    /// do not train it, and with parameters that require gradients but
    /// stay unchanged between updates, burn's autodiff graphs keep growing
    /// (a frozen model's 300 updates took 290 s instead of 4 s).
    pub fn update<M: WorldModel>(
        &mut self,
        model: &M,
        starts: <M::Dynamics as Dynamics>::State,
        first_continues: Tensor<1>,
        noise: &mut Noise,
    ) -> Vec<Scalar> {
        self.update_with_replay(model, starts, first_continues, None, noise)
    }

    /// [`Self::update`], plus the 2025 design's critic loss on replay
    /// states when `replay` holds the sequences the starts were filtered
    /// from (time-major, one start per replayed step) and
    /// `loss_scales.replay_critic` is positive: the critic regresses, on
    /// the replayed states, towards lambda-returns along the real
    /// sequence bootstrapped from each state's imagined return. The
    /// reference also lets this loss shape the world model's
    /// representation; here it trains the critic only.
    pub fn update_with_replay<M: WorldModel>(
        &mut self,
        model: &M,
        starts: <M::Dynamics as Dynamics>::State,
        first_continues: Tensor<1>,
        replay: Option<&DeviceBatch>,
        noise: &mut Noise,
    ) -> Vec<Scalar> {
        let mut normalizer = self.state.normalizer.clone();
        let nets = Nets {
            actor: &self.actor,
            critic: &self.critic,
            slow_critic: &self.slow_critic,
        };
        let shard = Shard {
            model,
            starts,
            first_continues,
            replay,
        };
        let grads = self.shard_grads(
            nets,
            shard,
            &mut ReturnScaling::Own(&mut normalizer),
            1.0,
            noise,
        );
        self.state.normalizer = normalizer;
        self.apply(grads.actor, grads.critic, grads.metrics)
    }

    /// A data-parallel update: each shard (its model, starts and replayed
    /// sequences on its device) imagines and differentiates on its own
    /// thread, on a copy of the actor and critic forked for it (the first
    /// shard on `main` uses the networks themselves), weighted by its share
    /// of the starts; the gradients are summed on `main` and applied once.
    /// The shards pool their returns for the normaliser's percentiles
    /// ([`GatheredReturns`]), as the reference's multi-device code gathers
    /// them, so every shard scales its advantages as one undivided batch
    /// would.
    pub fn update_parallel<M>(
        &mut self,
        shards: Vec<Shard<'_, M>>,
        main: &Device,
        noise: &mut Noise,
    ) -> Vec<Scalar>
    where
        M: WorldModel + Sync,
        <M::Dynamics as Dynamics>::State: Send,
    {
        let total: usize = shards.iter().map(|s| s.first_continues.dims()[0]).sum();
        let noises: Vec<Noise> = shards.iter().map(|_| noise.fork()).collect();
        let gathered = GatheredReturns::new(self.state.normalizer.clone(), shards.len());
        let this = &*self;
        let gathered_ref = &gathered;
        let results = concurrently(
            shards
                .into_iter()
                .zip(noises)
                .enumerate()
                .map(|(i, (shard, mut noise))| {
                    move || this.shard_on_main(shard, i > 0, main, total, gathered_ref, &mut noise)
                })
                .collect(),
        );
        let mut actor_sum = GradientsAccumulator::<Actor>::new();
        let mut critic_sum = GradientsAccumulator::<Critic>::new();
        let mut metrics: Vec<Scalar> = Vec::new();
        for (grads, weight) in results {
            actor_sum.accumulate(&self.actor, grads.actor);
            critic_sum.accumulate(&self.critic, grads.critic);
            add_weighted(&mut metrics, grads.metrics, weight);
        }
        self.state.normalizer = gathered.into_normalizer();
        self.apply(actor_sum.grads(), critic_sum.grads(), metrics)
    }

    /// One shard of [`Self::update_parallel`]: its gradients moved to
    /// `main`, and its weight. The
    /// networks are forked (same parameter ids, a fresh autodiff graph)
    /// when the shard is on another device or `own_copy` asks, which lets
    /// shards on one device run on separate threads.
    fn shard_on_main<M: WorldModel>(
        &self,
        shard: Shard<'_, M>,
        own_copy: bool,
        main: &Device,
        total: usize,
        gathered: &GatheredReturns,
        noise: &mut Noise,
    ) -> (ShardGrads, f32) {
        let device = shard.first_continues.device();
        let weight = shard.first_continues.dims()[0] as f32 / total as f32;
        let forked = (own_copy || device != *main).then(|| {
            (
                self.actor.clone().fork(&device),
                self.critic.clone().fork(&device),
                self.slow_critic.clone().fork(&device),
            )
        });
        let nets = match &forked {
            Some((actor, critic, slow_critic)) => Nets {
                actor,
                critic,
                slow_critic,
            },
            None => Nets {
                actor: &self.actor,
                critic: &self.critic,
                slow_critic: &self.slow_critic,
            },
        };
        let scaling = &mut ReturnScaling::Gathered(gathered);
        let mut grads = self.shard_grads(nets, shard, scaling, weight, noise);
        if let Some((actor, critic, _)) = &forked {
            grads.actor = grads.actor.to_device(main, actor);
            grads.critic = grads.critic.to_device(main, critic);
        }
        (grads, weight)
    }

    /// Imagine from one shard's starts and differentiate its losses,
    /// scaled by `weight`, with respect to `nets`.
    fn shard_grads<M: WorldModel>(
        &self,
        nets: Nets<'_>,
        shard: Shard<'_, M>,
        scaling: &mut ReturnScaling<'_>,
        weight: f32,
        noise: &mut Noise,
    ) -> ShardGrads {
        let Shard {
            model,
            starts,
            first_continues,
            replay,
        } = shard;
        let t0 = Instant::now();
        let imagined = imagine(
            model,
            nets.actor,
            starts,
            self.behaviour.horizon,
            self.backprop,
            noise,
        );
        let t_imagine = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let losses = behaviour_losses(
            model,
            nets.critic,
            nets.slow_critic,
            &imagined,
            first_continues,
            scaling,
            &self.behaviour,
            &self.scales,
            self.backprop,
        );
        let mut metrics = vec![
            (
                "loss/actor".to_string(),
                to_vec(losses.actor.clone().detach())[0] as f64,
            ),
            (
                "loss/critic".into(),
                to_vec(losses.critic.clone().detach())[0] as f64,
            ),
            ("actor/entropy".into(), losses.entropy as f64),
            ("actor/return_mean".into(), losses.return_mean as f64),
            ("actor/return_scale".into(), losses.return_scale as f64),
            ("imagine/reward".into(), losses.imagined_reward as f64),
            ("imagine/continue".into(), losses.imagined_continue as f64),
        ];
        let mut critic_loss = losses.critic;
        if let Some(replay) = replay.filter(|_| self.scales.replay_critic > 0.0) {
            let loss = self.replay_critic_loss(nets, &imagined, replay, losses.start_returns);
            metrics.push((
                "loss/replay_critic".into(),
                to_vec(loss.clone().detach())[0] as f64,
            ));
            critic_loss = critic_loss + loss * self.scales.replay_critic;
        }
        let t_losses = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let mut total = (losses.actor + critic_loss) * weight;
        if self.loss_scaling {
            total = self.state.loss_scale.scale_loss(total);
        }
        let mut grads = total.backward();
        let mut actor = GradientsParams::from_module(&mut grads, nets.actor);
        let mut critic = GradientsParams::from_module(&mut grads, nets.critic);
        if self.loss_scaling {
            self.state.loss_scale.unscale(nets.actor, &mut actor);
            self.state.loss_scale.unscale(nets.critic, &mut critic);
        }
        // Where the time goes (wall time; the flex backend runs eagerly).
        metrics.push(("perf/imagine_s".into(), t_imagine));
        metrics.push(("perf/behaviour_losses_s".into(), t_losses));
        metrics.push((
            "perf/behaviour_backward_s".into(),
            t0.elapsed().as_secs_f64(),
        ));
        ShardGrads {
            actor,
            critic,
            metrics,
        }
    }

    /// Clip and apply summed gradients; update the slow critic.
    fn apply(
        &mut self,
        mut actor_grads: GradientsParams,
        mut critic_grads: GradientsParams,
        mut metrics: Vec<Scalar>,
    ) -> Vec<Scalar> {
        let o = &self.optimizer;
        let clip = o.global_clip(o.actor_critic_clip);
        let actor_lr = o.lr(o.actor_lr, self.state.updates);
        let critic_lr = o.lr(o.critic_lr, self.state.updates);
        let actor_norm = clip_global_norm(&self.actor, &mut actor_grads, clip);
        let critic_norm = clip_global_norm(&self.critic, &mut critic_grads, clip);
        let finite = actor_norm.is_finite() && critic_norm.is_finite();
        let scale = &mut self.state.loss_scale;
        if scale.apply_step(self.loss_scaling, finite, "behaviour", &mut metrics) {
            metrics.push(("actor/grad_norm".into(), actor_norm as f64));
            metrics.push(("critic/grad_norm".into(), critic_norm as f64));
            self.actor = self
                .actor_optim
                .step(actor_lr, self.actor.clone(), actor_grads);
            self.critic = self
                .critic_optim
                .step(critic_lr, self.critic.clone(), critic_grads);
        }
        self.state.updates += 1;
        let every = self.behaviour.slow_critic_every as u64;
        if self.state.updates.is_multiple_of(every) {
            self.slow_critic = ema_update(
                self.slow_critic.clone(),
                &self.critic,
                self.behaviour.slow_critic_rate,
            );
        }
        metrics
    }

    /// The critic loss on the replayed states (unscaled).
    fn replay_critic_loss(
        &self,
        nets: Nets<'_>,
        imagined: &Imagination,
        replay: &DeviceBatch,
        start_returns: Tensor<1>,
    ) -> Tensor<1> {
        let (b, t) = (replay.batch, replay.length);
        assert_eq!(
            imagined.starts,
            b * t,
            "one imagination start per replayed step"
        );
        let by_sequence = |x: Tensor<1>| x.reshape([t, b]).swap_dims(0, 1); // [B, T]
        let is_first = by_sequence(replay.is_first.clone());
        let terminal = by_sequence(replay.is_terminal.clone());
        // A step is the last of its episode when it is terminal or the next
        // replayed step starts a new one (unknown for the final step).
        let next_first = Tensor::cat(
            vec![
                is_first.slice([0..b, 1..t]),
                Tensor::zeros([b, 1], &terminal.device()),
            ],
            1,
        );
        let last = (terminal.clone() + next_first).clamp_max(1.0);
        let targets = replay_returns(
            by_sequence(replay.rewards.clone()),
            terminal,
            last.clone(),
            by_sequence(start_returns),
            self.behaviour.discount,
            self.behaviour.lambda,
        ); // [B, T - 1]
        let rows = (t - 1) * b;
        let time_major = |x: Tensor<2>| x.swap_dims(0, 1).reshape([rows]);
        let width = imagined.features.dims()[1];
        let features = imagined
            .features
            .clone()
            .slice([0..rows, 0..width])
            .detach();
        let value = nets.critic.value(features.clone());
        let slow = nets.slow_critic.value(features).mean().detach();
        let weights = time_major(last.slice([0..b, 0..t - 1]).neg() + 1.0);
        let terms = value.loss(time_major(targets).detach()) * self.scales.critic
            + value.loss(slow) * self.scales.slow_critic;
        (terms * weights).mean()
    }

    /// Write weights, optimiser states and counters into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        save_module(&self.actor, &dir.join("actor.bpk"))?;
        save_module(&self.critic, &dir.join("critic.bpk"))?;
        save_module(&self.slow_critic, &dir.join("slow_critic.bpk"))?;
        save_optimizer(&self.actor_optim, &dir.join("actor_optim.bpk"))?;
        save_optimizer(&self.critic_optim, &dir.join("critic_optim.bpk"))?;
        save_json(&self.state, &dir.join("actor_critic.json"))
    }

    /// Restore what [`Self::save`] wrote.
    pub fn load(&mut self, dir: &Path) -> Result<()> {
        self.actor = load_module(self.actor.clone(), &dir.join("actor.bpk"))?;
        self.critic = load_module(self.critic.clone(), &dir.join("critic.bpk"))?;
        self.slow_critic = load_module(self.slow_critic.clone(), &dir.join("slow_critic.bpk"))?;
        let eps = self.optimizer.actor_critic_eps;
        let device = &self.actor.devices()[0];
        self.actor_optim = load_optimizer(
            self.optimizer.build(eps, device),
            &dir.join("actor_optim.bpk"),
        )?;
        self.critic_optim = load_optimizer(
            self.optimizer.build(eps, device),
            &dir.join("critic_optim.bpk"),
        )?;
        self.state = load_json(&dir.join("actor_critic.json"))?;
        Ok(())
    }
}

//! MuZero hyperparameters. Defaults are the paper's Atari values
//! (Schrittwieser et al. 2020, appendix) where they carry over; the
//! network sizes suit vector and MinAtar observations on a CPU. The
//! EfficientZero extras (Ye et al. 2021) are off by default.

use serde::{Deserialize, Serialize};

use crate::config::{Validate, Validator};
use crate::dreamer::ActorCriticSettings;
use crate::nn::norm::NormKind;
use crate::planners::SearchConfig;

/// All MuZero hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MuzeroConfig {
    /// Gradient updates per environment step (summed over copies).
    pub updates_per_step: f64,
    /// Representation, dynamics and prediction networks.
    pub network: NetworkConfig,
    /// The tree search that acts and makes policy targets.
    pub search: SearchConfig,
    /// Unrolled training.
    pub training: TrainingConfig,
    /// Prioritised trajectory replay.
    pub replay: ReplayConfig,
    /// Reanalyse: fresh targets for old data.
    pub reanalyze: ReanalyzeConfig,
    /// EfficientZero's additions.
    pub efficient_zero: EfficientZeroConfig,
    /// How the agent acts: `search` (MuZero) or `actor_critic` (DreamerV3's
    /// actor and critic, trained in imagination inside this model after
    /// every update; the search then only reanalyses, if asked to).
    pub acting: MuzeroActing,
    /// The actor-critic of `acting = "actor_critic"`.
    pub actor_critic: ActorCriticSettings,
}

/// How a MuZero agent chooses actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MuzeroActing {
    /// Tree search with the prediction network (MuZero).
    Search,
    /// An actor trained in imagination inside the MuZero model.
    ActorCritic,
}

/// Network sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Width of the hidden state.
    pub state: usize,
    /// Width of hidden layers.
    pub units: usize,
    /// Hidden layers of each MLP.
    pub layers: usize,
    /// Normalisation in the MLPs: `layer`, `rms` or `none`.
    pub norm: NormKind,
    /// Value and reward supports span `[-support, support]` in `h(x)` units
    /// (`2 * support + 1` bins; 300 gives the paper's 601).
    pub support: usize,
    /// Channels of the first convolution for image observations (doubling per stage).
    pub cnn_depth: usize,
    /// `mlp`: a flat state of width `state`, MLP dynamics (a CNN
    /// representation for images); `residual`: MuZero's residual conv
    /// towers for representation and dynamics on a spatial state of
    /// `res_channels` x H x W (image observations only).
    pub kind: NetworkKind,
    /// Residual blocks per tower (`residual`).
    pub res_blocks: usize,
    /// Channels of the spatial state (`residual`).
    pub res_channels: usize,
}

/// The shape of MuZero's representation and dynamics networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkKind {
    /// MLPs on a flat state.
    #[default]
    Mlp,
    /// Residual convolution towers on a spatial state.
    Residual,
}

/// Unrolled training on replayed positions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingConfig {
    /// Positions per batch.
    pub batch: usize,
    /// Steps `K` the dynamics are unrolled.
    pub unroll: usize,
    /// `n` of the n-step value targets.
    pub td_steps: usize,
    /// Discount per step.
    pub discount: f32,
    /// Adam learning rate.
    pub lr: f64,
    /// Decoupled weight decay (AdamW); the paper's L2 of 1e-4.
    pub weight_decay: f32,
    /// Scale of the value loss (0.25 in MuZero Reanalyze).
    pub value_loss_scale: f32,
    /// Global-norm gradient clip; 0 disables it.
    pub grad_clip: f32,
    /// Gradient scale at the start of each unroll step (0.5 in the paper).
    pub dynamics_grad_scale: f32,
    /// Copy the online network into the target network every this many updates.
    pub target_update_every: u64,
    /// Search temperature: `[environment steps, temperature]` pairs; the
    /// temperature of the last pair whose step count has been reached
    /// applies.
    pub temperature: Vec<(u64, f32)>,
}

/// Prioritised replay of whole trajectories.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayConfig {
    /// Environment steps kept.
    pub capacity: usize,
    /// Priority exponent `alpha` (0 = uniform).
    pub alpha: f32,
    /// Importance-sampling exponent `beta`.
    pub beta: f32,
    /// Smallest priority, so no position starves.
    pub min_priority: f32,
}

/// Reanalyse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReanalyzeConfig {
    /// Share of each batch whose policy targets are recomputed by a fresh
    /// search with the latest network (0 disables it).
    pub policy_ratio: f64,
    /// Compute bootstrap values with the target network (true, as MuZero
    /// Reanalyze) rather than the stored search values.
    pub target_values: bool,
    /// With `target_values`: take each bootstrap value from the root of a
    /// fresh search of the target network (the EfficientZero paper's
    /// off-policy correction; its code's `use_root_value`, which searches
    /// with root noise as acting does and is off in its released scripts)
    /// instead of its value head's prediction. One search per bootstrap
    /// observation per update.
    pub root_values: bool,
    /// Search the reanalysis (fresh policies, and root values with
    /// `root_values`) with the acting search's root noise (Dirichlet for
    /// pUCT, Gumbel for Gumbel search), as EfficientZero's reanalysis and
    /// LightZero's MuZero default do; `false` searches without it
    /// (LightZero's `reanalyze_noise = False`), for policy targets that
    /// reflect the network alone.
    pub root_noise: bool,
}

/// EfficientZero's additions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EfficientZeroConfig {
    /// Weight of the self-supervised consistency loss (2 in the paper; 0 disables it).
    pub consistency: f32,
    /// Width of the projection and prediction heads of the consistency loss.
    pub projection: usize,
    /// Predict value prefixes (the sum of rewards since the root, by an
    /// LSTM over the unrolled states) instead of per-step rewards.
    pub value_prefix: bool,
    /// Units of the value-prefix LSTM (512 in EfficientZero's Atari model).
    pub lstm_units: usize,
    /// Steps after which the value-prefix LSTM and its sum restart (5 in
    /// EfficientZero).
    pub prefix_horizon: usize,
    /// Shorten the n-step horizon for older data: by one step per
    /// `off_policy_ratio` times the run's planned updates of age in
    /// transitions, as EfficientZero's `auto_td_steps` does.
    pub off_policy_correction: bool,
    /// EfficientZero's `auto_td_steps_ratio` (0.3).
    pub off_policy_ratio: f64,
}

impl MuzeroConfig {
    /// A very small MuZero (state 16, one 32-unit layer, support 10, i.e.
    /// 21 bins) for tests, examples and smoke runs, not results; search
    /// and training keep their defaults.
    pub fn tiny() -> Self {
        let mut c = MuzeroConfig::default();
        c.network.state = 16;
        c.network.units = 32;
        c.network.layers = 1;
        c.network.support = 10;
        c
    }
}

impl Default for MuzeroConfig {
    fn default() -> Self {
        MuzeroConfig {
            updates_per_step: 0.25,
            network: NetworkConfig::default(),
            search: SearchConfig::default(),
            training: TrainingConfig::default(),
            replay: ReplayConfig::default(),
            reanalyze: ReanalyzeConfig::default(),
            efficient_zero: EfficientZeroConfig::default(),
            acting: MuzeroActing::Search,
            actor_critic: ActorCriticSettings::default(),
        }
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            state: 64,
            units: 128,
            layers: 2,
            norm: NormKind::Layer,
            support: 300,
            cnn_depth: 16,
            kind: NetworkKind::Mlp,
            res_blocks: 2,
            res_channels: 32,
        }
    }
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            batch: 256,
            unroll: 5,
            td_steps: 10,
            discount: 0.997,
            lr: 3e-3,
            weight_decay: 1e-4,
            value_loss_scale: 0.25,
            grad_clip: 5.0,
            dynamics_grad_scale: 0.5,
            target_update_every: 200,
            temperature: vec![(0, 1.0), (50_000, 0.5), (75_000, 0.25)],
        }
    }
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            capacity: 100_000,
            alpha: 1.0,
            beta: 1.0,
            min_priority: 1e-6,
        }
    }
}

impl Default for ReanalyzeConfig {
    fn default() -> Self {
        ReanalyzeConfig {
            policy_ratio: 0.0,
            target_values: true,
            root_values: false,
            root_noise: true,
        }
    }
}

impl Default for EfficientZeroConfig {
    fn default() -> Self {
        EfficientZeroConfig {
            consistency: 0.0,
            projection: 64,
            value_prefix: false,
            lstm_units: 128,
            prefix_horizon: 5,
            off_policy_correction: false,
            off_policy_ratio: 0.3,
        }
    }
}

impl TrainingConfig {
    /// The search temperature after `env_steps` steps.
    pub fn temperature_at(&self, env_steps: u64) -> f32 {
        self.temperature
            .iter()
            .rfind(|(from, _)| *from <= env_steps)
            .map_or(1.0, |(_, t)| *t)
    }
}

impl Validate for MuzeroConfig {
    fn validate(&self, v: &mut Validator) {
        v.positive("updates_per_step", self.updates_per_step);
        v.section("network", |v| {
            let n = &self.network;
            v.positive("state", n.state);
            v.positive("units", n.units);
            v.in_range("support", n.support, 1, 10_000);
            v.positive("cnn_depth", n.cnn_depth);
            v.in_range("res_blocks", n.res_blocks, 0, 64);
            v.positive("res_channels", n.res_channels);
        });
        v.section("search", |v| self.search.validate(v));
        v.section("actor_critic", |v| self.actor_critic.validate(v));
        v.section("training", |v| {
            let t = &self.training;
            v.positive("batch", t.batch);
            v.in_range("unroll", t.unroll, 1, 100);
            v.in_range("td_steps", t.td_steps, 1, 10_000);
            v.in_range("discount", t.discount, 0.0, 1.0);
            v.positive("lr", t.lr);
            v.in_range("weight_decay", t.weight_decay, 0.0, 1.0);
            v.positive("value_loss_scale", t.value_loss_scale);
            v.in_range("grad_clip", t.grad_clip, 0.0, 1e6);
            v.in_range("dynamics_grad_scale", t.dynamics_grad_scale, 0.0, 1.0);
            v.positive("target_update_every", t.target_update_every);
            v.check(
                t.temperature.iter().all(|(_, temp)| *temp >= 0.0),
                "temperature",
                "temperatures must not be negative",
            );
            v.check(
                t.temperature.windows(2).all(|w| w[0].0 < w[1].0),
                "temperature",
                "step counts must increase",
            );
        });
        v.section("replay", |v| {
            let r = &self.replay;
            v.positive("capacity", r.capacity);
            v.in_range("alpha", r.alpha, 0.0, 10.0);
            v.in_range("beta", r.beta, 0.0, 1.0);
            v.positive("min_priority", r.min_priority);
        });
        v.section("reanalyze", |v| {
            v.in_range("policy_ratio", self.reanalyze.policy_ratio, 0.0, 1.0);
        });
        v.section("efficient_zero", |v| {
            v.in_range("consistency", self.efficient_zero.consistency, 0.0, 100.0);
            v.positive("projection", self.efficient_zero.projection);
            v.positive("lstm_units", self.efficient_zero.lstm_units);
            v.positive("prefix_horizon", self.efficient_zero.prefix_horizon);
            v.in_range(
                "off_policy_ratio",
                self.efficient_zero.off_policy_ratio,
                1e-6,
                100.0,
            );
        });
    }
}

//! DreamerV3 hyperparameters. Defaults are the 2023 paper's (Hafner et al.,
//! arXiv 2301.04104 v1) with the S model size; the 2025 design's changes
//! are options (`norm = "rms"`, `core = "block_gru"`, `classes = 64`,
//! `loss_scales.dynamics = 1.0`, `optimizer.kind = "laprop"`,
//! `loss_scales.replay_critic = 0.3`). Size presets live in
//! `experiments/presets/`.

use serde::{Deserialize, Serialize};

use crate::config::{Validate, Validator};
use crate::nn::mlp::DenseStyle;
use crate::nn::norm::NormKind;
use crate::planners::PlannerConfig;
use crate::replay::{PriorityConfig, ReplayFractions};

/// All DreamerV3 hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DreamerConfig {
    /// Replayed steps per environment step (batch x length per update / env steps per update).
    pub train_ratio: f64,
    /// Normalisation in every block: `layer` (2023) or `rms` (2025).
    pub norm: NormKind,
    /// Linear layers carry a bias before their norm, as the 2025 code's
    /// do (its RMSNorm does not shift); `false` is the 2023 code's rule
    /// (a bias only where no norm follows).
    pub dense_bias: bool,
    /// The recurrent state-space model.
    pub rssm: RssmConfig,
    /// Encoder and decoder sizes.
    pub encoder: EncoderConfig,
    /// Reward, continue, actor and critic head sizes.
    pub heads: HeadsConfig,
    /// Scale of each loss term.
    pub loss_scales: LossScales,
    /// Behaviour learning in imagination.
    pub behaviour: BehaviourConfig,
    /// Optimisers.
    pub optimizer: OptimizerConfig,
    /// Sequence replay.
    pub replay: ReplayConfig,
    /// How the agent acts: by the actor (`policy`, DreamerV3's way) or by
    /// planning in the world model with the actor as prior and the critic
    /// as value (`puct`, `gumbel`, `cem`, `mppi`).
    pub planner: PlannerConfig,
}

/// DreamerV3's actor-critic alone, for training it inside another world
/// model (MuZero's `muzero.actor_critic`). Defaults are DreamerV3's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActorCriticSettings {
    /// Imagination horizon, returns, entropy and the slow critic.
    pub behaviour: BehaviourConfig,
    /// Sizes of the actor and critic MLPs.
    pub heads: HeadsConfig,
    /// Normalisation in the MLPs: `layer` or `rms`.
    pub norm: NormKind,
    /// Learning rate of actor and critic.
    pub lr: f64,
    /// The critic's own learning rate, where it differs from `lr`
    /// (unset: `lr`, as in STORM's one optimiser).
    pub critic_lr: Option<f64>,
    /// Adam epsilon.
    pub eps: f32,
    /// Global-norm gradient clip.
    pub clip: f32,
}

impl Default for ActorCriticSettings {
    fn default() -> Self {
        let dreamer = DreamerConfig::default();
        ActorCriticSettings {
            behaviour: dreamer.behaviour,
            heads: dreamer.heads,
            norm: dreamer.norm,
            lr: dreamer.optimizer.actor_lr,
            critic_lr: None,
            eps: dreamer.optimizer.actor_critic_eps,
            clip: dreamer.optimizer.actor_critic_clip,
        }
    }
}

impl ActorCriticSettings {
    /// A DreamerV3 config carrying these settings (what
    /// [`super::ActorCritic::new`] reads).
    pub fn dreamer(&self) -> DreamerConfig {
        let defaults = DreamerConfig::default();
        DreamerConfig {
            behaviour: self.behaviour.clone(),
            heads: self.heads.clone(),
            norm: self.norm,
            optimizer: OptimizerConfig {
                actor_lr: self.lr,
                critic_lr: self.critic_lr.unwrap_or(self.lr),
                actor_critic_eps: self.eps,
                actor_critic_clip: self.clip,
                ..defaults.optimizer
            },
            ..defaults
        }
    }
}

impl Validate for ActorCriticSettings {
    fn validate(&self, v: &mut Validator) {
        // The behaviour and heads checks are DreamerV3's, under the same keys.
        let mut inner = Validator::default();
        self.dreamer().validate(&mut inner);
        v.absorb(inner);
        v.positive("lr", self.lr);
        if let Some(critic_lr) = self.critic_lr {
            v.positive("critic_lr", critic_lr);
        }
        v.positive("eps", self.eps);
        v.positive("clip", self.clip);
    }
}

/// The RSSM: a deterministic recurrent core and categorical stochastic latents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RssmConfig {
    /// Width of the deterministic state.
    pub deter: usize,
    /// Width of the hidden layers around the core.
    pub hidden: usize,
    /// Number of categorical latents.
    pub stoch: usize,
    /// Classes per categorical latent (32 in 2023, 64 in 2025).
    pub classes: usize,
    /// Uniform mixture in the latent categoricals.
    pub unimix: f32,
    /// Recurrent core: `gru` (2023, LayerNorm GRU) or `block_gru` (2025).
    pub core: CoreKind,
    /// Blocks of the block GRU.
    pub blocks: usize,
    /// Dense blocks between `h` and the prior's logits (the reference's
    /// `imglayers`: 1 in 2023, 2 in 2025).
    pub prior_layers: usize,
    /// Free nats below which each KL term is not minimised.
    pub free_nats: f32,
    /// Actions enter the RSSM scaled into `[-action_clip, action_clip]`
    /// with a gradient-free factor (the reference's `action_clip`, 1 in
    /// 2023 and 2025): imagined and acted actions beyond the action
    /// space's bounds then reach the model as the clipped actions it was
    /// trained on. 0 turns it off.
    pub action_clip: f32,
    /// The state every sequence starts from and every episode start resets
    /// to: `zeros` (the 2025 design) or `learned` (the 2023 reference's
    /// `initial: learned`: `h = tanh(w)` for a trained `w`, `z` the prior's
    /// mode there).
    pub initial: InitialState,
}

/// The RSSM's initial state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialState {
    /// Zeros.
    Zeros,
    /// Learned (2023).
    Learned,
}

/// The RSSM's recurrent core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoreKind {
    /// Normalised GRU (2023).
    Gru,
    /// Block-diagonal GRU (2025).
    BlockGru,
}

/// Observation encoder and decoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderConfig {
    /// Hidden layers of the vector encoder and decoder.
    pub mlp_layers: usize,
    /// Units of the vector encoder and decoder.
    pub mlp_units: usize,
    /// Base channel depth of the image encoder and decoder.
    pub cnn_depth: usize,
    /// The image encoder and decoder's design: `strided` (2023: 4x4
    /// stride-2 convolutions doubling the depth down to `min_resolution`)
    /// or `pooled` (2025: `cnn_kernel` convolutions with 2x2 max pooling,
    /// `cnn_depth * m` channels for each `m` in `cnn_mults`).
    pub cnn: CnnKind,
    /// Stop downsampling images at this resolution (`strided`).
    pub min_resolution: usize,
    /// Channel multipliers of the stages (`pooled`): one halving each.
    pub cnn_mults: Vec<usize>,
    /// Convolution kernel size (`pooled`; odd).
    pub cnn_kernel: usize,
    /// Blocks of the decoder's projection of the deterministic state into
    /// its first map (`pooled`; the reference's `bspace`; 0: one dense
    /// layer of all features).
    pub cnn_decoder_blocks: usize,
}

/// The design of the image encoder and decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CnnKind {
    /// 4x4 stride-2 convolutions (2023).
    Strided,
    /// Same-padded convolutions with max pooling and nearest upsampling (2025).
    Pooled,
}

/// Head sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeadsConfig {
    /// Hidden layers of the reward, continue, actor and critic MLPs.
    pub layers: usize,
    /// Units of those MLPs.
    pub units: usize,
    /// Twohot bins of the reward and critic heads (evenly spaced in
    /// [-20, 20] in symlog space).
    pub bins: usize,
    /// How those heads split targets between bins and read their mean:
    /// `symlog`, in symlog space (2023), or `symexp`, in real units
    /// (the 2025 code's `symexp_twohot`).
    pub twohot: TwohotKind,
    /// Hidden layers of the reward head, where not `layers` (2025: 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reward_layers: Option<usize>,
    /// Hidden layers of the continue head, where not `layers` (2025: 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continue_layers: Option<usize>,
    /// Hidden layers of the actor, where not `layers` (2025: 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_layers: Option<usize>,
    /// Hidden layers of the critic, where not `layers` (2025: 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critic_layers: Option<usize>,
    /// Scale of the actor's initial output weights (the reference's
    /// policy `outscale`: 1 in 2023, 0.01 in 2025, which starts the policy
    /// close to uniform).
    pub actor_outscale: f32,
}

/// How the reward and critic heads read their twohot bins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TwohotKind {
    /// Split and average in symlog space (2023).
    Symlog,
    /// Split and average in real units (2025).
    Symexp,
}

/// The heads whose depth can be set apart from the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadRole {
    /// The reward head.
    Reward,
    /// The continue head.
    Continue,
    /// The actor.
    Actor,
    /// The critic.
    Critic,
}

impl HeadsConfig {
    /// Hidden layers of `role`'s MLP: its own count where set, else `layers`.
    pub fn layers_of(&self, role: HeadRole) -> usize {
        let own = match role {
            HeadRole::Reward => self.reward_layers,
            HeadRole::Continue => self.continue_layers,
            HeadRole::Actor => self.actor_layers,
            HeadRole::Critic => self.critic_layers,
        };
        own.unwrap_or(self.layers)
    }
}

/// Scale of each loss term; the names match the logged `loss/<name>` metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossScales {
    /// Observation reconstruction.
    pub decoder: f32,
    /// Reward prediction.
    pub reward: f32,
    /// Continue prediction.
    pub continuation: f32,
    /// KL(sg(post) || prior): 0.5 in 2023, 1.0 in 2025.
    pub dynamics: f32,
    /// KL(post || sg(prior)).
    pub representation: f32,
    /// Actor loss.
    pub actor: f32,
    /// Critic loss on imagined trajectories.
    pub critic: f32,
    /// Critic loss on replayed states (2025: 0.3; 0 = off).
    pub replay_critic: f32,
    /// Regulariser pulling the critic towards its slow EMA copy, relative
    /// to the critic's own loss (the reference's `slowreg`; `critic`
    /// scales both).
    pub slow_critic: f32,
}

/// Imagination, returns and the actor's objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BehaviourConfig {
    /// Imagination horizon.
    pub horizon: usize,
    /// Discount (0.997 = horizon 333).
    pub discount: f32,
    /// Lambda of the lambda-returns.
    pub lambda: f32,
    /// Entropy bonus of the actor.
    pub entropy: f32,
    /// Uniform mixture in the discrete policy.
    pub unimix: f32,
    /// Smallest standard deviation of the continuous policy.
    pub min_std: f32,
    /// Largest standard deviation of the continuous policy.
    pub max_std: f32,
    /// EMA rate of the return percentile scale.
    pub return_norm_rate: f32,
    /// Lower bound of the return scale (advantages are divided by max(limit, scale)).
    pub return_norm_limit: f32,
    /// Lower percentile of the return scale.
    pub return_norm_low: f32,
    /// Upper percentile of the return scale.
    pub return_norm_high: f32,
    /// EMA rate of the slow critic.
    pub slow_critic_rate: f32,
    /// Update the slow critic every this many updates.
    pub slow_critic_every: usize,
    /// What the returns and loss weights take as the chance that an
    /// imagined episode goes on: `mode`, the continue head's 0 or 1 (2023
    /// reference), or `probability`, its predicted probability (2025
    /// reference).
    pub continuation: ContinuationEstimate,
    /// How the actor's gradient is estimated: `auto` (the 2023 code:
    /// REINFORCE for discrete actions, backpropagation through the
    /// imagined dynamics for continuous ones) or `reinforce` for every
    /// action space (the 2025 code's `imag_loss`).
    pub actor_gradient: ActorGradient,
}

/// The actor's gradient estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorGradient {
    /// REINFORCE for discrete actions, backpropagation for continuous (2023).
    Auto,
    /// REINFORCE for every action space (2025).
    Reinforce,
}

/// How imagination reads the continue head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContinuationEstimate {
    /// 1 where the predicted probability is above one half, else 0 (2023).
    Mode,
    /// The predicted probability (2025).
    Probability,
}

/// Sequence replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayConfig {
    /// Steps kept before the oldest are dropped.
    pub capacity: usize,
    /// Sequences per update.
    pub batch: usize,
    /// Steps per sequence.
    pub length: usize,
    /// Steps sampled before each sequence whose stored latent state starts
    /// it (the 2025 code's `replay_context`, 1 there): the replay keeps the
    /// posterior each update computes at every step it replays. 0, the 2023
    /// design, starts every sequence from the initial state.
    pub context: usize,
    /// Train on every new window of `context + length` steps once, as soon
    /// as it is complete, before filling the batch uniformly (the 2025
    /// code's `replay.online`; `false` is the 2023 design's uniform replay).
    pub online: bool,
    /// What share of each batch (after the online queue's windows) each
    /// selector draws: `uniform`, `priority` (by the world model's loss at
    /// the windows' steps) and `recency` (the 2025 code's `replay.fracs`;
    /// its default, like the 2023 design, is uniform alone).
    pub fracs: ReplayFractions,
    /// The priority selector's settings (the 2025 code's `replay.prio`).
    pub prio: PriorityConfig,
    /// The recency selector's exponent: `P(age) ∝ (1 + age)^-recexp` (the
    /// 2025 code's `replay.recexp`).
    pub recexp: f64,
}

impl DreamerConfig {
    /// How the dense blocks are built: `norm`, and a bias per `dense_bias`.
    pub fn dense_style(&self) -> DenseStyle {
        DenseStyle {
            norm: self.norm,
            bias: self.dense_bias || self.norm == NormKind::None,
        }
    }

    /// A very small DreamerV3 (deter 64, 4 x 4 latents, one 64-unit layer
    /// per MLP, batch 8 x 16, horizon 8, rates 1e-3) that learns toy tasks
    /// in seconds on a CPU: for tests, examples and smoke runs, not results.
    pub fn tiny() -> Self {
        let mut c = DreamerConfig::default();
        c.rssm.deter = 64;
        c.rssm.hidden = 64;
        c.rssm.stoch = 4;
        c.rssm.classes = 4;
        c.encoder.mlp_layers = 1;
        c.encoder.mlp_units = 64;
        c.heads.layers = 1;
        c.heads.units = 64;
        c.replay.batch = 8;
        c.replay.length = 16;
        c.behaviour.horizon = 8;
        c.optimizer.model_lr = 1e-3;
        c.optimizer.actor_lr = 1e-3;
        c.optimizer.critic_lr = 1e-3;
        c
    }
}

impl Default for DreamerConfig {
    fn default() -> Self {
        DreamerConfig {
            train_ratio: 512.0,
            norm: NormKind::Layer,
            dense_bias: false,
            rssm: RssmConfig::default(),
            encoder: EncoderConfig::default(),
            heads: HeadsConfig::default(),
            loss_scales: LossScales::default(),
            behaviour: BehaviourConfig::default(),
            optimizer: OptimizerConfig::default(),
            replay: ReplayConfig::default(),
            planner: PlannerConfig::default(),
        }
    }
}

impl Default for RssmConfig {
    fn default() -> Self {
        RssmConfig {
            deter: 512,
            hidden: 512,
            stoch: 32,
            classes: 32,
            unimix: 0.01,
            core: CoreKind::Gru,
            blocks: 8,
            prior_layers: 1,
            free_nats: 1.0,
            action_clip: 1.0,
            initial: InitialState::Zeros,
        }
    }
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            mlp_layers: 2,
            mlp_units: 512,
            cnn_depth: 32,
            cnn: CnnKind::Strided,
            min_resolution: 4,
            cnn_mults: vec![2, 3, 4, 4],
            cnn_kernel: 5,
            cnn_decoder_blocks: 8,
        }
    }
}

impl Default for HeadsConfig {
    fn default() -> Self {
        HeadsConfig {
            layers: 2,
            units: 512,
            bins: 255,
            twohot: TwohotKind::Symlog,
            reward_layers: None,
            continue_layers: None,
            actor_layers: None,
            critic_layers: None,
            actor_outscale: 1.0,
        }
    }
}

impl Default for LossScales {
    fn default() -> Self {
        LossScales {
            decoder: 1.0,
            reward: 1.0,
            continuation: 1.0,
            dynamics: 0.5,
            representation: 0.1,
            actor: 1.0,
            critic: 1.0,
            replay_critic: 0.0,
            slow_critic: 1.0,
        }
    }
}

impl Default for BehaviourConfig {
    fn default() -> Self {
        BehaviourConfig {
            horizon: 15,
            discount: 0.997,
            lambda: 0.95,
            entropy: 3e-4,
            unimix: 0.01,
            min_std: 0.1,
            max_std: 1.0,
            return_norm_rate: 0.01,
            return_norm_limit: 1.0,
            return_norm_low: 5.0,
            return_norm_high: 95.0,
            slow_critic_rate: 0.02,
            slow_critic_every: 1,
            continuation: ContinuationEstimate::Mode,
            actor_gradient: ActorGradient::Auto,
        }
    }
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            capacity: 1_000_000,
            batch: 16,
            length: 64,
            context: 0,
            online: false,
            fracs: ReplayFractions::default(),
            prio: PriorityConfig::default(),
            recexp: 1.0,
        }
    }
}

mod optimizer;
mod validation;

pub use optimizer::{OptimizerConfig, OptimizerKind};

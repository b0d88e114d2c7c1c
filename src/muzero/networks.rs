//! MuZero's three functions as burn modules, seen through the core traits:
//! representation `h(o) -> s` is an [`Encoder`], dynamics `g(s, a) -> s'`
//! a [`Dynamics`] with a [`RewardModel`] on the new state, and prediction
//! `f(s) -> (p, v)` a [`PolicyModel`] and [`ValueModel`].
//!
//! Hidden states are min-max scaled to [0, 1] per sample after the
//! representation and after every dynamics step (MuZero appendix G), which
//! keeps them in the same range however far the model is unrolled.
//!
//! Two trunks (`network.kind`): `mlp`, a flat state with MLP dynamics, the
//! representation an MLP over symlog vectors or a CNN with stride-2 stages
//! for images; and `residual`, MuZero's Atari design for image
//! observations, residual conv towers for representation and dynamics on a
//! spatial state `[C, H, W]` at the observation's resolution (flattened to
//! `[B, C * H * W]` between steps, so everything downstream sees a flat
//! state), the action given to the dynamics as one constant plane per
//! action. The reward, value and policy heads are MLPs on the flat state
//! in both.
//!
//! With EfficientZero's value prefix (`efficient_zero.value_prefix`) the
//! reward head is replaced by an LSTM over the hidden states of an unroll
//! whose output predicts the sum of rewards since the LSTM was last reset
//! (at the root and every `prefix_horizon` steps). A prefix is easier to
//! learn than the step at which a reward arrives, which is ambiguous from a
//! predicted state. The LSTM's state travels in [`MuzeroState`], so the tree
//! search, the sampling planners and behaviour learning all get each
//! step's reward, the difference of consecutive prefixes, from
//! [`WorldModel::transition_reward`] without knowing about prefixes.

use burn::module::Module;
use burn::nn::{Linear, LstmState};
use burn::tensor::{Device, Int, Tensor};

use super::config::{NetworkConfig, NetworkKind};
pub use super::value_prefix::{PrefixCarry, PrefixNet};
use crate::core::{
    Dynamics, Encoder, LatentState, Noise, ObsBatch, ObsKind, Observed, PolicyDistribution,
    PolicyModel, RewardModel, ValueModel, WorldModel,
};
use crate::dreamer::EncoderConfig;
use crate::dreamer::networks::ObsEncoder;
use crate::nn::dist::{BinSpace, BinnedScalar, OneHotCategorical};
use crate::nn::mlp::{Mlp, linear, zero_linear};
use crate::nn::resnet::ResTower;

/// A batch of MuZero hidden states `[B, S]`, each scaled to [0, 1], with
/// the value-prefix LSTM's carry when the model predicts prefixes.
#[derive(Debug, Clone)]
pub struct MuzeroState {
    /// The hidden states `[B, S]`: the features every head reads.
    pub hidden: Tensor<2>,
    /// What a value-prefix model carries from step to step.
    pub prefix: Option<PrefixCarry>,
}

impl MuzeroState {
    /// Hidden states with no prefix carry (a model without value prefix).
    pub fn new(hidden: Tensor<2>) -> Self {
        MuzeroState {
            hidden,
            prefix: None,
        }
    }
}

impl LatentState for MuzeroState {
    fn features(&self) -> Tensor<2> {
        self.hidden.clone()
    }

    fn batch(&self) -> usize {
        self.hidden.dims()[0]
    }

    fn select(&self, indices: Tensor<1, Int>) -> Self {
        let carry = self.prefix.as_ref().map(|c| {
            c.map(
                |x| x.select(0, indices.clone()),
                |x| x.select(0, indices.clone()),
            )
        });
        MuzeroState {
            hidden: self.hidden.clone().select(0, indices.clone()),
            prefix: carry,
        }
    }

    fn cat(states: Vec<Self>) -> Self {
        let carries: Option<Vec<PrefixCarry>> = states.iter().map(|s| s.prefix.clone()).collect();
        let prefix = carries.map(|carries| {
            let twos =
                |f: fn(&PrefixCarry) -> Tensor<2>| Tensor::cat(carries.iter().map(f).collect(), 0);
            let ones =
                |f: fn(&PrefixCarry) -> Tensor<1>| Tensor::cat(carries.iter().map(f).collect(), 0);
            PrefixCarry {
                lstm: LstmState::new(
                    twos(|c| c.lstm.cell.clone()),
                    twos(|c| c.lstm.hidden.clone()),
                ),
                prefix: ones(|c| c.prefix.clone()),
                base: ones(|c| c.base.clone()),
                since_reset: ones(|c| c.since_reset.clone()),
            }
        });
        MuzeroState {
            hidden: Tensor::cat(states.into_iter().map(|s| s.hidden).collect(), 0),
            prefix,
        }
    }

    fn detach(self) -> Self {
        MuzeroState {
            prefix: self.prefix.map(|c| c.map(|x| x.detach(), |x| x.detach())),
            hidden: self.hidden.detach(),
        }
    }
}

/// Scale each row of `x [B, S]` to [0, 1] by its own minimum and maximum.
pub fn min_max_scale(x: Tensor<2>) -> Tensor<2> {
    let low = x.clone().min_dim(1);
    let high = x.clone().max_dim(1);
    let range = (high - low.clone()).clamp_min(1e-5);
    (x - low) / range
}

/// An MLP trunk and a linear output layer.
#[derive(Module, Debug)]
pub struct MlpHead {
    mlp: Mlp,
    out: Linear,
}

impl MlpHead {
    /// `input` in, `outputs` out; `zero_init` starts the output at zero.
    pub fn new(
        input: usize,
        outputs: usize,
        config: &NetworkConfig,
        zero_init: bool,
        device: &Device,
    ) -> Self {
        let mlp = Mlp::new(input, config.units, config.layers, config.norm, device);
        let width = mlp.output_width();
        let out = if zero_init {
            zero_linear(width, outputs, device)
        } else {
            linear(width, outputs, true, device)
        };
        MlpHead { mlp, out }
    }

    /// # Shapes
    /// `[B, input]` -> `[B, outputs]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.out.forward(self.mlp.forward(x))
    }
}

/// Representation and dynamics over a flat state.
#[derive(Module, Debug)]
pub struct MlpTrunk {
    encoder: ObsEncoder,
    to_state: Linear,
    dynamics: MlpHead,
}

/// Representation and dynamics as residual towers over a spatial state.
#[derive(Module, Debug)]
pub struct ResidualTrunk {
    represent: ResTower,
    dynamics: ResTower,
    channels: usize,
    height: usize,
    width: usize,
}

/// The representation and dynamics networks, by `network.kind`.
// One trunk per network, never stored in bulk: the size difference of the
// variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Trunk {
    /// MLP dynamics on a flat state.
    Mlp(MlpTrunk),
    /// Residual conv towers on a spatial state.
    Residual(ResidualTrunk),
}

/// How a model predicts rewards.
// One per network, never stored in bulk: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum RewardPredictor {
    /// A head on each new state: that step's reward.
    Step(MlpHead),
    /// EfficientZero's value prefix: the reward sum since the last reset.
    Prefix(PrefixNet),
}

/// The representation, dynamics and prediction networks.
#[derive(Module, Debug)]
pub struct MuzeroNet {
    trunk: Trunk,
    reward: RewardPredictor,
    value: MlpHead,
    policy: MlpHead,
    actions: usize,
    state_width: usize,
    support: usize,
}

impl MuzeroNet {
    /// Networks for observations of `kind` and `actions` discrete actions.
    /// The `residual` trunk needs image observations; for vector ones it
    /// falls back to `mlp` (the agent refuses that combination with an error
    /// first, see [`MuzeroNet::supports`]).
    pub fn new(config: &NetworkConfig, kind: ObsKind, actions: usize, device: &Device) -> Self {
        let (trunk, s) = match (config.kind, kind) {
            (
                NetworkKind::Residual,
                ObsKind::Image {
                    shape: [h, w, c], ..
                },
            ) => {
                let ch = config.res_channels;
                let tower =
                    |inputs| ResTower::new(inputs, ch, config.res_blocks, config.norm, device);
                let trunk = ResidualTrunk {
                    represent: tower(c),
                    dynamics: tower(ch + actions),
                    channels: ch,
                    height: h,
                    width: w,
                };
                (Trunk::Residual(trunk), ch * h * w)
            }
            _ => {
                let encoder_config = EncoderConfig {
                    mlp_layers: config.layers,
                    mlp_units: config.units,
                    cnn_depth: config.cnn_depth,
                    min_resolution: 4,
                    ..EncoderConfig::default()
                };
                let encoder = ObsEncoder::new(kind, &encoder_config, config.norm, device);
                let s = config.state;
                let trunk = MlpTrunk {
                    to_state: linear(encoder.embed_width(), s, true, device),
                    encoder,
                    dynamics: MlpHead::new(s + actions, s, config, false, device),
                };
                (Trunk::Mlp(trunk), s)
            }
        };
        let bins = 2 * config.support + 1;
        MuzeroNet {
            trunk,
            reward: RewardPredictor::Step(MlpHead::new(s, bins, config, true, device)),
            value: MlpHead::new(s, bins, config, true, device),
            policy: MlpHead::new(s, actions, config, true, device),
            actions,
            state_width: s,
            support: config.support,
        }
    }

    /// The same networks predicting value prefixes instead of per-step
    /// rewards: the reward head is replaced by an LSTM of `units` reset
    /// every `horizon` steps (EfficientZero: 512 units for Atari, 5 steps).
    pub fn with_value_prefix(
        mut self,
        units: usize,
        horizon: usize,
        config: &NetworkConfig,
        device: &Device,
    ) -> Self {
        let bins = 2 * self.support + 1;
        self.reward = RewardPredictor::Prefix(PrefixNet::new(
            self.state_width,
            units,
            horizon,
            bins,
            config,
            device,
        ));
        self
    }

    /// Whether the model predicts value prefixes.
    pub fn predicts_value_prefix(&self) -> bool {
        self.prefix_net().is_some()
    }

    fn prefix_net(&self) -> Option<&PrefixNet> {
        match &self.reward {
            RewardPredictor::Prefix(net) => Some(net),
            RewardPredictor::Step(_) => None,
        }
    }

    /// The prefix LSTM's reset interval, if the model predicts value prefixes.
    pub fn prefix_horizon(&self) -> Option<usize> {
        self.prefix_net().map(|p| p.horizon())
    }

    /// States from hidden vectors `[B, S]` at the root of an unroll or a
    /// search: with a fresh prefix carry when the model needs one.
    pub fn root_state(&self, hidden: Tensor<2>) -> MuzeroState {
        let prefix = self
            .prefix_net()
            .map(|p| PrefixCarry::root(hidden.dims()[0], p.units(), &hidden.device()));
        MuzeroState { hidden, prefix }
    }

    /// Whether `config` can be built for observations of `kind`: the
    /// residual trunk needs images.
    pub fn supports(config: &NetworkConfig, kind: ObsKind) -> bool {
        config.kind == NetworkKind::Mlp || matches!(kind, ObsKind::Image { .. })
    }

    /// The support of the value and reward predictions.
    pub fn bin_space(&self) -> BinSpace {
        BinSpace::muzero(self.support)
    }

    /// The number of actions.
    pub fn actions(&self) -> usize {
        self.actions
    }

    /// Representation: observations to hidden states.
    pub fn represent(&self, obs: &ObsBatch) -> MuzeroState {
        let hidden = match (&self.trunk, obs) {
            (Trunk::Residual(trunk), ObsBatch::Image(images)) => trunk
                .represent
                .forward(images.clone().permute([0, 3, 1, 2]))
                .flatten::<2>(1, 3),
            (Trunk::Residual(_), ObsBatch::Vector(_)) => {
                panic!("the residual MuZero trunk needs image observations")
            }
            (Trunk::Mlp(trunk), obs) => trunk.to_state.forward(trunk.encoder.encode(obs)),
        };
        self.root_state(min_max_scale(hidden))
    }

    /// Dynamics: the hidden state after `action [B, A]` (one-hot).
    pub fn step(&self, state: &MuzeroState, action: Tensor<2>) -> MuzeroState {
        self.step_predicting(state, action).0
    }

    /// [`Self::step`], also returning the predicted value prefix of the new
    /// state when the model predicts prefixes (what training fits).
    ///
    /// # Panics
    /// If the model predicts prefixes and `state` carries none (a state
    /// made by hand rather than by [`Self::root_state`] or this model).
    pub fn step_predicting(
        &self,
        state: &MuzeroState,
        action: Tensor<2>,
    ) -> (MuzeroState, Option<BinnedScalar>) {
        let hidden = min_max_scale(self.transition(state, action));
        match (self.prefix_net(), &state.prefix) {
            (None, _) => (MuzeroState::new(hidden), None),
            (Some(net), Some(parent)) => {
                let (carry, dist) = net.step(parent, hidden.clone(), self.bin_space());
                let next = MuzeroState {
                    hidden,
                    prefix: Some(carry),
                };
                (next, Some(dist))
            }
            (Some(_), None) => panic!(
                "a value-prefix MuZero model was given a state without its LSTM carry; \
                 make root states with MuzeroNet::root_state"
            ),
        }
    }

    /// The dynamics trunk's unscaled output for `action [B, A]`.
    fn transition(&self, state: &MuzeroState, action: Tensor<2>) -> Tensor<2> {
        match &self.trunk {
            Trunk::Mlp(trunk) => {
                let input = Tensor::cat(vec![state.hidden.clone(), action], 1);
                trunk.dynamics.forward(input)
            }
            Trunk::Residual(trunk) => {
                let (b, a) = (state.batch(), self.actions);
                let (h, w) = (trunk.height, trunk.width);
                let spatial = state.hidden.clone().reshape([b, trunk.channels, h, w]);
                let planes = action
                    .reshape([b, a, 1, 1])
                    .repeat_dim(2, h)
                    .repeat_dim(3, w);
                let input = Tensor::cat(vec![spatial, planes], 1);
                trunk.dynamics.forward(input).flatten::<2>(1, 3)
            }
        }
    }

    /// Policy logits `[B, A]`.
    pub fn policy_logits(&self, features: Tensor<2>) -> Tensor<2> {
        self.policy.forward(features)
    }
}

impl Encoder for MuzeroNet {
    fn embed_width(&self) -> usize {
        self.state_width
    }

    fn encode(&self, obs: &ObsBatch) -> Tensor<2> {
        self.represent(obs).hidden
    }
}

impl Dynamics for MuzeroNet {
    type State = MuzeroState;

    fn feature_width(&self) -> usize {
        self.state_width
    }

    fn initial(&self, batch: usize, device: &Device) -> MuzeroState {
        self.root_state(Tensor::zeros([batch, self.state_width], device))
    }

    /// MuZero does not filter: the posterior is the representation of the
    /// new observation (`embed` is already a hidden state); the prior is
    /// the dynamics' prediction of it.
    fn observe(
        &self,
        state: &MuzeroState,
        action: Tensor<2>,
        embed: Tensor<2>,
        _is_first: Tensor<1>,
        _noise: &mut Noise,
    ) -> Observed<MuzeroState> {
        Observed {
            posterior: self.root_state(embed),
            prior: self.step(state, action),
        }
    }

    fn imagine(&self, state: &MuzeroState, action: Tensor<2>, _noise: &mut Noise) -> MuzeroState {
        self.step(state, action)
    }
}

impl RewardModel for MuzeroNet {
    /// The per-step reward head.
    ///
    /// # Panics
    /// For a value-prefix model, whose rewards depend on the LSTM carried
    /// in the state, not on features alone: use
    /// [`WorldModel::transition_reward`].
    fn reward(&self, features: Tensor<2>) -> BinnedScalar {
        match &self.reward {
            RewardPredictor::Step(head) => {
                BinnedScalar::new(head.forward(features), self.bin_space())
            }
            RewardPredictor::Prefix(_) => panic!(
                "a value-prefix MuZero model has no per-step reward head; \
                 use WorldModel::transition_reward(state)"
            ),
        }
    }
}

impl ValueModel for MuzeroNet {
    fn value(&self, features: Tensor<2>) -> BinnedScalar {
        BinnedScalar::new(self.value.forward(features), self.bin_space())
    }
}

impl PolicyModel for MuzeroNet {
    fn policy(&self, features: Tensor<2>) -> PolicyDistribution {
        PolicyDistribution::Discrete(OneHotCategorical::new(self.policy_logits(features), 0.0))
    }
}

impl WorldModel for MuzeroNet {
    type Dynamics = MuzeroNet;

    fn dynamics(&self) -> &MuzeroNet {
        self
    }

    fn reward(&self, features: Tensor<2>) -> BinnedScalar {
        RewardModel::reward(self, features)
    }

    /// With a value prefix: this state's prefix less the one its step
    /// counted on from (EfficientZero's `r = prefix_child - prefix_parent`,
    /// and the prefix itself after a reset).
    fn transition_reward(&self, state: &MuzeroState) -> Tensor<1> {
        match &state.prefix {
            Some(carry) => carry.prefix.clone() - carry.base.clone(),
            None => RewardModel::reward(self, state.hidden.clone()).mean(),
        }
    }

    fn continuation(&self, _features: Tensor<2>) -> Option<crate::nn::dist::Bernoulli> {
        None
    }
}

#[cfg(test)]
mod tests;

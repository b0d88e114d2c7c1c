//! MuZero's three functions as burn modules, seen through the core traits:
//! representation `h(o) -> s` is an [`Encoder`], dynamics `g(s, a) -> s'`
//! a [`Dynamics`] with a [`RewardModel`] on the new state, and prediction
//! `f(s) -> (p, v)` a [`PolicyModel`] and [`ValueModel`].
//!
//! Hidden states are min-max scaled to [0, 1] per sample after the
//! representation and after every dynamics step (MuZero appendix G), which
//! keeps them in the same range however far the model is unrolled. The
//! vector variant is an MLP over symlog observations; the image variant
//! (MinAtar, Atari) a CNN with residual-free stride-2 stages, then the same
//! MLP dynamics.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Int, Tensor};

use super::config::NetworkConfig;
use crate::core::{
    Dynamics, Encoder, LatentState, Noise, ObsBatch, ObsKind, Observed, PolicyDistribution,
    PolicyModel, RewardModel, ValueModel, WorldModel,
};
use crate::dreamer::EncoderConfig;
use crate::dreamer::networks::ObsEncoder;
use crate::nn::dist::{BinSpace, BinnedScalar, OneHotCategorical};
use crate::nn::mlp::{Mlp, linear, zero_linear};

/// A batch of MuZero hidden states `[B, S]`, each scaled to [0, 1].
#[derive(Debug, Clone)]
pub struct MuzeroState {
    /// The hidden state.
    pub hidden: Tensor<2>,
}

impl LatentState for MuzeroState {
    fn features(&self) -> Tensor<2> {
        self.hidden.clone()
    }

    fn batch(&self) -> usize {
        self.hidden.dims()[0]
    }

    fn select(&self, indices: Tensor<1, Int>) -> Self {
        MuzeroState {
            hidden: self.hidden.clone().select(0, indices),
        }
    }

    fn cat(states: Vec<Self>) -> Self {
        MuzeroState {
            hidden: Tensor::cat(states.into_iter().map(|s| s.hidden).collect(), 0),
        }
    }

    fn detach(self) -> Self {
        MuzeroState {
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

/// The representation, dynamics and prediction networks.
#[derive(Module, Debug)]
pub struct MuzeroNet {
    encoder: ObsEncoder,
    to_state: Linear,
    dynamics: MlpHead,
    reward: MlpHead,
    value: MlpHead,
    policy: MlpHead,
    actions: usize,
    state_width: usize,
    support: usize,
}

impl MuzeroNet {
    /// Networks for observations of `kind` and `actions` discrete actions.
    pub fn new(config: &NetworkConfig, kind: ObsKind, actions: usize, device: &Device) -> Self {
        let encoder_config = EncoderConfig {
            mlp_layers: config.layers,
            mlp_units: config.units,
            cnn_depth: config.cnn_depth,
            min_resolution: 4,
        };
        let encoder = ObsEncoder::new(kind, &encoder_config, config.norm, device);
        let s = config.state;
        let bins = 2 * config.support + 1;
        MuzeroNet {
            to_state: linear(encoder.embed_width(), s, true, device),
            encoder,
            dynamics: MlpHead::new(s + actions, s, config, false, device),
            reward: MlpHead::new(s, bins, config, true, device),
            value: MlpHead::new(s, bins, config, true, device),
            policy: MlpHead::new(s, actions, config, true, device),
            actions,
            state_width: s,
            support: config.support,
        }
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
        MuzeroState {
            hidden: min_max_scale(self.to_state.forward(self.encoder.encode(obs))),
        }
    }

    /// Dynamics: the hidden state after `action [B, A]` (one-hot).
    pub fn step(&self, state: &MuzeroState, action: Tensor<2>) -> MuzeroState {
        let input = Tensor::cat(vec![state.hidden.clone(), action], 1);
        MuzeroState {
            hidden: min_max_scale(self.dynamics.forward(input)),
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
        MuzeroState {
            hidden: Tensor::zeros([batch, self.state_width], device),
        }
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
            posterior: MuzeroState { hidden: embed },
            prior: self.step(state, action),
        }
    }

    fn imagine(&self, state: &MuzeroState, action: Tensor<2>, _noise: &mut Noise) -> MuzeroState {
        self.step(state, action)
    }
}

impl RewardModel for MuzeroNet {
    fn reward(&self, features: Tensor<2>) -> BinnedScalar {
        BinnedScalar::new(self.reward.forward(features), self.bin_space())
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

    fn continuation(&self, _features: Tensor<2>) -> Option<crate::nn::dist::Bernoulli> {
        None
    }
}

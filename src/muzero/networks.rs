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

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

use super::config::{NetworkConfig, NetworkKind};
use crate::core::{
    Dynamics, Encoder, LatentState, Noise, ObsBatch, ObsKind, Observed, PolicyDistribution,
    PolicyModel, RewardModel, ValueModel, VectorState, WorldModel,
};
use crate::dreamer::EncoderConfig;
use crate::dreamer::networks::ObsEncoder;
use crate::nn::dist::{BinSpace, BinnedScalar, OneHotCategorical};
use crate::nn::mlp::{Mlp, linear, zero_linear};
use crate::nn::resnet::ResTower;

/// A batch of MuZero hidden states `[B, S]`, each scaled to [0, 1].
pub type MuzeroState = VectorState;

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

/// The representation, dynamics and prediction networks.
#[derive(Module, Debug)]
pub struct MuzeroNet {
    trunk: Trunk,
    reward: MlpHead,
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
            reward: MlpHead::new(s, bins, config, true, device),
            value: MlpHead::new(s, bins, config, true, device),
            policy: MlpHead::new(s, actions, config, true, device),
            actions,
            state_width: s,
            support: config.support,
        }
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
        MuzeroState {
            hidden: min_max_scale(hidden),
        }
    }

    /// Dynamics: the hidden state after `action [B, A]` (one-hot).
    pub fn step(&self, state: &MuzeroState, action: Tensor<2>) -> MuzeroState {
        let hidden = match &self.trunk {
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
        };
        MuzeroState {
            hidden: min_max_scale(hidden),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::to_vec;

    fn residual_config() -> NetworkConfig {
        NetworkConfig {
            kind: NetworkKind::Residual,
            res_blocks: 1,
            res_channels: 4,
            units: 16,
            layers: 1,
            support: 5,
            ..NetworkConfig::default()
        }
    }

    #[test]
    fn residual_states_are_spatial_flattened_and_scaled() {
        let device = Device::flex();
        let kind = ObsKind::Image {
            shape: [10, 10, 3],
            pixels: false,
        };
        let net = MuzeroNet::new(&residual_config(), kind, 3, &device);
        assert_eq!(net.feature_width(), 4 * 10 * 10);
        let values: Vec<f32> = (0..2 * 300).map(|i| (i % 7) as f32 / 7.0).collect();
        let obs = ObsBatch::from_flat(values, 2, kind, &device);
        let state = net.represent(&obs);
        assert_eq!(state.hidden.dims(), [2, 400]);
        let action = Tensor::<2>::zeros([2, 3], &device).slice_fill([0..2, 1..2], 1.0);
        let next = net.step(&state, action);
        assert_eq!(next.hidden.dims(), [2, 400]);
        for row in to_vec(next.hidden).chunks(400) {
            let low = row.iter().copied().fold(f32::INFINITY, f32::min);
            let high = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert!(
                low.abs() < 1e-6 && (high - 1.0).abs() < 1e-4,
                "{low} {high}"
            );
        }
        let value = ValueModel::value(&net, state.hidden);
        assert_eq!(value.logits.dims(), [2, 11]);
    }

    #[test]
    fn the_residual_trunk_needs_images() {
        let config = residual_config();
        assert!(!MuzeroNet::supports(&config, ObsKind::Vector { width: 4 }));
        let image = ObsKind::Image {
            shape: [10, 10, 4],
            pixels: false,
        };
        assert!(MuzeroNet::supports(&config, image));
        assert!(MuzeroNet::supports(
            &NetworkConfig::default(),
            ObsKind::Vector { width: 4 }
        ));
    }
}

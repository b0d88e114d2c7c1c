//! DreamerV3's encoder, decoder and heads, each implementing its core trait.
//!
//! Vector observations are symlog-ed before an MLP encoder and predicted in
//! symlog space by an MLP decoder (symlog MSE); images go through the CNN
//! encoder/decoder (MSE). Reward and critic heads are twohot over symlog
//! bins with zero-initialised output layers; the continue head is a
//! Bernoulli; the actor is a categorical with unimix for discrete actions
//! and a bounded normal for continuous ones.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

use super::config::{CnnKind, DreamerConfig, EncoderConfig, HeadRole, HeadsConfig, TwohotKind};
use crate::core::{
    ContinueModel, Encoder, ObsBatch, ObsKind, ObservationModel, ObservationPrediction,
    PolicyDistribution, PolicyModel, RewardModel, ValueModel,
};
use crate::nn::cnn::{CnnDecoder, CnnEncoder};
use crate::nn::cnn_pooled::{PooledCnnDecoder, PooledCnnEncoder, PooledDecoderShape};
use crate::nn::dist::{
    Bernoulli, BinSpace, BinnedScalar, BoundedNormal, OneHotCategorical, ScalarTransform,
};
use crate::nn::mlp::DenseStyle;
use crate::nn::mlp::{Mlp, linear, scaled_linear};
use crate::nn::symlog::symlog;

/// Encodes vector observations (symlog + MLP) or images (CNN).
#[derive(Module, Debug)]
pub enum ObsEncoder {
    /// MLP over symlog inputs.
    Vector(Mlp),
    /// CNN over `[B, H, W, C]` images (2023).
    Image(CnnEncoder),
    /// Pooled CNN over `[B, H, W, C]` images (2025).
    PooledImage(PooledCnnEncoder),
}

impl ObsEncoder {
    /// The encoder for observations of `kind`.
    pub fn new(
        kind: ObsKind,
        config: &EncoderConfig,
        norm: impl Into<DenseStyle>,
        device: &Device,
    ) -> Self {
        let norm: DenseStyle = norm.into();
        match kind {
            ObsKind::Vector { width } => ObsEncoder::Vector(Mlp::new(
                width,
                config.mlp_units,
                config.mlp_layers.max(1),
                norm,
                device,
            )),
            ObsKind::Image { shape, .. } => match config.cnn {
                CnnKind::Strided => ObsEncoder::Image(CnnEncoder::new(
                    shape,
                    config.cnn_depth,
                    config.min_resolution,
                    norm.norm,
                    device,
                )),
                CnnKind::Pooled => ObsEncoder::PooledImage(PooledCnnEncoder::new(
                    shape,
                    config.cnn_depth,
                    &config.cnn_mults,
                    config.cnn_kernel,
                    norm.norm,
                    device,
                )),
            },
        }
    }
}

impl Encoder for ObsEncoder {
    fn embed_width(&self) -> usize {
        match self {
            ObsEncoder::Vector(mlp) => mlp.output_width(),
            ObsEncoder::Image(cnn) => cnn.output_width(),
            ObsEncoder::PooledImage(cnn) => cnn.output_width(),
        }
    }

    fn encode(&self, obs: &ObsBatch) -> Tensor<2> {
        match (self, obs) {
            (ObsEncoder::Vector(mlp), ObsBatch::Vector(x)) => mlp.forward(symlog(x.clone())),
            (ObsEncoder::Image(cnn), ObsBatch::Image(x)) => cnn.forward(x.clone()),
            (ObsEncoder::PooledImage(cnn), ObsBatch::Image(x)) => cnn.forward(x.clone()),
            _ => panic!("encoder and observation batch are of different kinds"),
        }
    }
}

/// An MLP and a linear output predicting symlog vectors.
#[derive(Module, Debug)]
pub struct VectorDecoder {
    mlp: Mlp,
    out: Linear,
}

/// Reconstructs observations from features.
// One decoder per model, built once: its variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum ObsDecoder {
    /// MLP predicting symlog vectors.
    Vector(VectorDecoder),
    /// Transposed-conv decoder (2023).
    Image(CnnDecoder),
    /// Upsampling decoder (2025).
    PooledImage(PooledCnnDecoder),
}

impl ObsDecoder {
    /// The decoder for observations of `kind` from `features` wide inputs,
    /// the first `deter` of them the deterministic state.
    pub fn new(
        kind: ObsKind,
        features: usize,
        deter: usize,
        config: &EncoderConfig,
        norm: impl Into<DenseStyle>,
        device: &Device,
    ) -> Self {
        let norm: DenseStyle = norm.into();
        match kind {
            ObsKind::Vector { width } => {
                let mlp = Mlp::new(features, config.mlp_units, config.mlp_layers, norm, device);
                let out = linear(mlp.output_width(), width, true, device);
                ObsDecoder::Vector(VectorDecoder { mlp, out })
            }
            ObsKind::Image { shape, .. } => match config.cnn {
                CnnKind::Strided => ObsDecoder::Image(CnnDecoder::new(
                    features,
                    shape,
                    config.cnn_depth,
                    config.min_resolution,
                    norm.norm,
                    device,
                )),
                CnnKind::Pooled => {
                    let shape = PooledDecoderShape {
                        image: shape,
                        depth: config.cnn_depth,
                        mults: &config.cnn_mults,
                        kernel: config.cnn_kernel,
                        blocks: config.cnn_decoder_blocks,
                        units: config.mlp_units,
                    };
                    ObsDecoder::PooledImage(PooledCnnDecoder::new(
                        features, deter, shape, norm.norm, device,
                    ))
                }
            },
        }
    }
}

impl ObservationModel for ObsDecoder {
    fn decode(&self, features: Tensor<2>) -> ObservationPrediction {
        match self {
            ObsDecoder::Vector(d) => {
                ObservationPrediction::SymlogVector(d.out.forward(d.mlp.forward(features)))
            }
            ObsDecoder::Image(cnn) => ObservationPrediction::Image(cnn.forward(features)),
            ObsDecoder::PooledImage(cnn) => ObservationPrediction::Image(cnn.forward(features)),
        }
    }
}

/// An MLP followed by an output layer.
#[derive(Module, Debug)]
pub struct Head {
    mlp: Mlp,
    out: Linear,
}

impl Head {
    /// `features` in, `outputs` out, as deep as `config` makes `role`'s
    /// head; the output layer's initial weights are scaled by `outscale`
    /// (0: zeros).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        features: usize,
        outputs: usize,
        config: &HeadsConfig,
        role: HeadRole,
        norm: impl Into<DenseStyle>,
        outscale: f32,
        device: &Device,
    ) -> Self {
        let layers = config.layers_of(role);
        let width = if layers == 0 { features } else { config.units };
        let out = scaled_linear(width, outputs, outscale, device);
        Head {
            mlp: Mlp::new(features, config.units, layers, norm, device),
            out,
        }
    }

    /// # Shapes
    /// `[B, F]` -> `[B, outputs]`
    pub fn forward(&self, features: Tensor<2>) -> Tensor<2> {
        self.out.forward(self.mlp.forward(features))
    }
}

/// Twohot reward head.
#[derive(Module, Debug)]
pub struct RewardHead {
    head: Head,
    bins: usize,
    /// The 2025 `symexp_twohot` reading of the bins.
    symexp_twohot: bool,
}

impl RewardHead {
    /// A reward head over `config.bins` symlog bins.
    pub fn new(
        features: usize,
        config: &HeadsConfig,
        norm: impl Into<DenseStyle>,
        device: &Device,
    ) -> Self {
        RewardHead {
            head: Head::new(
                features,
                config.bins,
                config,
                HeadRole::Reward,
                norm,
                0.0,
                device,
            ),
            bins: config.bins,
            symexp_twohot: config.twohot == TwohotKind::Symexp,
        }
    }
}

fn dreamer_bins(bins: usize, symexp_twohot: bool) -> BinSpace {
    BinSpace {
        bins,
        transform: if symexp_twohot {
            ScalarTransform::SymexpTwohot
        } else {
            ScalarTransform::Symlog
        },
        ..BinSpace::dreamer()
    }
}

impl RewardModel for RewardHead {
    fn reward(&self, features: Tensor<2>) -> BinnedScalar {
        BinnedScalar::new(
            self.head.forward(features),
            dreamer_bins(self.bins, self.symexp_twohot),
        )
    }
}

/// Bernoulli continue head.
#[derive(Module, Debug)]
pub struct ContinueHead {
    head: Head,
}

impl ContinueHead {
    /// A continue head.
    pub fn new(
        features: usize,
        config: &HeadsConfig,
        norm: impl Into<DenseStyle>,
        device: &Device,
    ) -> Self {
        ContinueHead {
            head: Head::new(features, 1, config, HeadRole::Continue, norm, 1.0, device),
        }
    }
}

impl ContinueModel for ContinueHead {
    fn continuation(&self, features: Tensor<2>) -> Bernoulli {
        Bernoulli::new(self.head.forward(features).squeeze_dim::<1>(1))
    }
}

/// Twohot critic.
#[derive(Module, Debug)]
pub struct Critic {
    head: Head,
    bins: usize,
    /// The 2025 `symexp_twohot` reading of the bins.
    symexp_twohot: bool,
}

impl Critic {
    /// A critic over `config.bins` symlog bins, output layer zero-initialised.
    pub fn new(
        features: usize,
        config: &HeadsConfig,
        norm: impl Into<DenseStyle>,
        device: &Device,
    ) -> Self {
        Critic {
            head: Head::new(
                features,
                config.bins,
                config,
                HeadRole::Critic,
                norm,
                0.0,
                device,
            ),
            bins: config.bins,
            symexp_twohot: config.twohot == TwohotKind::Symexp,
        }
    }
}

impl ValueModel for Critic {
    fn value(&self, features: Tensor<2>) -> BinnedScalar {
        BinnedScalar::new(
            self.head.forward(features),
            dreamer_bins(self.bins, self.symexp_twohot),
        )
    }
}

/// The actor: categorical with unimix, or bounded normal.
#[derive(Module, Debug)]
pub struct Actor {
    head: Head,
    actions: usize,
    discrete: bool,
    unimix: f32,
    min_std: f32,
    max_std: f32,
}

impl Actor {
    /// An actor over `actions` discrete actions or continuous dimensions.
    pub fn new(
        features: usize,
        actions: usize,
        discrete: bool,
        config: &DreamerConfig,
        device: &Device,
    ) -> Self {
        let outputs = if discrete { actions } else { 2 * actions };
        let b = &config.behaviour;
        Actor {
            head: Head::new(
                features,
                outputs,
                &config.heads,
                HeadRole::Actor,
                config.dense_style(),
                config.heads.actor_outscale,
                device,
            ),
            actions,
            discrete,
            unimix: b.unimix,
            min_std: b.min_std,
            max_std: b.max_std,
        }
    }
}

impl PolicyModel for Actor {
    fn policy(&self, features: Tensor<2>) -> PolicyDistribution {
        let out = self.head.forward(features);
        if self.discrete {
            PolicyDistribution::Discrete(OneHotCategorical::new(out, self.unimix))
        } else {
            let [mean, std]: [Tensor<2>; 2] =
                out.chunk(2, 1).try_into().expect("mean and std halves");
            let _ = self.actions;
            PolicyDistribution::Continuous(BoundedNormal::new(
                mean,
                std,
                self.min_std,
                self.max_std,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::{tensor_from_vec, to_vec};

    /// The largest distance from uniform of a fresh discrete actor's
    /// probabilities on varied features, with output scale `outscale`.
    fn distance_from_uniform(outscale: f32) -> f32 {
        let device = Device::flex();
        let mut config = DreamerConfig::default();
        config.heads.units = 32;
        config.heads.actor_outscale = outscale;
        let actor = Actor::new(6, 4, true, &config, &device);
        let features = tensor_from_vec(
            (0..48).map(|i| (i as f32 * 0.91).sin() * 3.0).collect(),
            [8, 6],
            &device,
        );
        let probs = to_vec(actor.policy(features).probs().expect("discrete"));
        probs.iter().map(|p| (p - 0.25).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn a_policy_with_output_scale_one_hundredth_starts_close_to_uniform() {
        // Over 200 fresh draws the largest distance was 0.0016..0.0063 at
        // scale 0.01 and 0.13..0.58 at scale 1: the bounds leave a margin of
        // three on either side, so unseeded weights (the backend's seed is
        // process-wide and tests run in parallel) cannot make it flaky.
        let small = distance_from_uniform(0.01);
        assert!(small < 0.02, "{small}");
        let large = distance_from_uniform(1.0);
        assert!(large > 0.05, "{large}");
    }
}

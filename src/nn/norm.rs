//! The normalisation layer of every block: LayerNorm (DreamerV3 2023,
//! epsilon 1e-3) or RMSNorm (2025 code, epsilon 1e-4), chosen by config.
//! On GPU devices it runs as one fused kernel ([`super::fused`]), SiLU
//! included where a block applies one.

use burn::module::Module;
use burn::nn::{Identity, LayerNorm, LayerNormConfig, RmsNorm, RmsNormConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::fused::{self, NormOp};

/// LayerNorm's epsilon in DreamerV3 (2023).
const LAYER_EPSILON: f32 = 1e-3;
/// RMSNorm's epsilon in the 2025 code.
const RMS_EPSILON: f32 = 1e-4;

/// Which normalisation the blocks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NormKind {
    /// LayerNorm with epsilon 1e-3 (DreamerV3 2023).
    #[default]
    Layer,
    /// RMSNorm with epsilon 1e-4 (DreamerV3 2025).
    Rms,
    /// No normalisation (for ablations and tiny models).
    None,
}

/// A normalisation over the last axis.
#[derive(Module, Debug)]
pub enum Norm {
    /// LayerNorm.
    Layer(LayerNorm),
    /// RMSNorm.
    Rms(RmsNorm),
    /// No normalisation.
    Identity(Identity),
}

impl NormKind {
    /// Build the layer for `width` features.
    pub fn init(self, width: usize, device: &Device) -> Norm {
        match self {
            NormKind::Layer => Norm::Layer(
                LayerNormConfig::new(width)
                    .with_epsilon(LAYER_EPSILON.into())
                    .init(device),
            ),
            NormKind::Rms => Norm::Rms(
                RmsNormConfig::new(width)
                    .with_epsilon(RMS_EPSILON.into())
                    .init(device),
            ),
            NormKind::None => Norm::Identity(Identity::new()),
        }
    }
}

impl Norm {
    /// Normalise over the last axis.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.apply(x, false)
    }

    /// `silu(self.forward(x))`, in one kernel on GPU devices.
    pub fn forward_silu<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.apply(x, true)
    }

    fn apply<const D: usize>(&self, x: Tensor<D>, then_silu: bool) -> Tensor<D> {
        let Some((gamma, beta, op)) = self.fused_form(then_silu) else {
            return if then_silu { silu(x) } else { x };
        };
        let x = match fused::norm(x, gamma, beta, op) {
            Ok(y) => return y,
            Err(x) => x,
        };
        let y = match self {
            Norm::Layer(norm) => norm.forward(x),
            Norm::Rms(norm) => norm.forward(x),
            Norm::Identity(_) => x,
        };
        if then_silu { silu(y) } else { y }
    }

    /// The scale, the shift (LayerNorm's) and what the fused kernels
    /// compute for this norm; `None` without one.
    pub fn fused_form(&self, then_silu: bool) -> Option<(Tensor<1>, Option<Tensor<1>>, NormOp)> {
        let (gamma, beta, epsilon, center) = match self {
            Norm::Layer(norm) => (
                norm.gamma.val(),
                norm.beta.as_ref().map(|b| b.val()),
                LAYER_EPSILON,
                true,
            ),
            Norm::Rms(norm) => (norm.gamma.val(), None, RMS_EPSILON, false),
            Norm::Identity(_) => return None,
        };
        let op = NormOp {
            epsilon,
            center,
            silu: then_silu,
        };
        Some((gamma, beta, op))
    }

    /// Whether a linear layer before this one needs its own bias.
    pub fn is_none(&self) -> bool {
        matches!(self, Norm::Identity(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::{tensor_from_vec, to_vec};

    #[test]
    fn layer_and_rms_norm_match_hand_values() {
        let device = Device::flex();
        let x = tensor_from_vec(vec![1.0, 2.0, 3.0, 4.0], [1, 4], &device);
        // LayerNorm: mean 2.5, var 1.25 -> (x - 2.5) / sqrt(1.25 + 1e-3).
        let y = to_vec(NormKind::Layer.init(4, &device).forward(x.clone()));
        let s = (1.25f32 + 1e-3).sqrt();
        for (a, v) in y.iter().zip([1.0f32, 2.0, 3.0, 4.0]) {
            assert!((a - (v - 2.5) / s).abs() < 1e-5);
        }
        // RMSNorm: rms = sqrt(mean(x^2) + 1e-4) = sqrt(7.5 + 1e-4).
        let y = to_vec(NormKind::Rms.init(4, &device).forward(x));
        let r = (7.5f32 + 1e-4).sqrt();
        for (a, v) in y.iter().zip([1.0f32, 2.0, 3.0, 4.0]) {
            assert!((a - v / r).abs() < 1e-5);
        }
    }
}

//! EfficientZero's self-supervised consistency (Ye et al. 2021, section
//! 4.1): the hidden state the dynamics predict for step `t + k` should
//! match the representation of the real observation `o_{t+k}`. Both go
//! through a projection; the prediction side adds a prediction head; the
//! target side stops gradients (SimSiam). The loss is the negative cosine
//! similarity.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::config::NetworkConfig;
use crate::nn::mlp::{Mlp, linear};
use burn::nn::Linear;

/// Projection and prediction heads of the consistency loss.
#[derive(Module, Debug)]
pub struct ConsistencyHeads {
    projection: Mlp,
    projection_out: Linear,
    prediction: Mlp,
    prediction_out: Linear,
}

impl ConsistencyHeads {
    /// Heads over hidden states of width `state`, projecting to `width`.
    pub fn new(state: usize, width: usize, config: &NetworkConfig, device: &Device) -> Self {
        let projection = Mlp::new(state, width, 1, config.norm, device);
        let prediction = Mlp::new(width, width, 1, config.norm, device);
        ConsistencyHeads {
            projection_out: linear(projection.output_width(), width, true, device),
            prediction_out: linear(prediction.output_width(), width, true, device),
            projection,
            prediction,
        }
    }

    /// The projection of hidden states `[B, S]` -> `[B, P]`.
    pub fn project(&self, hidden: Tensor<2>) -> Tensor<2> {
        self.projection_out.forward(self.projection.forward(hidden))
    }

    /// The negative cosine similarity between the prediction from
    /// `predicted [B, S]` and the stopped projection of `target [B, S]`, `[B]`.
    pub fn loss(&self, predicted: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
        let p = self
            .prediction_out
            .forward(self.prediction.forward(self.project(predicted)));
        let z = self.project(target).detach();
        negative_cosine(p, z)
    }
}

/// `-cos(a, b)` per row `[B]`.
pub fn negative_cosine(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    let dot = (a.clone() * b.clone()).sum_dim(1);
    let norms = (a.powi_scalar(2).sum_dim(1) * b.powi_scalar(2).sum_dim(1))
        .sqrt()
        .clamp_min(1e-8);
    (dot / norms).neg().squeeze_dim::<1>(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::{tensor_from_vec, to_vec};

    #[test]
    fn cosine_by_hand() {
        let device = Device::flex();
        let a = tensor_from_vec(vec![1.0, 0.0, 1.0, 1.0], [2, 2], &device);
        let b = tensor_from_vec(vec![2.0, 0.0, -1.0, 0.0], [2, 2], &device);
        let loss = to_vec(negative_cosine(a, b));
        // Parallel rows give -1; [1, 1] against [-1, 0] gives -(-1 / sqrt 2).
        assert!((loss[0] + 1.0).abs() < 1e-6);
        assert!((loss[1] - 1.0 / 2f32.sqrt()).abs() < 1e-6, "{loss:?}");
    }
}

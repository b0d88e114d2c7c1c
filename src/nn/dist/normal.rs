//! DreamerV3's bounded normal policy for continuous actions: the mean is
//! squashed by tanh into [-1, 1] and the standard deviation is kept in
//! [min_std, max_std] by a shifted sigmoid, so exploration never collapses
//! nor explodes. Samples are reparameterised, which is what lets the actor
//! learn by backpropagating returns through the dynamics.

use burn::tensor::Tensor;
use burn::tensor::activation::sigmoid;

/// An independent normal per action dimension.
#[derive(Debug, Clone)]
pub struct BoundedNormal {
    /// Mean in [-1, 1] `[B, A]`.
    pub mean: Tensor<2>,
    /// Standard deviation in [min_std, max_std] `[B, A]`.
    pub std: Tensor<2>,
}

impl BoundedNormal {
    /// DreamerV3's parameterisation: `mean = tanh(raw_mean)`,
    /// `std = (max_std - min_std) * sigmoid(raw_std + 2) + min_std`
    /// (0.1 and 1.0 in the paper).
    pub fn new(raw_mean: Tensor<2>, raw_std: Tensor<2>, min_std: f32, max_std: f32) -> Self {
        let mean = raw_mean.tanh();
        let std = sigmoid(raw_std + 2.0) * (max_std - min_std) + min_std;
        BoundedNormal { mean, std }
    }

    /// A reparameterised sample `mean + std * eps` from standard normal noise `[B, A]`.
    pub fn sample(&self, standard_normal: Tensor<2>) -> Tensor<2> {
        self.mean.clone() + self.std.clone() * standard_normal
    }

    /// The mean, used as the greedy action.
    pub fn mode(&self) -> Tensor<2> {
        self.mean.clone()
    }

    /// Log-density summed over action dimensions `[B]`.
    pub fn log_prob(&self, value: Tensor<2>) -> Tensor<1> {
        let z = (value - self.mean.clone()) / self.std.clone();
        let per_dim = z.powi_scalar(2) * -0.5
            - self.std.clone().log()
            - 0.5 * (2.0 * std::f32::consts::PI).ln();
        per_dim.sum_dim(1).squeeze_dim::<1>(1)
    }

    /// Entropy summed over action dimensions `[B]`.
    pub fn entropy(&self) -> Tensor<1> {
        let per_dim =
            self.std.clone().log() + 0.5 * (2.0 * std::f32::consts::PI * std::f32::consts::E).ln();
        per_dim.sum_dim(1).squeeze_dim::<1>(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::{tensor_from_vec, to_vec};
    use burn::tensor::Device;

    #[test]
    fn parameterisation_and_density_match_hand_values() {
        let device = Device::flex();
        // raw_std = -2 -> sigmoid(0) = 0.5 -> std = 0.9 * 0.5 + 0.1 = 0.55; raw_mean 0 -> mean 0.
        let dist = BoundedNormal::new(
            Tensor::zeros([1, 2], &device),
            tensor_from_vec(vec![-2.0, -2.0], [1, 2], &device),
            0.1,
            1.0,
        );
        assert!(
            to_vec(dist.std.clone())
                .iter()
                .all(|s| (s - 0.55).abs() < 1e-6)
        );
        // log N(0.55; 0, 0.55) = -0.5 - ln 0.55 - 0.5 ln 2pi, per dim; two dims.
        let x = tensor_from_vec(vec![0.55, -0.55], [1, 2], &device);
        let lp = to_vec(dist.log_prob(x))[0];
        let per_dim = -0.5 - 0.55f32.ln() - 0.5 * (2.0 * std::f32::consts::PI).ln();
        assert!((lp - 2.0 * per_dim).abs() < 1e-5, "{lp}");
        let h = to_vec(dist.entropy())[0];
        assert!(
            (h - 2.0
                * (0.55f32.ln() + 0.5 * (2.0 * std::f32::consts::PI * std::f32::consts::E).ln()))
            .abs()
                < 1e-5
        );
        // Means stay inside [-1, 1] however large the raw output.
        let wide = BoundedNormal::new(
            tensor_from_vec(vec![50.0, -50.0], [1, 2], &device),
            Tensor::zeros([1, 2], &device),
            0.1,
            1.0,
        );
        assert!(to_vec(wide.mean).iter().all(|m| m.abs() <= 1.0));
    }
}

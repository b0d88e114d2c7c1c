//! How the sampling planner turns its fitted distribution into the action
//! taken: TD-MPC's weighted elite draw for continuous MPPI, the first step
//! of the fitted distribution otherwise.

use burn::tensor::Tensor;

use super::{SamplingPlanner, SequenceDistribution};
use crate::core::Noise;
use crate::nn::dist::sample_one_hot;
use crate::nn::tensor_util::{int_tensor_from_vec, to_vec};
use crate::planners::latent::one_hot;
use crate::planners::masked_argmax;

impl SamplingPlanner {
    /// TD-MPC's continuous action `[B, A]`: the first action of one elite
    /// of each root drawn by its weight, plus the fitted first-step spread
    /// times standard normal noise when exploring, clipped to [-1, 1].
    ///
    /// # Shapes
    /// `elites [B, K, H, A]`, `weights` `B * K` (rows summing to one),
    /// `std [B, H, A]` -> `[B, A]`
    pub(super) fn weighted_elite_action(
        &self,
        elites: Tensor<4>,
        weights: &[f32],
        std: &Tensor<3>,
        noise: &mut Noise,
    ) -> Tensor<2> {
        let [b, k, h, a] = elites.dims();
        let device = elites.device();
        let rows: Vec<i64> = weights
            .chunks(k)
            .enumerate()
            .map(|(root, w)| (root * k + draw_index(w, noise.uniform())) as i64)
            .collect();
        let chosen = elites
            .reshape([b * k, h, a])
            .select(0, int_tensor_from_vec(rows, [b], &device))
            .slice([0..b, 0..1, 0..a])
            .reshape([b, a]);
        if !self.explore {
            return chosen;
        }
        let spread = std.clone().slice([0..b, 0..1, 0..a]).reshape([b, a]);
        (chosen + spread * noise.normal_tensor([b, a], &device)).clamp(-1.0, 1.0)
    }

    /// The action to take `[B, A]` from the fitted distribution, and for
    /// discrete actions the first step's probabilities as a policy target.
    pub(super) fn first_action(
        &self,
        dist: &SequenceDistribution,
        noise: &mut Noise,
    ) -> (Tensor<2>, Option<Tensor<2>>) {
        let first_step = |x: &Tensor<3>| {
            let [b, _, a] = x.dims();
            x.clone().slice([0..b, 0..1, 0..a]).reshape([b, a])
        };
        match dist {
            SequenceDistribution::Gaussian { mean, std } => {
                let (mean, std) = (first_step(mean), first_step(std));
                let action = if self.explore {
                    let eps = noise.normal_tensor(mean.dims(), &mean.device());
                    (mean + std * eps).clamp(-1.0, 1.0)
                } else {
                    mean
                };
                (action, None)
            }
            SequenceDistribution::Categorical { probs } => {
                let first = first_step(probs);
                let [b, a] = first.dims();
                let device = first.device();
                let chosen: Vec<usize> = if self.explore {
                    let sample =
                        sample_one_hot(first.clone(), noise.uniform_tensor([b, 1], &device));
                    first_max_per_row(&to_vec(sample), a)
                } else {
                    first_max_per_row(&to_vec(first.clone()), a)
                };
                (one_hot(&chosen, a, &device), Some(first))
            }
        }
    }
}

/// The index whose cumulative weight first exceeds `u` in [0, 1) (the last
/// index when rounding leaves the total just below `u`).
pub(super) fn draw_index(weights: &[f32], u: f32) -> usize {
    let mut total = 0.0;
    for (i, w) in weights.iter().enumerate() {
        total += w;
        if u < total {
            return i;
        }
    }
    weights.len() - 1
}

/// The index of the first largest entry of each row of width `a`.
pub(super) fn first_max_per_row(values: &[f32], a: usize) -> Vec<usize> {
    values
        .chunks(a)
        .map(|row| masked_argmax(row, None))
        .collect()
}

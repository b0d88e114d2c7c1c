//! A Bernoulli over logits: DreamerV3's continue head, which predicts
//! whether the episode goes on after a step.

use burn::tensor::Tensor;
use burn::tensor::activation::{log_sigmoid, sigmoid};

/// A Bernoulli distribution per element of `logits [B]`.
#[derive(Debug, Clone)]
pub struct Bernoulli {
    /// Log-odds `[B]`.
    pub logits: Tensor<1>,
}

impl Bernoulli {
    /// Wrap log-odds `[B]`.
    pub fn new(logits: Tensor<1>) -> Self {
        Bernoulli { logits }
    }

    /// Probability of 1 `[B]`.
    pub fn mean(&self) -> Tensor<1> {
        sigmoid(self.logits.clone())
    }

    /// 1 where the probability of 1 exceeds one half `[B]`.
    pub fn mode(&self) -> Tensor<1> {
        self.logits.clone().greater_elem(0.0).float()
    }

    /// `log p(target)` for targets in {0, 1} (or soft targets in [0, 1]) `[B]`.
    pub fn log_prob(&self, target: Tensor<1>) -> Tensor<1> {
        let target = target.detach();
        target.clone() * log_sigmoid(self.logits.clone())
            + (target.neg() + 1.0) * log_sigmoid(self.logits.clone().neg())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::{tensor_from_vec, to_vec};
    use burn::tensor::Device;

    #[test]
    fn log_prob_and_mean_match_hand_values() {
        let device = Device::flex();
        // logit ln 3 -> p = 0.75.
        let dist = Bernoulli::new(tensor_from_vec(vec![3f32.ln(), 3f32.ln()], [2], &device));
        let mean = to_vec(dist.mean());
        assert!((mean[0] - 0.75).abs() < 1e-6);
        let lp = to_vec(dist.log_prob(tensor_from_vec(vec![1.0, 0.0], [2], &device)));
        assert!(
            (lp[0] - 0.75f32.ln()).abs() < 1e-6 && (lp[1] - 0.25f32.ln()).abs() < 1e-6,
            "{lp:?}"
        );
        assert_eq!(to_vec(dist.mode()), vec![1.0, 1.0]);
    }
}

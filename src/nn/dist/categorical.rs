//! One-hot categorical distributions with DreamerV3's unimix and
//! straight-through sampling (Hafner et al. 2023, sec. "Robust predictions";
//! DreamerV2 for straight-through gradients).
//!
//! Mixing 1% of a uniform distribution into the softmax keeps every
//! probability away from zero, which bounds the KL loss and the policy's
//! log-probabilities. The straight-through sample is the one-hot sample in
//! the forward pass and carries the probabilities' gradient backwards.

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Int, Tensor};

use crate::nn::fused;

/// A categorical over the last axis of `logits`, one-hot valued.
#[derive(Debug, Clone)]
pub struct OneHotCategorical<const D: usize> {
    /// Normalised log-probabilities (unimix already applied) `[.., K]`.
    pub log_probs: Tensor<D>,
}

impl<const D: usize> OneHotCategorical<D> {
    /// A categorical from raw logits with `unimix` of a uniform distribution
    /// mixed in (0.01 in DreamerV3; 0 for none).
    pub fn new(logits: Tensor<D>, unimix: f32) -> Self {
        let logits = match fused::unimix_log_probs(logits, unimix) {
            Ok(log_probs) => return OneHotCategorical { log_probs },
            Err(logits) => logits,
        };
        let log_probs = if unimix > 0.0 {
            let k = logits.dims()[D - 1] as f32;
            let probs = softmax(logits, D - 1) * (1.0 - unimix) + unimix / k;
            probs.log()
        } else {
            log_softmax(logits, D - 1)
        };
        OneHotCategorical { log_probs }
    }

    /// Probabilities `[.., K]`.
    pub fn probs(&self) -> Tensor<D> {
        self.log_probs.clone().exp()
    }

    /// Number of classes `K`.
    pub fn classes(&self) -> usize {
        self.log_probs.dims()[D - 1]
    }

    /// Log-probability of one-hot `value [.., K]`, summed over the class axis `[.., 1]`.
    pub fn log_prob(&self, value: Tensor<D>) -> Tensor<D> {
        (value * self.log_probs.clone()).sum_dim(D - 1)
    }

    /// Entropy `[.., 1]`.
    pub fn entropy(&self) -> Tensor<D> {
        (self.probs() * self.log_probs.clone()).sum_dim(D - 1).neg()
    }

    /// The most likely class, one-hot `[.., K]`.
    pub fn mode(&self) -> Tensor<D> {
        one_hot_of_max(self.log_probs.clone())
    }

    /// A one-hot sample, from one `uniform` number in [0, 1) per
    /// distribution (shape `[.., 1]`; see [`sample_one_hot`]). No gradient
    /// flows through it.
    pub fn sample(&self, uniform: Tensor<D>) -> Tensor<D> {
        match fused::sample_one_hot(self.log_probs.clone(), uniform.clone()) {
            Ok(sample) => sample,
            Err(_) => sample_one_hot(self.probs(), uniform),
        }
    }

    /// [`Self::sample`] with straight-through gradients: the value is the
    /// one-hot sample, the gradient is that of the probabilities.
    pub fn sample_straight_through(&self, uniform: Tensor<D>) -> Tensor<D> {
        let probs = self.probs();
        let sample = match fused::sample_one_hot(self.log_probs.clone(), uniform.clone()) {
            Ok(sample) => sample,
            Err(_) => sample_one_hot(probs.clone(), uniform),
        };
        sample + probs.clone() - probs.detach()
    }
}

/// A one-hot sample from `probs [.., K]` (rows summing to one up to
/// rounding) by inverting the cumulative distribution: the class drawn is
/// the first whose cumulative probability exceeds `u * total` for
/// `uniform = u [.., 1]` in [0, 1). One random number per distribution and
/// no logarithms, where the Gumbel-max trick needs K numbers and two
/// logarithms per class: the RSSM draws 32 x 32 classes per state and step.
/// No gradient flows through it.
pub fn sample_one_hot<const D: usize>(probs: Tensor<D>, uniform: Tensor<D>) -> Tensor<D> {
    let k = probs.dims()[D - 1];
    let device = probs.device();
    let cdf = probs.detach().cumsum(D - 1);
    let threshold = uniform * cdf.clone().narrow(D - 1, k - 1, 1);
    // The drawn class is the number of cumulative probabilities at or below
    // the threshold (they never decrease along the axis); the last class
    // counts as reached even where `u * total` rounded up to the total.
    // Element-wise work and one reduction: no concatenation, which would
    // break a fused kernel into pieces.
    let drawn = cdf
        .lower_equal(threshold)
        .float()
        .sum_dim(D - 1)
        .clamp_max((k - 1) as f32); // [.., 1]
    let mut classes = [1; D];
    classes[D - 1] = k;
    let classes = Tensor::<1, Int>::arange(0..k as i64, &device)
        .float()
        .reshape(classes); // [1, .., K]
    classes.equal(drawn).float()
}

/// One-hot of the arg-max along the last axis (ties, which have probability
/// zero under continuous noise, mark every maximal entry).
fn one_hot_of_max<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let max = x.clone().max_dim(D - 1);
    x.greater_equal(max).float().detach()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::{tensor_from_vec, to_vec};
    use burn::tensor::Device;

    #[test]
    fn unimix_mixes_one_percent_uniform() {
        let device = Device::flex();
        // softmax([0, ln 3]) = [0.25, 0.75]; with 1% unimix: 0.99 * p + 0.005.
        let dist =
            OneHotCategorical::new(tensor_from_vec(vec![0.0, 3f32.ln()], [1, 2], &device), 0.01);
        let p = to_vec(dist.probs());
        assert!(
            (p[0] - 0.2525).abs() < 1e-6 && (p[1] - 0.7475).abs() < 1e-6,
            "{p:?}"
        );
        // A near-deterministic softmax keeps at least 0.01 / K on every class.
        let dist = OneHotCategorical::new(
            tensor_from_vec(vec![100.0, 0.0, 0.0, 0.0], [1, 4], &device),
            0.01,
        );
        let p = to_vec(dist.probs());
        assert!((p[1] - 0.0025).abs() < 1e-7, "{p:?}");
    }

    #[test]
    fn entropy_and_log_prob_match_hand_values() {
        let device = Device::flex();
        let dist =
            OneHotCategorical::new(tensor_from_vec(vec![0.0, 3f32.ln()], [1, 2], &device), 0.0);
        let h = to_vec(dist.entropy())[0];
        let expected = -(0.25f32 * 0.25f32.ln() + 0.75 * 0.75f32.ln());
        assert!((h - expected).abs() < 1e-6);
        let lp = to_vec(dist.log_prob(tensor_from_vec(vec![0.0, 1.0], [1, 2], &device)))[0];
        assert!((lp - 0.75f32.ln()).abs() < 1e-6);
    }

    #[test]
    fn samples_follow_the_probabilities() {
        use rand::{RngExt, SeedableRng};
        let device = Device::flex();
        let n = 8000;
        // p = [0.1, 0.2, 0.3, 0.4]; every draw is one-hot.
        let logits = tensor_from_vec(
            [1f32, 2.0, 3.0, 4.0].map(f32::ln).repeat(n),
            [n, 4],
            &device,
        );
        let dist = OneHotCategorical::new(logits, 0.0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let noise: Vec<f32> = (0..n).map(|_| rng.random::<f32>()).collect();
        let samples = to_vec(dist.sample(tensor_from_vec(noise, [n, 1], &device)));
        assert!(
            samples
                .chunks(4)
                .all(|s| s.iter().sum::<f32>() == 1.0 && s.iter().all(|&x| x == 0.0 || x == 1.0))
        );
        for (class, p) in [0.1f32, 0.2, 0.3, 0.4].into_iter().enumerate() {
            let freq = samples.chunks(4).map(|s| s[class]).sum::<f32>() / n as f32;
            // Four standard errors of a frequency over 8000 draws: <= 0.022.
            assert!(
                (freq - p).abs() < 0.022,
                "class {class} drawn with frequency {freq}, expected {p}"
            );
        }
    }

    #[test]
    fn inverse_cdf_picks_the_class_whose_interval_holds_u() {
        let device = Device::flex();
        // Cumulative [0.1, 0.3, 0.6, 1.0]: u = 0 -> 0, 0.15 -> 1, 0.35 -> 2,
        // 0.999 -> 3, and u just below one -> the last class.
        let probs = tensor_from_vec([0.1f32, 0.2, 0.3, 0.4].repeat(5), [5, 4], &device);
        let u = tensor_from_vec(
            vec![0.0, 0.15, 0.35, 0.999, 1.0 - f32::EPSILON / 2.0],
            [5, 1],
            &device,
        );
        let samples = to_vec(sample_one_hot(probs, u));
        let drawn: Vec<usize> = samples
            .chunks(4)
            .map(|s| s.iter().position(|&x| x == 1.0).unwrap())
            .collect();
        assert_eq!(drawn, vec![0, 1, 2, 3, 3], "{samples:?}");
        // Rows whose probabilities sum to a little less than one still draw
        // exactly one class.
        let probs = tensor_from_vec(vec![0.5, 0.4999], [1, 2], &device);
        let u = tensor_from_vec(vec![0.99999], [1, 1], &device);
        assert_eq!(to_vec(sample_one_hot(probs, u)), vec![0.0, 1.0]);
        // A class of probability zero is never drawn, even at its edge.
        let probs = tensor_from_vec(vec![0.5, 0.0, 0.5], [1, 3], &device);
        let u = tensor_from_vec(vec![0.5], [1, 1], &device);
        assert_eq!(to_vec(sample_one_hot(probs, u)), vec![0.0, 0.0, 1.0]);
    }

    #[test]
    fn straight_through_gradient_is_the_probabilities_gradient() {
        let device = Device::flex().autodiff();
        let logits = tensor_from_vec(vec![0.0, 3f32.ln()], [1, 2], &device).require_grad();
        let dist = OneHotCategorical::new(logits.clone(), 0.0);
        // u = 0.5 lies in class 1's interval [0.25, 1).
        let noise = tensor_from_vec(vec![0.5], [1, 1], &device);
        // Loss = sample . w with w = [1, 2]: d/dlogits = J_softmax^T w.
        let w = tensor_from_vec(vec![1.0, 2.0], [1, 2], &device);
        let sample = dist.sample_straight_through(noise);
        // The value is the one-hot sample (up to the rounding of `p - p`).
        let value = to_vec(sample.clone().detach());
        assert!(
            (value[0] - 0.0).abs() < 1e-6 && (value[1] - 1.0).abs() < 1e-6,
            "{value:?}"
        );
        let grads = (sample * w).sum().backward();
        let g = to_vec(logits.grad(&grads).expect("gradient reaches the logits"));
        // p = [0.25, 0.75]; J^T w = p * (w - p.w) = [0.25 * (1 - 1.75), 0.75 * (2 - 1.75)].
        assert!(
            (g[0] + 0.1875).abs() < 1e-6 && (g[1] - 0.1875).abs() < 1e-6,
            "{g:?}"
        );
    }
}

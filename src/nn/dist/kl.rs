//! KL divergence between categorical latents and DreamerV3's KL balancing
//! with free bits (Hafner et al. 2023, eq. 5).
//!
//! The dynamics loss `max(1, KL(sg(post) || prior))` trains the prior
//! towards the posterior; the representation loss
//! `max(1, KL(post || sg(prior)))` keeps the posterior predictable. Clipping
//! below one nat ("free bits") stops both once they are small, so the model
//! spends its capacity on prediction instead of squeezing the latent.

use burn::tensor::Tensor;

/// `KL(p || q)` between categoricals given as log-probabilities over the
/// last axis, summed over the latent axis.
///
/// # Shapes
/// `[B, S, K]`, `[B, S, K]` -> `[B]`
pub fn categorical_kl(log_p: Tensor<3>, log_q: Tensor<3>) -> Tensor<1> {
    let p = log_p.clone().exp();
    (p * (log_p - log_q))
        .sum_dim(2)
        .sum_dim(1)
        .flatten::<1>(0, 2)
}

/// The two balanced KL terms of one batch of posterior/prior pairs.
#[derive(Debug, Clone)]
pub struct BalancedKl {
    /// `max(free, KL(sg(post) || prior))` per element `[B]`: trains the prior.
    pub dynamics: Tensor<1>,
    /// `max(free, KL(post || sg(prior)))` per element `[B]`: trains the posterior.
    pub representation: Tensor<1>,
    /// The unclipped KL (no gradient) `[B]`, for logging.
    pub raw: Tensor<1>,
}

/// DreamerV3's balanced KL with `free_nats` free bits.
///
/// # Shapes
/// posterior and prior log-probabilities `[B, S, K]`
pub fn balanced_kl(
    post_log_probs: Tensor<3>,
    prior_log_probs: Tensor<3>,
    free_nats: f32,
) -> BalancedKl {
    let dynamics = categorical_kl(post_log_probs.clone().detach(), prior_log_probs.clone());
    let representation = categorical_kl(post_log_probs, prior_log_probs.detach());
    BalancedKl {
        raw: dynamics.clone().detach(),
        dynamics: dynamics.clamp_min(free_nats),
        representation: representation.clamp_min(free_nats),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::{tensor_from_vec, to_vec};
    use burn::tensor::Device;

    fn log_probs(values: Vec<f32>, device: &Device) -> Tensor<3> {
        let n = values.len();
        tensor_from_vec(values, [1, 1, n], device).log()
    }

    #[test]
    fn kl_matches_hand_value_and_sums_latents() {
        let device = Device::flex();
        // KL([0.5, 0.5] || [0.25, 0.75]) = 0.5 ln 2 + 0.5 ln(2/3) = 0.143841.
        let kl = to_vec(categorical_kl(
            log_probs(vec![0.5, 0.5], &device),
            log_probs(vec![0.25, 0.75], &device),
        ))[0];
        assert!((kl - 0.143841).abs() < 1e-5, "{kl}");
        // Two identical latents: twice the KL.
        let p = tensor_from_vec(vec![0.5, 0.5, 0.5, 0.5], [1, 2, 2], &device).log();
        let q = tensor_from_vec(vec![0.25, 0.75, 0.25, 0.75], [1, 2, 2], &device).log();
        let kl2 = to_vec(categorical_kl(p, q))[0];
        assert!((kl2 - 2.0 * 0.143841).abs() < 1e-5);
    }

    #[test]
    fn free_bits_clip_below_one_nat_and_stop_the_gradient() {
        let device = Device::flex().autodiff();
        let prior = log_probs(vec![0.25, 0.75], &device).require_grad();
        let post = log_probs(vec![0.5, 0.5], &device).require_grad();
        let kl = balanced_kl(post.clone(), prior.clone(), 1.0);
        assert_eq!(to_vec(kl.dynamics.clone().detach()), vec![1.0]);
        assert!((to_vec(kl.raw.clone())[0] - 0.143841).abs() < 1e-5);
        // Below the free bits the clipped loss has no gradient.
        let grads = (kl.dynamics + kl.representation).sum().backward();
        let g = prior.grad(&grads).map(to_vec).unwrap_or_default();
        assert!(g.iter().all(|v| *v == 0.0), "{g:?}");
    }

    #[test]
    fn balancing_sends_each_term_to_one_side() {
        let device = Device::flex().autodiff();
        // Far apart (KL > 1 nat) so the free bits do not clip.
        let prior = log_probs(vec![0.01, 0.99], &device).require_grad();
        let post = log_probs(vec![0.99, 0.01], &device).require_grad();
        let kl = balanced_kl(post.clone(), prior.clone(), 1.0);
        let grads = kl.dynamics.sum().backward();
        assert!(
            prior.grad(&grads).is_some(),
            "dynamics loss trains the prior"
        );
        assert!(
            post.grad(&grads)
                .is_none_or(|g| to_vec(g).iter().all(|v| *v == 0.0)),
            "and not the posterior"
        );
        let prior = log_probs(vec![0.01, 0.99], &device).require_grad();
        let post = log_probs(vec![0.99, 0.01], &device).require_grad();
        let grads = balanced_kl(post.clone(), prior.clone(), 1.0)
            .representation
            .sum()
            .backward();
        assert!(
            post.grad(&grads).is_some(),
            "representation loss trains the posterior"
        );
        assert!(
            prior
                .grad(&grads)
                .is_none_or(|g| to_vec(g).iter().all(|v| *v == 0.0)),
            "and not the prior"
        );
    }
}

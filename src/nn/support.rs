//! MuZero's value transform (Pohlen et al. 2018, used by MuZero appendix F):
//! `h(x) = sign(x)(sqrt(|x| + 1) - 1) + eps x` with eps = 0.001, and its
//! exact closed-form inverse. Values and rewards are predicted as
//! categorical distributions over integer points of h's range.

use burn::tensor::Tensor;

/// MuZero's epsilon in `h`.
pub const MUZERO_EPS: f32 = 0.001;

/// `h(x)`, element-wise.
pub fn h_transform<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clone().sign() * ((x.clone().abs() + 1.0).sqrt() - 1.0) + x * MUZERO_EPS
}

/// The exact inverse of [`h_transform`]:
/// `sign(y) (((sqrt(1 + 4 eps (|y| + 1 + eps)) - 1) / (2 eps))^2 - 1)`.
pub fn h_inverse<const D: usize>(y: Tensor<D>) -> Tensor<D> {
    let eps = MUZERO_EPS;
    let inner = ((y.clone().abs() + 1.0 + eps) * (4.0 * eps) + 1.0).sqrt() - 1.0;
    y.sign() * ((inner / (2.0 * eps)).powi_scalar(2) - 1.0)
}

/// Scalar [`h_transform`].
pub fn h_f32(x: f32) -> f32 {
    x.signum() * ((x.abs() + 1.0).sqrt() - 1.0) + MUZERO_EPS * x
}

/// Scalar [`h_inverse`], computed in f64 for accuracy.
pub fn h_inverse_f32(y: f32) -> f32 {
    let (y, eps) = (y as f64, MUZERO_EPS as f64);
    let inner = ((1.0 + 4.0 * eps * (y.abs() + 1.0 + eps)).sqrt() - 1.0) / (2.0 * eps);
    (y.signum() * (inner * inner - 1.0)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::{tensor_from_vec, to_vec};
    use burn::tensor::Device;

    #[test]
    fn h_matches_hand_values() {
        // h(3) = sqrt(4) - 1 + 0.003 = 1.003; h(-8) = -(3 - 1) - 0.008 = -2.008; h(0) = 0.
        let device = Device::flex();
        let y = to_vec(h_transform(tensor_from_vec(
            vec![3.0, -8.0, 0.0],
            [3],
            &device,
        )));
        assert!(
            (y[0] - 1.003).abs() < 1e-6 && (y[1] + 2.008).abs() < 1e-6 && y[2] == 0.0,
            "{y:?}"
        );
        assert!((h_f32(3.0) - 1.003).abs() < 1e-6);
    }

    #[test]
    fn inverse_is_exact_over_a_wide_range() {
        let device = Device::flex();
        let xs: Vec<f32> = vec![-300.0, -10.0, -0.5, 0.0, 0.25, 1.0, 42.0, 300.0, 5000.0];
        let back = to_vec(h_inverse(h_transform(tensor_from_vec(
            xs.clone(),
            [xs.len()],
            &device,
        ))));
        for (a, b) in back.iter().zip(&xs) {
            assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0), "{a} vs {b}");
        }
        for &x in &xs {
            assert!((h_inverse_f32(h_f32(x)) - x).abs() <= 1e-4 * x.abs().max(1.0));
        }
    }
}

//! The symmetric logarithm of DreamerV3 (Hafner et al. 2023, eq. 1):
//! `symlog(x) = sign(x) ln(|x| + 1)` compresses large magnitudes while
//! staying the identity near zero, so vector observations, rewards and
//! values of any scale can be predicted with one set of hyperparameters.

use burn::tensor::Tensor;

/// `sign(x) * ln(|x| + 1)`, element-wise.
pub fn symlog<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clone().sign() * x.abs().log1p()
}

/// The inverse of [`symlog`]: `sign(x) * (exp(|x|) - 1)`.
pub fn symexp<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clone().sign() * (x.abs().exp() - 1.0)
}

/// Scalar [`symlog`].
pub fn symlog_f32(x: f32) -> f32 {
    x.signum() * x.abs().ln_1p()
}

/// Scalar [`symexp`].
pub fn symexp_f32(x: f32) -> f32 {
    x.signum() * x.abs().exp_m1()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::{tensor_from_vec, to_vec};
    use burn::tensor::Device;

    #[test]
    fn symlog_matches_hand_values_and_inverts() {
        let device = Device::flex();
        let xs = vec![-100.0, -1.0, 0.0, 0.5, 1.0, 1000.0];
        let y = to_vec(symlog(tensor_from_vec(xs.clone(), [6], &device)));
        // ln(101) = 4.61512, ln(2) = 0.693147, ln(1.5) = 0.405465, ln(1001) = 6.908755
        let expected = [
            -4.61512,
            -std::f32::consts::LN_2,
            0.0,
            0.405465,
            std::f32::consts::LN_2,
            6.908755,
        ];
        for (a, b) in y.iter().zip(expected) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        let back = to_vec(symexp(tensor_from_vec(y, [6], &device)));
        for (a, b) in back.iter().zip(&xs) {
            assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0), "{a} vs {b}");
        }
        assert_eq!(symlog_f32(0.0), 0.0);
        assert!((symexp_f32(symlog_f32(-37.5)) + 37.5).abs() < 1e-4);
    }
}

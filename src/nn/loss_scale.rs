//! Dynamic loss scaling for training in f16.
//!
//! f16 has few exponents: its smallest positive number is 6e-8 and its
//! largest 65,504. A backward pass in f16 turns every gradient smaller than
//! that (and, on GPUs that flush subnormal numbers, every one below 6.1e-5)
//! into zero, and the weight it belongs to stops learning without any
//! error. Multiplying the loss by a scale `S` multiplies every gradient by
//! `S`, lifting the small ones into f16's range; right after the backward
//! pass the gradients are widened to f32 and divided by `S` again, so
//! clipping and the optimiser (which in half precision steps f32 master
//! weights, [`super::master_weights`]) see the true gradients.
//!
//! Too large an `S` makes some gradient overflow to infinity instead: that
//! step is skipped and `S` halved. After [`GROWTH_INTERVAL`] steps without
//! overflow `S` doubles, so it stays near the largest safe value
//! (Micikevicius et al., 2018, "Mixed precision training"; PyTorch's
//! `GradScaler` follows the same schedule). bf16 keeps f32's exponent
//! range and is not scaled.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, FloatDType, Tensor};
use serde::{Deserialize, Serialize};

use crate::logging::Scalar;

/// The first scale: 2^15, the largest power of two f16 can hold (the scale
/// multiplies the loss in the device's float type).
pub const INITIAL_SCALE: f32 = 32_768.0;

/// Steps without overflow after which the scale doubles.
pub const GROWTH_INTERVAL: u32 = 2_000;

/// The loss scale of one optimiser and its history (saved in checkpoints,
/// so a resumed run goes on with the scale it had).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossScale {
    /// The factor the loss is multiplied by.
    pub scale: f32,
    /// Steps since the scale last changed.
    pub finite_steps: u32,
}

impl Default for LossScale {
    fn default() -> Self {
        LossScale {
            scale: INITIAL_SCALE,
            finite_steps: 0,
        }
    }
}

impl LossScale {
    /// Whether losses computed on `device` need scaling: in f16, not in
    /// f32 or bf16.
    pub fn applies_on(device: &Device) -> bool {
        device.settings().float_dtype == FloatDType::F16
    }

    /// `loss` times the scale, to differentiate.
    pub fn scale_loss(&self, loss: Tensor<1>) -> Tensor<1> {
        loss * self.scale
    }

    /// `module`'s gradients in `grads`, computed from a scaled loss, widened
    /// to f32 and divided by the scale (in f32: dividing in f16 would
    /// underflow the small gradients again).
    pub fn unscale<M: Module>(&self, module: &M, grads: &mut GradientsParams) {
        module.visit(&mut Unscale {
            grads,
            factor: 1.0 / self.scale,
        });
    }

    /// Records a step whose unscaled gradients were all finite or not, and
    /// says whether to apply it. An overflow halves the scale and skips the
    /// step; a non-finite gradient at a scale of 1 is the model's own, not
    /// the scale's, and goes on to the run's finiteness checks.
    pub fn update(&mut self, finite: bool) -> bool {
        if finite {
            self.finite_steps += 1;
            if self.finite_steps >= GROWTH_INTERVAL {
                self.scale = (self.scale * 2.0).min(INITIAL_SCALE);
                self.finite_steps = 0;
            }
            true
        } else if self.scale > 1.0 {
            self.scale = (self.scale / 2.0).max(1.0);
            self.finite_steps = 0;
            false
        } else {
            true
        }
    }

    /// Whether to apply an optimiser step whose unscaled gradients were all
    /// `finite`: always without `scaling`; with it, as [`Self::update`]
    /// says, logging `{prefix}/loss_scale` and `{prefix}/skipped_step` (1
    /// for a skipped step, so its mean over a log interval is the fraction
    /// skipped).
    pub fn apply_step(
        &mut self,
        scaling: bool,
        finite: bool,
        prefix: &str,
        metrics: &mut Vec<Scalar>,
    ) -> bool {
        if !scaling {
            return true;
        }
        let apply = self.update(finite);
        metrics.push((format!("{prefix}/loss_scale"), self.scale as f64));
        metrics.push((format!("{prefix}/skipped_step"), (!apply) as u8 as f64));
        apply
    }
}

struct Unscale<'a> {
    grads: &'a mut GradientsParams,
    factor: f32,
}

impl ModuleVisitor for Unscale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let wide = g.cast(FloatDType::F32) * self.factor;
            self.grads.register(param.id, wide);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_halves_the_scale_and_skips_the_step() {
        let mut s = LossScale::default();
        assert!(!s.update(false));
        assert_eq!(s.scale, 16_384.0);
        assert!(!s.update(false));
        assert_eq!(s.scale, 8_192.0);
        assert!(s.update(true));
        assert_eq!((s.scale, s.finite_steps), (8_192.0, 1));
    }

    #[test]
    fn finite_steps_double_the_scale_up_to_the_initial_one() {
        let mut s = LossScale {
            scale: 8_192.0,
            finite_steps: 0,
        };
        for _ in 0..GROWTH_INTERVAL - 1 {
            assert!(s.update(true));
        }
        assert_eq!(s.scale, 8_192.0);
        assert!(s.update(true));
        assert_eq!((s.scale, s.finite_steps), (16_384.0, 0));
        for _ in 0..3 * GROWTH_INTERVAL {
            s.update(true);
        }
        assert_eq!(s.scale, INITIAL_SCALE, "2^16 would overflow f16 itself");
    }

    #[test]
    fn a_non_finite_gradient_at_scale_one_is_let_through() {
        let mut s = LossScale {
            scale: 1.0,
            finite_steps: 5,
        };
        assert!(s.update(false), "the run's own checks must see it");
        assert_eq!(s.scale, 1.0);
    }
}

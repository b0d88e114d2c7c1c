//! LaProp with adaptive gradient clipping: the optimiser of DreamerV3's
//! 2025 design (`dreamer.optimizer.kind = "laprop"`).
//!
//! Adam divides its *momentum* by the RMS of past gradients; LaProp
//! (Ziyin et al., 2020) divides each *gradient* by that RMS first and takes
//! momentum of the result, which decouples the two betas and stays stable
//! for any pair of them. Before that, adaptive gradient clipping (Brock et
//! al., 2021), per tensor as in the DreamerV3 code, shortens a gradient
//! whose norm exceeds `agc * max(pmin, ||parameter||)`: updates stay small
//! relative to the weights they change, whatever the loss scale.
//!
//! Per parameter tensor `w` with gradient `g`, at step `t`:
//!
//! ```text
//! g <- g * min(1, agc * max(pmin, |w|) / |g|)
//! v <- b2 v + (1 - b2) g^2            (RMS of gradients)
//! s  = g / (sqrt(v / (1 - b2^t)) + eps)
//! m <- b1 m + (1 - b1) s              (momentum of scaled gradients)
//! w <- w - lr * m / (1 - b1^t)
//! ```

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource};
use burn::store::burn_pack::Scalar;
use burn::tensor::{Device, Tensor};

use super::master_weights::{take_as_recorded, take_time};

/// LaProp's hyperparameters (defaults: the DreamerV3 2025 code's).
#[derive(Debug, Clone, Copy)]
pub struct Laprop {
    /// Momentum decay.
    pub beta_momentum: f32,
    /// RMS decay.
    pub beta_rms: f32,
    /// Added to the RMS before dividing.
    pub eps: f32,
    /// Adaptive gradient clipping ratio (0 = off).
    pub agc: f32,
    /// Smallest parameter norm AGC measures against (so zero-initialised
    /// layers can still move).
    pub pmin: f32,
}

impl Default for Laprop {
    fn default() -> Self {
        Laprop {
            beta_momentum: 0.9,
            beta_rms: 0.999,
            eps: 1e-20,
            agc: 0.3,
            pmin: 1e-3,
        }
    }
}

impl Laprop {
    /// `grad`, shortened so its norm is at most `agc * max(pmin, |param|)`.
    fn clip<const D: usize>(&self, grad: Tensor<D>, param: &Tensor<D>) -> Tensor<D> {
        let grad_norm = grad.clone().powi_scalar(2).sum().sqrt();
        let param_norm = param
            .clone()
            .powi_scalar(2)
            .sum()
            .sqrt()
            .clamp_min(self.pmin);
        let factor = (param_norm * self.agc / grad_norm.clamp_min(f32::MIN_POSITIVE))
            .clamp_max(1.0)
            .unsqueeze::<D>();
        grad * factor
    }
}

/// LaProp's state of one parameter tensor.
#[derive(Clone)]
pub struct LapropState<const D: usize> {
    /// Steps taken.
    pub time: usize,
    /// Running mean of squared gradients.
    pub rms: Tensor<D>,
    /// Running mean of RMS-scaled gradients.
    pub momentum: Tensor<D>,
}

// burn's `RecordState` derive expands to paths private to burn-optim, so
// the checkpoint form is written out: two tensors and the step count.
impl<const D: usize> RecordState for LapropState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "rms", self.rms.to_data());
        out.push_tensor(prefix, "momentum", self.momentum.to_data());
        out.push_scalar(prefix, "time", Scalar::UInt(self.time as u64));
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        Some(LapropState {
            time: take_time(src, prefix)?,
            rms: take_as_recorded(src, prefix, "rms", device)?,
            momentum: take_as_recorded(src, prefix, "momentum", device)?,
        })
    }
}

impl Optimizer for Laprop {
    type State<const D: usize> = LapropState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let grad = if self.agc > 0.0 {
            self.clip(grad, &tensor)
        } else {
            grad
        };
        let (time, rms, momentum) = match state {
            Some(s) => (s.time + 1, s.rms, s.momentum),
            None => (1, grad.zeros_like(), grad.zeros_like()),
        };
        let (b1, b2) = (self.beta_momentum, self.beta_rms);
        let rms = rms * b2 + grad.clone().powi_scalar(2) * (1.0 - b2);
        let rms_hat = rms.clone() / (1.0 - b2.powi(time as i32));
        let scaled = grad / (rms_hat.sqrt() + self.eps);
        let momentum = momentum * b1 + scaled * (1.0 - b1);
        let update = momentum.clone() / (1.0 - b1.powi(time as i32));
        let tensor = tensor - update * lr;
        (
            tensor,
            Some(LapropState {
                time,
                rms,
                momentum,
            }),
        )
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        LapropState {
            time: state.time,
            rms: state.rms.to_device(device),
            momentum: state.momentum.to_device(device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::to_vec;

    fn step(
        opt: &Laprop,
        w: &[f32],
        g: &[f32],
        state: Option<LapropState<1>>,
    ) -> (Vec<f32>, LapropState<1>) {
        let device = Device::flex();
        let (w, s) = opt.step(
            0.1,
            Tensor::<1>::from_floats(w, &device),
            Tensor::<1>::from_floats(g, &device),
            state,
        );
        (to_vec(w), s.unwrap())
    }

    fn close(a: &[f32], b: &[f32]) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn first_step_moves_by_lr_times_the_gradient_sign() {
        // t = 1: v_hat = g^2, s = g / |g| = sign(g), m_hat = s.
        let opt = Laprop {
            agc: 0.0,
            ..Laprop::default()
        };
        let (w, _) = step(&opt, &[1.0, 1.0, 1.0], &[3.0, -0.5, 0.0], None);
        close(&w, &[0.9, 1.1, 1.0]);
    }

    #[test]
    fn second_step_matches_the_hand_computed_update() {
        let opt = Laprop {
            agc: 0.0,
            ..Laprop::default()
        };
        let (w, s) = step(&opt, &[1.0], &[2.0], None);
        let (w, _) = step(&opt, &w, &[1.0], Some(s));
        // v = 0.999 * 0.004 + 0.001 * 1 = 0.004996; v_hat = v / (1 - 0.999^2)
        let v_hat = 0.004996f64 / (1.0 - 0.999f64.powi(2));
        // m = 0.9 * 0.1 * 1 + 0.1 * (1 / sqrt(v_hat)); m_hat = m / (1 - 0.81)
        let m = 0.09 + 0.1 / v_hat.sqrt();
        let expected = 0.9 - 0.1 * m / 0.19;
        close(&w, &[expected as f32]);
    }

    #[test]
    fn state_survives_a_checkpoint_round_trip() {
        let opt = Laprop::default();
        let (_, state) = step(&opt, &[1.0, 2.0], &[0.5, -0.25], None);
        let mut sink = StateSink::default();
        state.state_flatten("p", &mut sink);
        let mut source = StateSource::new(sink.scalars.into_iter().collect());
        for (name, data) in sink.tensors {
            source.insert_tensor(name, data);
        }
        let back = LapropState::<1>::state_unflatten("p", &mut source, &Device::flex()).unwrap();
        assert_eq!(back.time, 1);
        close(&to_vec(back.rms), &to_vec(state.rms));
        close(&to_vec(back.momentum), &to_vec(state.momentum));
    }

    #[test]
    fn agc_shortens_gradients_large_against_their_weights() {
        let opt = Laprop::default();
        let device = Device::flex();
        let w = Tensor::<1>::from_floats([3.0, 4.0], &device); // |w| = 5
        // |g| = 10 > 0.3 * 5: scaled to norm 1.5, direction kept.
        let g = opt.clip(Tensor::<1>::from_floats([6.0, 8.0], &device), &w);
        close(&to_vec(g), &[0.9, 1.2]);
        // A small gradient passes unchanged.
        let g = opt.clip(Tensor::<1>::from_floats([0.6, 0.8], &device), &w);
        close(&to_vec(g), &[0.6, 0.8]);
        // Zero weights: measured against pmin = 1e-3.
        let zero = Tensor::<1>::from_floats([0.0, 0.0], &device);
        let g = opt.clip(Tensor::<1>::from_floats([6.0, 8.0], &device), &zero);
        close(&to_vec(g), &[0.00018, 0.00024]);
    }

    /// Five steps of the 2025 code's optimiser chain (AGC, RMS, momentum,
    /// warmed-up rate), recorded by `scripts/record_dreamerv3_2025.py`: a
    /// weight matrix and a zero bias (clipped against `pmin`), gradients
    /// alternately far larger and smaller than the weights.
    #[test]
    fn five_steps_match_the_2025_reference() {
        use crate::dreamer::{OptimizerConfig, OptimizerKind};
        use crate::nn::recorded::{dreamerv3_2025, flat};
        let recording = dreamerv3_2025();
        let r = &recording["laprop"];
        let config = OptimizerConfig {
            kind: OptimizerKind::Laprop,
            laprop_lr: r["lr"].as_f64().unwrap(),
            warmup: r["warmup"].as_u64().unwrap() as usize,
            ..OptimizerConfig::default()
        };
        let opt = Laprop::default();
        let device = Device::flex();
        for (key, shape) in [("kernel", [2, 3]), ("bias", [1, 3])] {
            let mut w =
                crate::nn::tensor_util::tensor_from_vec(flat(&r["initial"][key]), shape, &device);
            let mut state = None;
            for (t, grad) in r["grads"].as_array().unwrap().iter().enumerate() {
                let lr = config.lr(0.0, t as u64);
                let want_lr = r["rates"][t].as_f64().unwrap();
                assert!((lr - want_lr).abs() < 1e-8, "rate {t}: {lr} vs {want_lr}");
                let g = crate::nn::tensor_util::tensor_from_vec(flat(&grad[key]), shape, &device);
                let (next, s) = opt.step(lr, w, g, state);
                (w, state) = (next, s);
                let want = flat(&r["after"][t][key]);
                let got = to_vec(w.clone());
                for (a, b) in got.iter().zip(&want) {
                    assert!(
                        (a - b).abs() <= 1e-6 + 1e-5 * b.abs(),
                        "{key} after step {t}: {got:?} vs {want:?}"
                    );
                }
            }
        }
    }
}

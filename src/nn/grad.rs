//! Gradient clipping by the global norm over a whole module.
//!
//! burn's optimisers clip each parameter tensor on its own; DreamerV3 clips
//! the norm of all of a module's gradients taken together (1000 for the
//! world model, 100 for actor and critic), which keeps the direction of the
//! update and only shortens it.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{FloatDType, Tensor};

/// Sums squared gradients on the device; the total is read back once (one
/// synchronisation per module, not one per parameter tensor).
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            // In f32: one f16 gradient above 256 squares to infinity.
            let squares = g.cast(FloatDType::F32).powi_scalar(2).sum();
            self.total = Some(match self.total.take() {
                Some(total) => total + squares,
                None => squares,
            });
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f32,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, g * self.factor);
        }
    }
}

/// The global L2 norm of `module`'s gradients in `grads`.
pub fn global_norm<M: Module>(module: &M, grads: &GradientsParams) -> f32 {
    let mut visitor = SquaredNorm { grads, total: None };
    module.visit(&mut visitor);
    visitor
        .total
        .map_or(0.0, |total| total.sqrt().into_scalar::<f32>())
}

/// Scale `grads` so their global norm is at most `max_norm`; returns the norm before clipping.
pub fn clip_global_norm<M: Module>(module: &M, grads: &mut GradientsParams, max_norm: f32) -> f32 {
    let norm = global_norm(module, grads);
    if norm.is_finite() && norm > max_norm {
        module.visit(&mut Scale {
            grads,
            factor: max_norm / norm,
        });
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::mlp::zero_linear;
    use crate::nn::tensor_util::tensor_from_vec;
    use burn::tensor::Device;

    #[test]
    fn clips_to_the_global_norm() {
        let device = Device::flex().autodiff();
        // Zero-initialised 2 -> 1 layer; loss = out * 1 on input [3, 4]:
        // grad of weight = [3, 4], of bias = [1], global norm sqrt(9 + 16 + 1) = sqrt(26).
        let layer = zero_linear(2, 1, &device);
        let x = tensor_from_vec(vec![3.0, 4.0], [1, 2], &device);
        let mut grads = GradientsParams::from_grads(layer.forward(x).sum().backward(), &layer);
        let norm = clip_global_norm(&layer, &mut grads, 1.0);
        assert!((norm - 26f32.sqrt()).abs() < 1e-5);
        assert!((global_norm(&layer, &grads) - 1.0).abs() < 1e-5);
        let w = grads.get::<2>(layer.weight.id).unwrap();
        let w = crate::nn::tensor_util::to_vec(w);
        assert!(
            (w[0] - 3.0 / 26f32.sqrt()).abs() < 1e-5,
            "direction kept: {w:?}"
        );
    }

    /// The data-parallel pattern of `DreamerAgent::train_step`: shards on
    /// forked copies, losses weighted by their share, gradients moved to
    /// the main device and summed against the main module, equal the
    /// full batch's gradient.
    #[test]
    fn weighted_shard_gradients_sum_to_the_full_batch_gradient() {
        use crate::nn::mlp::Mlp;
        use crate::nn::norm::NormKind;
        use burn::module::Module;
        use burn::optim::GradientsAccumulator;

        let device = Device::flex().autodiff();
        let mlp = Mlp::new(3, 8, 2, NormKind::Layer, &device);
        let x: Vec<f32> = (0..15).map(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0).collect();
        let loss = |m: &Mlp, rows: std::ops::Range<usize>| {
            let n = rows.len();
            let input = tensor_from_vec(x[rows.start * 3..rows.end * 3].to_vec(), [n, 3], &device);
            m.forward(input).powi_scalar(2).mean()
        };
        let full = GradientsParams::from_grads(loss(&mlp, 0..5).backward(), &mlp);

        let mut sum = GradientsAccumulator::<Mlp>::new();
        for rows in [0..2, 2..5] {
            let weight = rows.len() as f32 / 5.0;
            let replica = mlp.clone().fork(&device);
            let grads =
                GradientsParams::from_grads((loss(&replica, rows) * weight).backward(), &replica)
                    .to_device(&device, &replica);
            sum.accumulate(&mlp, grads);
        }
        let summed = sum.grads();
        let (a, b) = (global_norm(&mlp, &full), global_norm(&mlp, &summed));
        assert!(a > 1e-3, "a gradient to compare: {a}");
        // |full - summed| via the norm of their difference.
        let mut diff = GradientsAccumulator::<Mlp>::new();
        diff.accumulate(&mlp, full);
        let mut negated = summed;
        mlp.visit(&mut Scale {
            grads: &mut negated,
            factor: -1.0,
        });
        diff.accumulate(&mlp, negated);
        let gap = global_norm(&mlp, &diff.grads());
        assert!(gap < 1e-5 * a.max(1.0), "full {a}, summed {b}, gap {gap}");
    }
}

//! Scalars as categoricals over bins: twohot targets, cross-entropy loss and
//! the expected value, shared by DreamerV3 (symlog bins) and MuZero (`h`
//! support).

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Tensor};

use crate::nn::support::{h_inverse, h_transform};
use crate::nn::symlog::{symexp, symlog};
use crate::nn::tensor_util::tensor_from_vec;

/// The transform applied to scalars before they are placed on the bins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScalarTransform {
    /// Bins in the scalar's own units.
    Identity,
    /// DreamerV3 2023: bins evenly spaced in symlog space; targets are
    /// split between neighbouring bins and the mean taken in symlog space.
    Symlog,
    /// DreamerV3 2025 (`symexp_twohot`): the same bin positions, but
    /// targets are split between neighbouring bins in proportion to their
    /// distance in real units, and the mean is the probability-weighted
    /// sum of the bins' real values.
    SymexpTwohot,
    /// MuZero: bins over `h(x)`.
    Muzero,
}

impl ScalarTransform {
    fn forward<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            ScalarTransform::Identity => x,
            ScalarTransform::Symlog | ScalarTransform::SymexpTwohot => symlog(x),
            ScalarTransform::Muzero => h_transform(x),
        }
    }

    fn inverse<const D: usize>(self, y: Tensor<D>) -> Tensor<D> {
        match self {
            ScalarTransform::Identity => y,
            ScalarTransform::Symlog | ScalarTransform::SymexpTwohot => symexp(y),
            ScalarTransform::Muzero => h_inverse(y),
        }
    }
}

/// Evenly spaced bins from `low` to `high` (inclusive) in the transformed space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinSpace {
    /// The first bin's position (transformed units).
    pub low: f32,
    /// The last bin's position (transformed units).
    pub high: f32,
    /// How many bins (at least 2).
    pub bins: usize,
    /// The transform from real units to bin units.
    pub transform: ScalarTransform,
}

impl BinSpace {
    /// DreamerV3: 255 bins on [-20, 20] in symlog space.
    pub fn dreamer() -> Self {
        BinSpace {
            low: -20.0,
            high: 20.0,
            bins: 255,
            transform: ScalarTransform::Symlog,
        }
    }

    /// MuZero: integer support `[-support, support]` over `h(x)` (601 bins for 300).
    pub fn muzero(support: usize) -> Self {
        let s = support as f32;
        BinSpace {
            low: -s,
            high: s,
            bins: 2 * support + 1,
            transform: ScalarTransform::Muzero,
        }
    }

    fn step(&self) -> f32 {
        (self.high - self.low) / (self.bins - 1) as f32
    }

    /// Bin positions `[K]`.
    pub fn positions(&self, device: &Device) -> Tensor<1> {
        let step = self.step();
        let values = (0..self.bins).map(|i| self.low + step * i as f32).collect();
        tensor_from_vec(values, [self.bins], device)
    }

    /// The bins' real values `[K]`: the inverse transform of the positions.
    /// For [`ScalarTransform::SymexpTwohot`] on a space symmetric about 0
    /// the upper half is the exact negation of the lower half, as the 2025
    /// reference builds its bins, so that symmetric probabilities average to
    /// exactly 0.
    pub fn real_values(&self, device: &Device) -> Tensor<1> {
        if self.transform == ScalarTransform::SymexpTwohot && self.low == -self.high {
            let step = self.step();
            let k = self.bins;
            let half: Vec<f32> = (0..k / 2)
                .map(|i| {
                    let y = self.low + step * i as f32;
                    y.signum() * (y.abs().exp() - 1.0)
                })
                .collect();
            let mut values = half.clone();
            if k % 2 == 1 {
                values.push(0.0);
            }
            values.extend(half.iter().rev().map(|v| -v));
            return tensor_from_vec(values, [k], device);
        }
        self.transform.inverse(self.positions(device))
    }

    /// Twohot encoding of real-valued targets.
    ///
    /// The transformed target is split between its two neighbouring bins in
    /// proportion to its distance from each; values outside the range go
    /// wholly to the end bin.
    ///
    /// # Shapes
    /// `target [B]` -> `[B, K]`
    pub fn twohot(&self, target: Tensor<1>) -> Tensor<2> {
        let device = target.device();
        let k = self.bins;
        let y = self.transform.forward(target.clone());
        let position = ((y - self.low) / self.step()).clamp(0.0, (k - 1) as f32); // [B] in bin units
        let below = position.clone().floor();
        let weight_above = match self.transform {
            // Linear between the two bins' real values.
            ScalarTransform::SymexpTwohot => {
                let real = |bin: Tensor<1>| symexp(bin * self.step() + self.low);
                let low_value = real(below.clone());
                let high_value = real((below.clone() + 1.0).clamp_max((k - 1) as f32));
                ((target - low_value.clone()) / (high_value - low_value).clamp_min(1e-30))
                    .clamp(0.0, 1.0)
            }
            _ => position - below.clone(),
        }
        .unsqueeze_dim::<2>(1); // [B, 1]
        let below_index = below.clone().int().unsqueeze_dim::<2>(1);
        let above_index = (below + 1.0)
            .clamp_max((k - 1) as f32)
            .int()
            .unsqueeze_dim::<2>(1);
        let batch = below_index.dims()[0];
        let zeros = Tensor::<2>::zeros([batch, k], &device);
        let below_part = zeros.clone().scatter(
            1,
            below_index,
            weight_above.clone().neg() + 1.0,
            burn::tensor::IndexingUpdateOp::Add,
        );
        below_part.scatter(
            1,
            above_index,
            weight_above,
            burn::tensor::IndexingUpdateOp::Add,
        )
    }
}

/// The sum over bins of `terms [B, K]`, adding each bin's term to its
/// mirror's first (and the middle bin's last): bins of magnitude up to
/// `symexp(20)` would otherwise leave float rounding of that size in a sum
/// that should cancel, e.g. a prediction far from 0 from uniform
/// probabilities (the 2025 reference sums the same way).
///
/// # Shapes
/// `[B, K]` -> `[B]`
fn symmetric_sum(terms: Tensor<2>) -> Tensor<1> {
    let [b, k] = terms.dims();
    let half = k / 2;
    let low = terms.clone().slice([0..b, 0..half]).flip([1]);
    let high = terms.clone().slice([0..b, k - half..k]);
    let mut sum = (low + high).sum_dim(1);
    if k % 2 == 1 {
        sum = sum + terms.slice([0..b, half..half + 1]);
    }
    sum.squeeze_dim::<1>(1)
}

/// A scalar predicted as logits over the bins of a [`BinSpace`].
#[derive(Debug, Clone)]
pub struct BinnedScalar {
    /// Unnormalised log-probabilities `[B, K]`.
    pub logits: Tensor<2>,
    /// Where the bins lie.
    pub space: BinSpace,
}

impl BinnedScalar {
    /// Wrap logits `[B, K]`; `K` must equal the space's bin count.
    pub fn new(logits: Tensor<2>, space: BinSpace) -> Self {
        let [_, k] = logits.dims();
        assert_eq!(
            k, space.bins,
            "BinnedScalar: logits have {k} bins, space has {}",
            space.bins
        );
        BinnedScalar { logits, space }
    }

    /// A scalar known exactly: logits of the twohot encoding of
    /// `values [B]`, so that [`Self::mean`] returns `values` (clipped to the
    /// bins' range). Lets a model with plain scalar outputs serve as a
    /// `RewardModel` or `ValueModel`.
    pub fn point(values: Tensor<1>, space: BinSpace) -> Self {
        BinnedScalar::new(space.twohot(values).clamp_min(1e-30).log(), space)
    }

    /// The predictions of rows `range` of the batch.
    pub fn rows(&self, range: std::ops::Range<usize>) -> Self {
        let k = self.space.bins;
        BinnedScalar::new(self.logits.clone().slice([range, 0..k]), self.space)
    }

    /// Bin probabilities `[B, K]`.
    pub fn probs(&self) -> Tensor<2> {
        softmax(self.logits.clone(), 1)
    }

    /// The prediction in real units `[B]`: the inverse transform of the
    /// expected bin, or for [`ScalarTransform::SymexpTwohot`] the expected
    /// real value.
    pub fn mean(&self) -> Tensor<1> {
        let positions = self
            .space
            .positions(&self.logits.device())
            .unsqueeze_dim::<2>(0);
        if self.space.transform == ScalarTransform::SymexpTwohot {
            let values = self.space.real_values(&self.logits.device());
            return symmetric_sum(self.probs() * values.unsqueeze_dim::<2>(0));
        }
        let expected = (self.probs() * positions).sum_dim(1).squeeze_dim::<1>(1);
        self.space.transform.inverse(expected)
    }

    /// Cross-entropy against the twohot encoding of `target [B]`, per element `[B]`.
    pub fn loss(&self, target: Tensor<1>) -> Tensor<1> {
        let target = self.space.twohot(target.detach());
        (target * log_softmax(self.logits.clone(), 1))
            .sum_dim(1)
            .squeeze_dim::<1>(1)
            .neg()
    }

    /// Cross-entropy against a given target distribution `[B, K]` (for example
    /// a slow critic's probabilities), per element `[B]`.
    pub fn loss_against_probs(&self, target_probs: Tensor<2>) -> Tensor<1> {
        (target_probs.detach() * log_softmax(self.logits.clone(), 1))
            .sum_dim(1)
            .squeeze_dim::<1>(1)
            .neg()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::to_vec;

    fn small(transform: ScalarTransform) -> BinSpace {
        BinSpace {
            low: -2.0,
            high: 2.0,
            bins: 5,
            transform,
        }
    }

    #[test]
    fn twohot_splits_between_neighbours() {
        let device = Device::flex();
        let space = small(ScalarTransform::Identity);
        // 0.25 lies a quarter of the way from bin 2 (0.0) to bin 3 (1.0);
        // -5 is clipped to bin 0; 2.0 sits exactly on the last bin; 1.0 exactly on bin 3.
        let encoded =
            to_vec(space.twohot(tensor_from_vec(vec![0.25, -5.0, 2.0, 1.0], [4], &device)));
        let expected = [
            0.0, 0.0, 0.75, 0.25, 0.0, //
            1.0, 0.0, 0.0, 0.0, 0.0, //
            0.0, 0.0, 0.0, 0.0, 1.0, //
            0.0, 0.0, 0.0, 1.0, 0.0,
        ];
        for (a, b) in encoded.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{encoded:?}");
        }
    }

    #[test]
    fn a_point_scalar_has_its_value_as_mean() {
        let device = Device::flex();
        for transform in [
            ScalarTransform::Identity,
            ScalarTransform::Symlog,
            ScalarTransform::Muzero,
        ] {
            let values = vec![0.3, -1.7, 1.0, 9.0];
            let point = BinnedScalar::point(
                tensor_from_vec(values.clone(), [4], &device),
                small(transform),
            );
            let mean = to_vec(point.mean());
            // 9.0 lies beyond every space's last bin and is clipped to it.
            let last = to_vec(transform.inverse(tensor_from_vec(vec![2.0], [1], &device)))[0];
            for (m, v) in mean.iter().zip([0.3, -1.7, 1.0, last]) {
                assert!((m - v).abs() < 1e-4, "{transform:?}: {mean:?}");
            }
        }
    }

    #[test]
    fn twohot_in_symlog_space() {
        // symlog(e - 1) = 1.0 exactly -> all mass on the bin at 1.0.
        let device = Device::flex();
        let encoded = to_vec(small(ScalarTransform::Symlog).twohot(tensor_from_vec(
            vec![std::f32::consts::E - 1.0],
            [1],
            &device,
        )));
        assert!((encoded[3] - 1.0).abs() < 1e-5, "{encoded:?}");
    }

    #[test]
    fn mean_inverts_the_transform_of_the_expected_bin() {
        let device = Device::flex();
        // Logits equal -> uniform over {-2..2} -> expected bin 0 -> mean 0.
        let uniform = BinnedScalar::new(
            Tensor::zeros([1, 5], &device),
            small(ScalarTransform::Symlog),
        );
        assert!(to_vec(uniform.mean())[0].abs() < 1e-6);
        // Nearly all mass on bin 1.0 in symlog space -> mean symexp(1) = e - 1.
        let peaked = BinnedScalar::new(
            tensor_from_vec(vec![-30.0, -30.0, -30.0, 30.0, -30.0], [1, 5], &device),
            small(ScalarTransform::Symlog),
        );
        assert!((to_vec(peaked.mean())[0] - (std::f32::consts::E - 1.0)).abs() < 1e-4);
    }

    #[test]
    fn loss_is_cross_entropy_with_the_twohot_target() {
        let device = Device::flex();
        // Uniform logits over 5 bins: CE = ln 5 whatever the target.
        let dist = BinnedScalar::new(
            Tensor::zeros([2, 5], &device),
            small(ScalarTransform::Identity),
        );
        let loss = to_vec(dist.loss(tensor_from_vec(vec![0.3, -1.7], [2], &device)));
        for l in loss {
            assert!((l - 5f32.ln()).abs() < 1e-5);
        }
        // Logits [0, ln 3, 0, 0, 0] (probs 1/7, 3/7, 1/7, 1/7, 1/7), target -1.5 = halfway
        // between bins 0 and 1: CE = -(0.5 ln(1/7) + 0.5 ln(3/7)) = ln 7 - 0.5 ln 3.
        let dist = BinnedScalar::new(
            tensor_from_vec(vec![0.0, 3f32.ln(), 0.0, 0.0, 0.0], [1, 5], &device),
            small(ScalarTransform::Identity),
        );
        let loss = to_vec(dist.loss(tensor_from_vec(vec![-1.5], [1], &device)))[0];
        assert!(
            (loss - (7f32.ln() - 0.5 * 3f32.ln())).abs() < 1e-5,
            "{loss}"
        );
    }

    #[test]
    fn dreamer_and_muzero_spaces_have_the_paper_sizes() {
        let device = Device::flex();
        let d = BinSpace::dreamer();
        assert_eq!(d.bins, 255);
        let pos = to_vec(d.positions(&device));
        assert_eq!((pos[0], pos[127], pos[254]), (-20.0, 0.0, 20.0));
        let m = BinSpace::muzero(300);
        assert_eq!(m.bins, 601);
        let pos = to_vec(m.positions(&device));
        assert_eq!((pos[0], pos[300], pos[600]), (-300.0, 0.0, 300.0));
        assert!((pos[301] - 1.0).abs() < 1e-5);
    }

    #[test]
    fn symexp_twohot_splits_and_averages_in_real_units() {
        // Three bins at symexp(-1, 0, 1) = -1.71828, 0, 1.71828.
        let device = Device::flex();
        let space = BinSpace {
            low: -1.0,
            high: 1.0,
            bins: 3,
            transform: ScalarTransform::SymexpTwohot,
        };
        let e1 = 1f32.exp() - 1.0;
        // 1.0 lies 1/e1 = 0.58198 of the way from 0 to e1 in real units
        // (in symlog units it would be ln 2 = 0.69315 of the way).
        let target = tensor_from_vec(vec![1.0, -e1, 100.0], [3], &device);
        let twohot = to_vec(space.twohot(target));
        let want = [0.0, 1.0 - 1.0 / e1, 1.0 / e1, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        for (g, w) in twohot.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{twohot:?}");
        }
        // The mean is the probability-weighted real value of the bins:
        // 0.5 * 0 + 0.5 * e1, where symlog-space averaging would give
        // symexp(0.5) = 0.64872.
        let logits = tensor_from_vec(vec![-30.0, 0.0, 0.0], [1, 3], &device);
        let mean = to_vec(BinnedScalar::new(logits, space).mean())[0];
        assert!((mean - 0.5 * e1).abs() < 1e-5, "{mean}");
    }

    /// DreamerV3's 255 bins reach symexp(20) = 4.9e8: uniform
    /// probabilities (a zero-initialised head) must still predict exactly
    /// 0, and a twohot target must come back, which a left-to-right sum
    /// in f32 does not give (its rounding is of order 10).
    #[test]
    fn symexp_twohot_means_cancel_exactly_over_the_wide_bins() {
        let device = Device::flex();
        let space = BinSpace {
            transform: ScalarTransform::SymexpTwohot,
            ..BinSpace::dreamer()
        };
        let values = to_vec(space.real_values(&device));
        assert_eq!(values[127], 0.0);
        for i in 0..127 {
            assert_eq!(
                values[i],
                -values[254 - i],
                "bin {i} mirrors bin {}",
                254 - i
            );
        }
        assert!((values[254] - (20f32.exp() - 1.0)).abs() / values[254] < 1e-6);
        let uniform = BinnedScalar::new(Tensor::zeros([2, 255], &device), space);
        assert_eq!(to_vec(uniform.mean()), vec![0.0, 0.0]);
        let targets = vec![1.0, -0.25, 37.5, 0.0];
        let point = BinnedScalar::point(tensor_from_vec(targets.clone(), [4], &device), space);
        for (m, t) in to_vec(point.mean()).iter().zip(targets) {
            assert!((m - t).abs() < 1e-3 * t.abs().max(1.0), "{m} vs {t}");
        }
    }

    /// The 2025 code's `outs.TwoHot` over the bins its `symexp_twohot` head
    /// builds, recorded by `scripts/record_dreamerv3_2025.py`: the bins,
    /// predictions (uniform logits included) and losses.
    #[test]
    fn symexp_twohot_matches_the_2025_reference() {
        use crate::nn::recorded::{dreamerv3_2025, flat};
        let recording = dreamerv3_2025();
        let r = &recording["symexp_twohot"];
        let close = |got: &[f32], want: &[f32], what: &str| {
            for (g, w) in got.iter().zip(want) {
                assert!(
                    (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "{what}: {got:?} vs {want:?}"
                );
            }
        };
        let device = Device::flex();
        let space = BinSpace {
            transform: ScalarTransform::SymexpTwohot,
            ..BinSpace::dreamer()
        };
        close(
            &to_vec(space.real_values(&device)),
            &flat(&r["bins"]),
            "bins",
        );
        let logits = flat(&r["logits"]);
        let rows = logits.len() / 255;
        let dist = BinnedScalar::new(tensor_from_vec(logits, [rows, 255], &device), space);
        // A prediction sums terms of up to 4.9e8 that cancel: its float
        // rounding scales with the sum of their magnitudes, not the result.
        let magnitude = to_vec(
            (dist.probs() * space.real_values(&device).abs().unsqueeze_dim::<2>(0))
                .sum_dim(1)
                .squeeze_dim::<1>(1),
        );
        let pred = to_vec(dist.mean());
        for ((g, w), m) in pred.iter().zip(flat(&r["pred"])).zip(magnitude) {
            assert!(
                (g - w).abs() <= 1e-6 * m + 1e-5,
                "pred {g} vs {w} (terms {m})"
            );
        }
        let targets = tensor_from_vec(flat(&r["targets"]), [rows], &device);
        close(&to_vec(dist.loss(targets)), &flat(&r["loss"]), "loss");
    }
}

//! Lambda-returns and DreamerV3's percentile return normalisation.
//!
//! Returns bootstrap from the critic with TD(lambda) (Hafner et al. 2023,
//! eq. 7): `R_t = r_{t+1} + gamma c_{t+1} ((1 - lambda) v_{t+1} + lambda R_{t+1})`,
//! `R_H = v_H`, where `c` is the predicted continuation. Advantages are
//! divided by `max(1, S)` with `S` an EMA of the 95th minus the 5th
//! percentile of the returns, which scales large returns down but never
//! amplifies small ones (eq. 8-9).

use std::sync::{Condvar, Mutex};

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// TD(lambda) returns of an imagined trajectory.
///
/// # Shapes
/// `rewards`, `continues`, `values`: `[B, H + 1]` for states `s_0 .. s_H`
/// (`rewards[t]` is the reward for entering `s_t`; `continues` are
/// probabilities, the discount is applied here) -> `[B, H]` returns for
/// `s_0 .. s_{H-1}`.
pub fn lambda_returns(
    rewards: Tensor<2>,
    continues: Tensor<2>,
    values: Tensor<2>,
    discount: f32,
    lambda: f32,
) -> Tensor<2> {
    let [b, n] = rewards.dims();
    let h = n - 1;
    let mut next = values.clone().slice([0..b, h..n]); // R_H = v_H, [B, 1]
    let mut out = Vec::with_capacity(h);
    for t in (0..h).rev() {
        let r = rewards.clone().slice([0..b, t + 1..t + 2]);
        let c = continues.clone().slice([0..b, t + 1..t + 2]);
        let v = values.clone().slice([0..b, t + 1..t + 2]);
        next = r + c * discount * (v * (1.0 - lambda) + next * lambda);
        out.push(next.clone());
    }
    out.reverse();
    Tensor::cat(out, 1)
}

/// TD(lambda) returns along replayed sequences, bootstrapped from the
/// imagined returns of their states: the targets of the 2025 design's
/// critic loss on replay states.
///
/// `R_t = r_{t+1} + gamma (1 - term_{t+1}) ((1 - l_{t+1}) boot_{t+1} + l_{t+1} R_{t+1})`
/// with `l_k = lambda (1 - last_k)`: at an episode's last step the return
/// stops following the sequence (whose next step belongs to another
/// episode) and takes that step's bootstrap alone; `R_{T-1} = boot_{T-1}`.
///
/// # Shapes
/// `rewards` (for entering each step), `terminal`, `last`, `boot`: `[B, T]`
/// -> `[B, T - 1]` returns for steps `0 .. T-1`.
pub fn replay_returns(
    rewards: Tensor<2>,
    terminal: Tensor<2>,
    last: Tensor<2>,
    boot: Tensor<2>,
    discount: f32,
    lambda: f32,
) -> Tensor<2> {
    let [b, n] = rewards.dims();
    let column = |x: &Tensor<2>, k: usize| x.clone().slice([0..b, k..k + 1]);
    let mut next = column(&boot, n - 1);
    let mut out = Vec::with_capacity(n - 1);
    for k in (1..n).rev() {
        let live = (column(&terminal, k).neg() + 1.0) * discount;
        let follow = (column(&last, k).neg() + 1.0) * lambda;
        let mix = (follow.clone().neg() + 1.0) * column(&boot, k) + follow * next;
        next = column(&rewards, k) + live * mix;
        out.push(next.clone());
    }
    out.reverse();
    Tensor::cat(out, 1)
}

/// The percentile-range EMA that scales advantages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReturnNormalizer {
    /// EMA of the low percentile.
    pub low: f32,
    /// EMA of the high percentile.
    pub high: f32,
    rate: f32,
    limit: f32,
    low_percentile: f32,
    high_percentile: f32,
}

impl ReturnNormalizer {
    /// A normaliser with EMA `rate`, scale floor `limit` and the two percentiles (in 0..=100).
    pub fn new(rate: f32, limit: f32, low_percentile: f32, high_percentile: f32) -> Self {
        ReturnNormalizer {
            low: 0.0,
            high: 0.0,
            rate,
            limit,
            low_percentile,
            high_percentile,
        }
    }

    /// Fold a batch of returns into the EMAs and return the new scale.
    pub fn update(&mut self, returns: &[f32]) -> f32 {
        let mut sorted: Vec<f32> = returns.iter().copied().filter(|r| r.is_finite()).collect();
        if !sorted.is_empty() {
            sorted.sort_by(f32::total_cmp);
            let low = percentile(&sorted, self.low_percentile);
            let high = percentile(&sorted, self.high_percentile);
            self.low = (1.0 - self.rate) * self.low + self.rate * low;
            self.high = (1.0 - self.rate) * self.high + self.rate * high;
        }
        self.scale()
    }

    /// `max(limit, high - low)`.
    pub fn scale(&self) -> f32 {
        (self.high - self.low).max(self.limit)
    }
}

/// Where an update's advantages get their scale: its own normaliser, or,
/// in a data-parallel update, the normaliser of all shares together.
pub enum ReturnScaling<'a> {
    /// One normaliser, updated with these returns.
    Own(&'a mut ReturnNormalizer),
    /// The shares of one update, each adding its returns.
    Gathered(&'a GatheredReturns),
}

impl ReturnScaling<'_> {
    /// Fold this update's returns in and return the scale to divide
    /// advantages by.
    pub fn update(&mut self, returns: &[f32]) -> f32 {
        match self {
            ReturnScaling::Own(normalizer) => normalizer.update(returns),
            ReturnScaling::Gathered(gathered) => gathered.update(returns),
        }
    }
}

/// The shares of a data-parallel update pooling their returns before the
/// percentiles are taken, as the reference's multi-device code does
/// (`all_gather` in `Moments.update`): every share waits until all have
/// added theirs, then all scale by the percentiles of the whole batch, and
/// the normaliser's averages move once per update, as with one share.
/// The shares must run at the same time (each on its own thread).
pub struct GatheredReturns {
    shares: usize,
    state: Mutex<Gathering>,
    ready: Condvar,
}

struct Gathering {
    normalizer: ReturnNormalizer,
    returns: Vec<f32>,
    arrived: usize,
    scale: Option<f32>,
}

impl GatheredReturns {
    /// Gather `shares` shares' returns into `normalizer`.
    pub fn new(normalizer: ReturnNormalizer, shares: usize) -> Self {
        GatheredReturns {
            shares: shares.max(1),
            state: Mutex::new(Gathering {
                normalizer,
                returns: Vec::new(),
                arrived: 0,
                scale: None,
            }),
            ready: Condvar::new(),
        }
    }

    /// Add one share's returns; once every share has, the scale of them
    /// all (this call waits for the others).
    pub fn update(&self, returns: &[f32]) -> f32 {
        // A share that panicked while holding the lock leaves the data as
        // it was; the caller's join reports the panic.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.returns.extend_from_slice(returns);
        state.arrived += 1;
        if state.arrived == self.shares {
            let all = std::mem::take(&mut state.returns);
            let scale = state.normalizer.update(&all);
            state.scale = Some(scale);
            self.ready.notify_all();
            return scale;
        }
        loop {
            if let Some(scale) = state.scale {
                return scale;
            }
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The normaliser after the update.
    pub fn into_normalizer(self) -> ReturnNormalizer {
        self.state
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .normalizer
    }
}

/// The `q`-th percentile of sorted values, interpolating linearly (as numpy does).
pub fn percentile(sorted: &[f32], q: f32) -> f32 {
    let position = q / 100.0 * (sorted.len() - 1) as f32;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    let w = position - below as f32;
    sorted[below] * (1.0 - w) + sorted[above] * w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::{tensor_from_vec, to_vec};
    use burn::tensor::Device;

    #[test]
    fn shares_gathering_their_returns_scale_as_the_whole_batch() {
        // Two shares whose returns differ: the gathered scale is the whole
        // batch's, for both, and the normaliser moves once, as with one
        // share.
        let left: Vec<f32> = (0..50).map(|i| i as f32 * 0.02).collect();
        let right: Vec<f32> = (0..50).map(|i| 100.0 + i as f32).collect();
        let fresh = || ReturnNormalizer::new(0.01, 1.0, 5.0, 95.0);
        let mut whole = fresh();
        let all: Vec<f32> = left.iter().chain(&right).copied().collect();
        let expected = whole.update(&all);
        let gathered = GatheredReturns::new(fresh(), 2);
        let scales: Vec<f32> = std::thread::scope(|scope| {
            let handles: Vec<_> = [&left, &right]
                .into_iter()
                .map(|returns| {
                    let gathered = &gathered;
                    scope.spawn(move || ReturnScaling::Gathered(gathered).update(returns))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(scales, vec![expected, expected]);
        let after = gathered.into_normalizer();
        assert_eq!((after.low, after.high), (whole.low, whole.high));
        // Not what averaging the shares' own estimates gave.
        let (mut a, mut b) = (fresh(), fresh());
        a.update(&left);
        b.update(&right);
        assert!(((a.high + b.high) / 2.0 - whole.high).abs() > 0.3 * whole.high);
    }

    #[test]
    fn lambda_returns_match_hand_computation() {
        // H = 2, gamma = 0.5, lambda = 0.5; r = [_, 1, 2], c = [_, 1, 0.5], v = [_, 4, 8].
        // R_2 = v_2 = 8
        // R_1 = r_2 + g c_2 ((1 - l) v_2 + l R_2) = 2 + 0.25 (4 + 4) = 4
        // R_0 = r_1 + g c_1 ((1 - l) v_1 + l R_1) = 1 + 0.5 (2 + 2) = 3
        let device = Device::flex();
        let r = tensor_from_vec(vec![9.0, 1.0, 2.0], [1, 3], &device);
        let c = tensor_from_vec(vec![9.0, 1.0, 0.5], [1, 3], &device);
        let v = tensor_from_vec(vec![9.0, 4.0, 8.0], [1, 3], &device);
        assert_eq!(to_vec(lambda_returns(r, c, v, 0.5, 0.5)), vec![3.0, 4.0]);
    }

    #[test]
    fn lambda_one_is_monte_carlo_and_zero_is_td() {
        let device = Device::flex();
        let r = tensor_from_vec(vec![0.0, 1.0, 1.0, 1.0], [1, 4], &device);
        let c = Tensor::ones([1, 4], &device);
        let v = tensor_from_vec(vec![0.0, 10.0, 20.0, 30.0], [1, 4], &device);
        // lambda = 1, gamma = 1: R_0 = 1 + 1 + 1 + v_3 = 33.
        assert_eq!(
            to_vec(lambda_returns(r.clone(), c.clone(), v.clone(), 1.0, 1.0))[0],
            33.0
        );
        // lambda = 0: one-step TD targets r_{t+1} + v_{t+1}.
        assert_eq!(
            to_vec(lambda_returns(r, c, v, 1.0, 0.0)),
            vec![11.0, 21.0, 31.0]
        );
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let sorted: Vec<f32> = (0..=10).map(|i| i as f32).collect();
        assert_eq!(percentile(&sorted, 5.0), 0.5);
        assert_eq!(percentile(&sorted, 95.0), 9.5);
        assert_eq!(percentile(&[1.0, 2.0], 50.0), 1.5);
    }

    #[test]
    fn normaliser_tracks_the_range_and_never_amplifies() {
        let mut norm = ReturnNormalizer::new(0.01, 1.0, 5.0, 95.0);
        let returns: Vec<f32> = (0..=100).map(|i| i as f32).collect(); // P5 = 5, P95 = 95
        norm.update(&returns);
        assert!((norm.low - 0.05).abs() < 1e-6 && (norm.high - 0.95).abs() < 1e-6);
        assert_eq!(norm.scale(), 1.0, "a range below one is floored at one");
        for _ in 0..2000 {
            norm.update(&returns);
        }
        assert!(
            (norm.scale() - 90.0).abs() < 0.01,
            "converges to P95 - P5 = 90, got {}",
            norm.scale()
        );
    }
    #[test]
    fn replay_returns_follow_the_sequence_and_stop_at_episode_ends() {
        let device = burn::tensor::Device::flex();
        let t = |v: [f32; 4]| Tensor::<2>::from_floats([v], &device);
        // Steps 0..3; step 2 is the last of its episode (truncated), no terminals.
        let rewards = t([0.0, 1.0, 2.0, 3.0]);
        let terminal = t([0.0, 0.0, 0.0, 0.0]);
        let last = t([0.0, 0.0, 1.0, 0.0]);
        let boot = t([10.0, 20.0, 30.0, 40.0]);
        let (g, l) = (0.9f32, 0.5f32);
        let got = to_vec(replay_returns(rewards, terminal, last, boot, g, l));
        // R_3 = 40 (bootstrap); R_2 = r_3 + g ((1 - l) 40 + l R_3) = 3 + 0.9 * 40 = 39
        let r2 = 3.0 + g * 40.0;
        // step 2 is last: l_2 = 0, R_1 = r_2 + g boot_2 = 2 + 27 = 29
        let r1 = 2.0 + g * 30.0;
        // R_0 = r_1 + g ((1 - l) 20 + l R_1)
        let r0 = 1.0 + g * ((1.0 - l) * 20.0 + l * r1);
        for (a, b) in got.iter().zip([r0, r1, r2]) {
            assert!((a - b).abs() < 1e-5, "{got:?} vs {:?}", [r0, r1, r2]);
        }
        // A terminal entry ends the return: R = r only.
        let terminal = t([0.0, 1.0, 0.0, 0.0]);
        let got = to_vec(replay_returns(
            t([0.0, 5.0, 0.0, 0.0]),
            terminal,
            t([0.0, 1.0, 0.0, 0.0]),
            t([10.0, 20.0, 30.0, 40.0]),
            g,
            l,
        ));
        assert!((got[0] - 5.0).abs() < 1e-6, "{got:?}");
    }
}

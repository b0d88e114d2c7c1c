//! EfficientZero's value prefix (Ye et al. 2021, sec. 4.2).
//!
//! Which step a reward arrives at is hard to tell from predicted states;
//! the sum of rewards since the root is not. An LSTM reads each new hidden
//! state of an unroll or a search path and predicts that sum, the value
//! prefix; the reward of a step is the difference of consecutive prefixes.
//! The LSTM and its sum restart at the root and every `horizon` steps, so
//! errors do not accumulate over long paths. Everything the next step
//! needs travels in the state ([`PrefixCarry`]), so planners and behaviour
//! learning get rewards from `WorldModel::transition_reward` unchanged.

use burn::module::Module;
use burn::nn::{Lstm, LstmConfig, LstmState};
use burn::tensor::{Device, Tensor};

use super::config::NetworkConfig;
use super::networks::MlpHead;
use crate::nn::dist::{BinSpace, BinnedScalar};

/// The value-prefix LSTM's state after the step into a state, and the
/// prefixes that give that step's reward.
#[derive(Debug, Clone)]
pub struct PrefixCarry {
    /// LSTM hidden and cell `[B, L]` after the step into this state.
    pub lstm: LstmState<2>,
    /// The predicted value prefix at this state `[B]` (0 at a root).
    pub prefix: Tensor<1>,
    /// The prefix the step into this state counted on from: the parent's,
    /// or 0 after a reset `[B]`.
    pub base: Tensor<1>,
    /// Steps since the LSTM was reset `[B]` (0 at a root).
    pub since_reset: Tensor<1>,
}

impl PrefixCarry {
    /// The carry of root states: nothing predicted yet, reset next step.
    pub fn root(batch: usize, units: usize, device: &Device) -> Self {
        let zeros = Tensor::<1>::zeros([batch], device);
        PrefixCarry {
            lstm: LstmState::initial([batch, units], device),
            prefix: zeros.clone(),
            base: zeros.clone(),
            since_reset: zeros,
        }
    }

    pub(super) fn map(
        &self,
        f2: impl Fn(Tensor<2>) -> Tensor<2>,
        f1: impl Fn(Tensor<1>) -> Tensor<1>,
    ) -> Self {
        PrefixCarry {
            lstm: LstmState::new(f2(self.lstm.cell.clone()), f2(self.lstm.hidden.clone())),
            prefix: f1(self.prefix.clone()),
            base: f1(self.base.clone()),
            since_reset: f1(self.since_reset.clone()),
        }
    }
}

/// EfficientZero's value-prefix predictor: an LSTM reading each new hidden
/// state, and a head from its output to the prefix's bins.
#[derive(Module, Debug)]
pub struct PrefixNet {
    lstm: Lstm,
    head: MlpHead,
    units: usize,
    horizon: usize,
}

impl PrefixNet {
    /// An LSTM of `units` over states of width `state`, reset every
    /// `horizon` steps, and a zero-initialised head onto `bins` bins.
    pub fn new(
        state: usize,
        units: usize,
        horizon: usize,
        bins: usize,
        config: &NetworkConfig,
        device: &Device,
    ) -> Self {
        PrefixNet::build(state, units, horizon, bins, config, true, device)
    }

    pub(super) fn build(
        state: usize,
        units: usize,
        horizon: usize,
        bins: usize,
        config: &NetworkConfig,
        zero_init: bool,
        device: &Device,
    ) -> Self {
        PrefixNet {
            lstm: LstmConfig::new(state, units, true).init(device),
            head: MlpHead::new(units, bins, config, zero_init, device),
            units,
            horizon: horizon.max(1),
        }
    }

    /// Units of the LSTM.
    pub fn units(&self) -> usize {
        self.units
    }

    /// Steps between resets.
    pub fn horizon(&self) -> usize {
        self.horizon
    }

    /// The carry after stepping from `parent` into `hidden [B, S]`, and
    /// the prefix predicted there. The LSTM starts afresh (and the prefix
    /// from 0) when the parent is a root or `horizon` steps past a reset.
    pub(super) fn step(
        &self,
        parent: &PrefixCarry,
        hidden: Tensor<2>,
        space: BinSpace,
    ) -> (PrefixCarry, BinnedScalar) {
        let since = parent.since_reset.clone();
        let keep = since
            .clone()
            .remainder_scalar(self.horizon as f32)
            .not_equal_elem(0.0)
            .float(); // [B]: 0 where the LSTM resets
        let keep2 = keep.clone().unsqueeze_dim::<2>(1);
        let state = LstmState::new(
            parent.lstm.cell.clone() * keep2.clone(),
            parent.lstm.hidden.clone() * keep2,
        );
        let (output, lstm) = self.lstm.forward(hidden.unsqueeze_dim::<3>(1), Some(state));
        let [b, _, l] = output.dims();
        let dist = BinnedScalar::new(self.head.forward(output.reshape([b, l])), space);
        let carry = PrefixCarry {
            lstm,
            prefix: dist.mean(),
            base: parent.prefix.clone() * keep.clone(),
            since_reset: since * keep + 1.0,
        };
        (carry, dist)
    }
}

//! f32 master weights and optimiser state for half-precision training.
//!
//! A run with `run.precision = "f16"` or `"bf16"` computes its forward and
//! backward passes in half precision, but an optimiser step done in half
//! precision loses what the step is for:
//!
//! - an update smaller than half the spacing of the weight it changes
//!   rounds away (f16 just below 1.0 is spaced 4.9e-4 apart, bf16 3.9e-3;
//!   Adam at learning rate 1e-4 moves a weight 1e-4 a step), so the
//!   weights stop moving long before training ends;
//! - Adam's second moment `(1 - b2) g^2` underflows to zero in f16 for
//!   any gradient below about 5.5e-3 (below 0.25 on a GPU that flushes
//!   f16's subnormal numbers to zero), and the division by it makes the
//!   weight infinite or NaN.
//!
//! [`MasterWeights`] wraps an optimiser so that it keeps an f32 copy of
//! every parameter and its own moments in f32: the half gradient is widened,
//! the inner optimiser steps the f32 copy, and the half parameter the model
//! computes with is that copy rounded once. This is the master-weight half
//! of mixed-precision training (Micikevicius et al., 2018); the other half,
//! loss scaling, is [`super::loss_scale`] (in f16: the gradients reach the
//! optimiser already in f32). [`optimizer_for`] wraps exactly when the device computes in half
//! precision, so f32 runs use the inner optimiser unchanged.
//!
//! The master copy is the truth while a run trains: weights set from
//! outside the optimiser (other than by loading a checkpoint, which
//! restores both) are overwritten by the next step.

use burn::optim::{
    Adam, AdamState, AdamW, AdamWState, AdaptiveMomentumState, LearningRate, ModuleOptimizer,
    Optimizer, RecordState, StateSink, StateSource, join_path,
};
use burn::store::burn_pack::Scalar;
use burn::tensor::{Device, FloatDType, Tensor, TensorCreationOptions};

use super::laprop::{Laprop, LapropState};

/// An optimiser whose per-parameter state can be held in f32 on a device
/// that computes in half precision.
pub trait WideState: Optimizer {
    /// `state` with every tensor in f32.
    fn widen<const D: usize>(state: Self::State<D>) -> Self::State<D>;

    /// The state recorded under `prefix`, its tensors in the float type
    /// they were recorded in (burn's derived `state_unflatten` converts them
    /// to the device's, rounding an f32 state to f16).
    fn restore_wide<const D: usize>(
        prefix: &str,
        src: &mut StateSource,
        device: &Device,
    ) -> Option<Self::State<D>>;
}

/// `optimizer` as a module optimiser for `device`: wrapped in
/// [`MasterWeights`] when the device computes in f16 or bf16.
pub fn optimizer_for<O: WideState>(optimizer: O, device: &Device) -> ModuleOptimizer {
    match device.settings().float_dtype {
        FloatDType::F16 | FloatDType::BF16 => ModuleOptimizer::from(MasterWeights(optimizer)),
        _ => ModuleOptimizer::from(optimizer),
    }
}

/// An optimiser that steps an f32 copy of each parameter (see the module
/// documentation).
#[derive(Debug, Clone)]
pub struct MasterWeights<O>(pub O);

/// [`MasterWeights`]' state of one parameter tensor.
#[derive(Clone)]
pub struct MasterState<const D: usize, O: WideState> {
    /// The parameter in f32.
    pub master: Tensor<D>,
    /// The inner optimiser's state, in f32 (absent before its first step).
    pub inner: Option<O::State<D>>,
}

fn wide<const D: usize>(tensor: Tensor<D>) -> Tensor<D> {
    tensor.cast(FloatDType::F32)
}

/// The tensor recorded as `{prefix}.{leaf}`, in the float type it was
/// recorded in (`Tensor::from_data` on its own would convert it to the
/// device's, rounding an f32 state to f16).
pub(crate) fn take_as_recorded<const D: usize>(
    src: &mut StateSource,
    prefix: &str,
    leaf: &str,
    device: &Device,
) -> Option<Tensor<D>> {
    let data = src.take_tensor(prefix, leaf)?;
    let options = TensorCreationOptions::new(device.clone()).with_dtype(data.dtype());
    Some(Tensor::from_data(data, options))
}

/// The step count recorded as `{prefix}.time`.
pub(crate) fn take_time(src: &mut StateSource, prefix: &str) -> Option<usize> {
    match src.take_scalar(prefix, "time")? {
        Scalar::UInt(t) => usize::try_from(t).ok(),
        Scalar::Int(t) => usize::try_from(t).ok(),
        _ => None,
    }
}

impl<O: WideState> Optimizer for MasterWeights<O> {
    type State<const D: usize> = MasterState<D, O>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let half = tensor.dtype();
        let (master, inner) = match state {
            Some(state) => (wide(state.master), state.inner.map(O::widen)),
            None => (wide(tensor), None),
        };
        let (master, inner) = self.0.step(lr, master, wide(grad), inner);
        let tensor = master.clone().cast(half);
        (tensor, Some(MasterState { master, inner }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        MasterState {
            master: state.master.to_device(device),
            inner: state.inner.map(|inner| O::to_device(inner, device)),
        }
    }
}

impl<const D: usize, O: WideState> RecordState for MasterState<D, O> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "master", self.master.to_data());
        if let Some(inner) = &self.inner {
            inner.state_flatten(&join_path(prefix, "inner"), out);
        }
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let master = take_as_recorded(src, prefix, "master", device)?;
        let inner_prefix = join_path(prefix, "inner");
        let inner = if src.has_under(&inner_prefix) {
            Some(O::restore_wide(&inner_prefix, src, device)?)
        } else {
            None
        };
        Some(MasterState { master, inner })
    }
}

/// Adam's moments (shared by [`Adam`] and [`AdamW`]) in f32.
fn widen_momentum<const D: usize>(m: AdaptiveMomentumState<D>) -> AdaptiveMomentumState<D> {
    AdaptiveMomentumState {
        time: m.time,
        moment_1: wide(m.moment_1),
        moment_2: wide(m.moment_2),
        max_moment_2: m.max_moment_2.map(wide),
    }
}

/// Adam's moments as burn records them (`{prefix}.momentum.*`), in their
/// recorded float type.
fn restore_momentum<const D: usize>(
    prefix: &str,
    src: &mut StateSource,
    device: &Device,
) -> Option<AdaptiveMomentumState<D>> {
    let prefix = join_path(prefix, "momentum");
    Some(AdaptiveMomentumState {
        time: take_time(src, &prefix)?,
        moment_1: take_as_recorded(src, &prefix, "moment_1", device)?,
        moment_2: take_as_recorded(src, &prefix, "moment_2", device)?,
        max_moment_2: take_as_recorded(src, &prefix, "max_moment_2", device),
    })
}

impl WideState for Adam {
    fn widen<const D: usize>(state: AdamState<D>) -> AdamState<D> {
        AdamState::new(widen_momentum(state.momentum))
    }

    fn restore_wide<const D: usize>(
        prefix: &str,
        src: &mut StateSource,
        device: &Device,
    ) -> Option<AdamState<D>> {
        restore_momentum(prefix, src, device).map(AdamState::new)
    }
}

impl WideState for AdamW {
    fn widen<const D: usize>(state: AdamWState<D>) -> AdamWState<D> {
        AdamWState::new(widen_momentum(state.momentum))
    }

    fn restore_wide<const D: usize>(
        prefix: &str,
        src: &mut StateSource,
        device: &Device,
    ) -> Option<AdamWState<D>> {
        restore_momentum(prefix, src, device).map(AdamWState::new)
    }
}

impl WideState for Laprop {
    fn widen<const D: usize>(state: LapropState<D>) -> LapropState<D> {
        LapropState {
            time: state.time,
            rms: wide(state.rms),
            momentum: wide(state.momentum),
        }
    }

    fn restore_wide<const D: usize>(
        prefix: &str,
        src: &mut StateSource,
        device: &Device,
    ) -> Option<LapropState<D>> {
        // Laprop's own record keeps the recorded float type.
        LapropState::state_unflatten(prefix, src, device)
    }
}

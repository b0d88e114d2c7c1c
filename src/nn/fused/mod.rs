//! somnium's own GPU kernels, for what burn would otherwise launch as many
//! small kernels: on GPUs an update at DreamerV3's sizes is bound by the
//! number of kernel launches, not by arithmetic (docs/performance.md,
//! "Kernel launches per update").
//!
//! - [`norm`]: LayerNorm or RMSNorm over the last axis, optionally
//!   followed by SiLU, as one kernel forward and two backward. Every dense
//!   block, GRU and head normalises, at every step of the RSSM's recurrence.
//! - [`norm_gru`]: DreamerV3's normalised GRU update (the norm of the
//!   gate layer and the gates), one kernel forward and two backward.
//! - [`unimix_log_probs`] and [`sample_one_hot`]: DreamerV3's categoricals
//!   (1% uniform mixed into the softmax) and their one-hot samples, one
//!   kernel each, drawn at every step of the recurrence.
//!
//! - [`observe_sequence`]: the RSSM's whole observe loop (2023 core) as
//!   one operation, with the backward pass through time written out, so
//!   that weights and norms take their gradients once per sequence
//!   instead of once per step.
//!
//! The kernels run on burn's CubeCL backend (WGPU, CUDA; lavapipe on the
//! CPU), so they exist in builds with `wgpu` or `cuda`. On other devices,
//! in other builds, for other float types, or with
//! `SOMNIUM_FUSED_KERNELS=0`, callers fall back to burn's composed
//! operations, which compute the same values (`tests/backend_parity.rs`
//! checks the kernels against them, values and gradients).

// Each function's `Err` hands its input back untouched for the composed
// path, not an error: its size is a tensor's.
#![allow(clippy::result_large_err)]

use burn::tensor::Tensor;

#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod categorical_kernels;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod categorical_op;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod gru_kernels;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod gru_op;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod norm_kernels;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod norm_op;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod observe;

/// Whether the fused kernels are used where they can be: on unless the
/// environment variable `SOMNIUM_FUSED_KERNELS` is `0` (for measuring
/// what they save, and as a way around a kernel fault).
pub fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("SOMNIUM_FUSED_KERNELS").map_or(true, |v| v != "0"))
}

/// The normalisation a [`norm`] call computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormOp {
    /// Added to the mean square before its square root.
    pub epsilon: f32,
    /// Subtract the mean first (LayerNorm) or not (RMSNorm).
    pub center: bool,
    /// Apply SiLU to the normalised, scaled and shifted values.
    pub silu: bool,
}

/// `op` applied to `x` over its last axis with scale `gamma` and optional
/// shift `beta`, by the fused kernels; `Err(x)` (the input, untouched)
/// where they cannot run: the caller then composes burn's operations.
///
/// # Shapes
/// `x [.., W]`, `gamma [W]`, `beta [W]` -> `[.., W]`
pub fn norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Option<Tensor<1>>,
    op: NormOp,
) -> Result<Tensor<D>, Tensor<D>> {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    if runs_on(&x) {
        return Ok(norm_on_cube(x, gamma, beta, op));
    }
    let _ = (gamma, beta, op);
    Err(x)
}

/// Whether the fused kernels run on `x`: an f32 tensor on a CubeCL device,
/// in a build with one, with the kernels enabled.
pub fn runs_on<const D: usize>(x: &Tensor<D>) -> bool {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    {
        use burn::backend::DispatchDevice;
        enabled()
            && x.dtype() == burn::tensor::DType::F32
            && matches!(x.device().inner().as_dispatch(), DispatchDevice::Cube(_))
    }
    #[cfg(not(any(feature = "wgpu", feature = "cuda")))]
    {
        let _ = x;
        false
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn norm_on_cube<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Option<Tensor<1>>,
    op: NormOp,
) -> Tensor<D> {
    use burn::backend::Dispatch;
    use norm_op::FusedNorm;

    let dims = x.dims();
    let has_beta = beta.is_some();
    let beta = beta.unwrap_or_else(|| gamma.clone());
    let out = <Dispatch as FusedNorm>::fused_norm(
        as_rows(x).into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        op.epsilon,
        op.center,
        has_beta,
        op.silu,
    );
    Tensor::<2>::from_dispatch(out).reshape(dims)
}

/// DreamerV3's GRU update from the gate layer's output `z`, normalised by
/// `op` (without SiLU) with scale `gamma` and optional shift `beta`:
/// `h + u (c - h)` for `r = sigmoid(y_r)`, `c = tanh(r y_c)`,
/// `u = sigmoid(y_u - 1)` (as `crate::nn::gru`), by the fused kernels;
/// `Err((z, state))` where they cannot run.
///
/// # Shapes
/// `z [B, 3H]`, `gamma [3H]`, `beta [3H]`, `state [B, H]` -> `[B, H]`
pub fn norm_gru(
    z: Tensor<2>,
    gamma: Tensor<1>,
    beta: Option<Tensor<1>>,
    state: Tensor<2>,
    op: NormOp,
) -> Result<Tensor<2>, (Tensor<2>, Tensor<2>)> {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    if runs_on(&z) && !op.silu {
        use burn::backend::Dispatch;
        use gru_op::FusedNormGru;
        let has_beta = beta.is_some();
        let beta = beta.unwrap_or_else(|| gamma.clone());
        let out = <Dispatch as FusedNormGru>::norm_gru(
            z.into_dispatch(),
            gamma.into_dispatch(),
            beta.into_dispatch(),
            state.into_dispatch(),
            op.epsilon,
            op.center,
            has_beta,
        );
        return Ok(Tensor::from_dispatch(out));
    }
    let _ = (gamma, beta, op);
    Err((z, state))
}

/// `log((1 - unimix) softmax(logits) + unimix / K)` over the last axis,
/// by the fused kernels, or `Err(logits)` where they cannot run.
///
/// # Shapes
/// `[.., K]` -> `[.., K]`
pub fn unimix_log_probs<const D: usize>(
    logits: Tensor<D>,
    unimix: f32,
) -> Result<Tensor<D>, Tensor<D>> {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    if runs_on(&logits) {
        use burn::backend::Dispatch;
        use categorical_op::FusedCategorical;
        let dims = logits.dims();
        let out = <Dispatch as FusedCategorical>::unimix_log_probs(
            as_rows(logits).into_dispatch(),
            unimix,
        );
        return Ok(Tensor::<2>::from_dispatch(out).reshape(dims));
    }
    let _ = unimix;
    Err(logits)
}

/// A one-hot sample from the categoricals `log_probs` by inverting their
/// cumulative distribution at one `uniform` number in [0, 1) each (as
/// [`crate::nn::dist::sample_one_hot`]), by one kernel; no gradient flows
/// through it. `Err(log_probs)` where the kernel cannot run.
///
/// # Shapes
/// `log_probs [.., K]`, `uniform [.., 1]` -> `[.., K]`
pub fn sample_one_hot<const D: usize>(
    log_probs: Tensor<D>,
    uniform: Tensor<D>,
) -> Result<Tensor<D>, Tensor<D>> {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    if runs_on(&log_probs) {
        use burn::backend::Dispatch;
        use categorical_op::FusedCategorical;
        let dims = log_probs.dims();
        let rows = dims.iter().product::<usize>() / dims[D - 1].max(1);
        let out = <Dispatch as FusedCategorical>::one_hot_sample(
            as_rows(log_probs.detach()).into_dispatch(),
            uniform.detach().reshape([rows]).into_dispatch(),
        );
        return Ok(Tensor::<2>::from_dispatch(out).reshape(dims));
    }
    let _ = uniform;
    Err(log_probs)
}

/// `x` as rows of its last axis.
///
/// # Shapes
/// `[.., W]` -> `[rows, W]`
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn as_rows<const D: usize>(x: Tensor<D>) -> Tensor<2> {
    let dims = x.dims();
    let width = dims[D - 1];
    let rows = dims.iter().product::<usize>() / width.max(1);
    x.reshape([rows, width])
}

/// The weights of the 2023 RSSM's observe loop ([`observe_sequence`]).
#[derive(Debug, Clone)]
pub struct ObserveWeights {
    /// The input layer's rows for `z`, `[S * K, H]`, and its norm.
    pub input: (Tensor<2>, Tensor<1>, Option<Tensor<1>>),
    /// The GRU's layer `[H + D, 3D]` and its norm.
    pub gru: (Tensor<2>, Tensor<1>, Option<Tensor<1>>),
    /// The posterior layer's rows for `h`, `[D, H]`, and its norm.
    pub post: (Tensor<2>, Tensor<1>, Option<Tensor<1>>),
    /// The logits layer `[H, S * K]` and its bias `[S * K]`.
    pub out: (Tensor<2>, Tensor<1>),
    /// The three norms' settings (one norm kind throughout).
    pub norm: NormOp,
}

/// The RSSM's observe loop by one fused operation (see the module
/// overview), or `None` where it cannot run (then nothing is consumed
/// but clones). Returns the posteriors' `h [T * B, D]`, one-hot
/// `z [T * B, S * K]` and log-probabilities `[T * B, S, K]`.
///
/// # Shapes
/// `deter [B, D]`, `stoch [B, S * K]`, `action_part [T * B, H]`,
/// `embed_part [T * B, H]`, `keep [T * B, 1]`, `uniform [T * B, S, 1]`
#[allow(clippy::too_many_arguments)]
pub fn observe_sequence(
    deter: &Tensor<2>,
    stoch: &Tensor<2>,
    action_part: &Tensor<2>,
    embed_part: &Tensor<2>,
    keep: &Tensor<2>,
    uniform: &Tensor<3>,
    weights: &ObserveWeights,
    classes: usize,
    unimix: f32,
) -> Option<(Tensor<2>, Tensor<2>, Tensor<3>)> {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    {
        use burn::backend::Dispatch;
        use observe::{FusedObserve, ObserveInputs, ObserveSettings};
        let norms = [&weights.input, &weights.gru, &weights.post];
        let shifted = norms.iter().all(|n| n.2.is_some());
        if !runs_on(deter) || weights.norm.silu || shifted != weights.norm.center {
            return None;
        }
        if !shifted && norms.iter().any(|n| n.2.is_some()) {
            return None;
        }
        let [b, d] = deter.dims();
        let [rows, s, _] = uniform.dims();
        let sk = stoch.dims()[1];
        let settings = ObserveSettings {
            batch: b,
            stoch: s,
            classes,
            unimix,
            epsilon: weights.norm.epsilon,
            center: weights.norm.center,
        };
        let beta = |n: &(Tensor<2>, Tensor<1>, Option<Tensor<1>>)| {
            n.2.clone().unwrap_or_else(|| n.1.clone()).into_dispatch()
        };
        let inputs = ObserveInputs {
            deter: deter.clone().into_dispatch(),
            stoch: stoch.clone().into_dispatch(),
            action_part: action_part.clone().into_dispatch(),
            embed_part: embed_part.clone().into_dispatch(),
            keep: keep.clone().detach().into_dispatch(),
            uniform: uniform.clone().detach().reshape([rows * s]).into_dispatch(),
            w_in: weights.input.0.clone().into_dispatch(),
            in_gamma: weights.input.1.clone().into_dispatch(),
            in_beta: beta(&weights.input),
            w_gru: weights.gru.0.clone().into_dispatch(),
            gru_gamma: weights.gru.1.clone().into_dispatch(),
            gru_beta: beta(&weights.gru),
            w_post: weights.post.0.clone().into_dispatch(),
            post_gamma: weights.post.1.clone().into_dispatch(),
            post_beta: beta(&weights.post),
            w_out: weights.out.0.clone().into_dispatch(),
            b_out: weights.out.1.clone().into_dispatch(),
        };
        let out = Tensor::<2>::from_dispatch(<Dispatch as FusedObserve>::observe_sequence(
            inputs, settings,
        ));
        let deters = out.clone().narrow(1, 0, d);
        let stochs = out.clone().narrow(1, d, sk);
        let log_probs = out.narrow(1, d + sk, sk).reshape([rows, s, classes]);
        return Some((deters, stochs, log_probs));
    }
    #[allow(unreachable_code)]
    {
        let _ = (
            deter,
            stoch,
            action_part,
            embed_part,
            keep,
            uniform,
            weights,
            classes,
            unimix,
        );
        None
    }
}

//! The fused normalisation as a burn operation on the CubeCL backend:
//! its kernels registered with burn's fusion stream when fusion is on, and
//! a hand-written backward pass for autodiff, so that a `Tensor` on a GPU
//! (or lavapipe) device reaches [`super::norm_kernels`] through burn's
//! dispatch.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};
use burn_cubecl::CubeBackend;

use super::norm_kernels::{NormSpec, norm_backward_input, norm_backward_params, norm_forward};

#[cfg(feature = "gpu-fusion")]
use burn::backend::fusion::custom::TensorSpec;

#[cfg(feature = "gpu-fusion")]
fn forward_meta(
    input: &TensorSpec,
    _gamma: &TensorSpec,
    _beta: &TensorSpec,
    _epsilon: &f32,
    _center: &bool,
    _has_beta: &bool,
    _silu: &bool,
) -> (TensorSpec, TensorSpec) {
    let rows = input.shape[0];
    (
        input.clone(),
        TensorSpec::new(burn::tensor::Shape::new([rows, 2]), input.dtype),
    )
}

#[cfg(feature = "gpu-fusion")]
#[allow(clippy::too_many_arguments)]
fn params_meta(
    _d_out: &TensorSpec,
    _input: &TensorSpec,
    gamma: &TensorSpec,
    _beta: &TensorSpec,
    _stats: &TensorSpec,
    _acc_gamma: &TensorSpec,
    _acc_beta: &TensorSpec,
    _has_beta: &bool,
    _silu: &bool,
    _accumulate: &bool,
) -> (TensorSpec, TensorSpec) {
    (gamma.clone(), gamma.clone())
}

/// The kernels, on the CubeCL backend and (lazily) on its fused form.
#[backend_extension(Cube, Fusion: cfg(feature = "gpu-fusion"))]
pub trait NormKernels: Backend {
    /// Output `[rows, width]` and per-row statistics `[rows, 2]`.
    #[fusion(meta = forward_meta)]
    fn fused_norm_forward(
        input: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f32,
        center: bool,
        has_beta: bool,
        silu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// The gradient with respect to the input.
    #[fusion(dtype = input, shape = input)]
    #[allow(clippy::too_many_arguments)]
    fn fused_norm_backward_input(
        d_out: FloatTensor<Self>,
        input: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        center: bool,
        has_beta: bool,
        silu: bool,
    ) -> FloatTensor<Self>;

    /// The gradients with respect to gamma and beta, summed over the rows,
    /// plus `acc_gamma` and `acc_beta` with `accumulate` (else not read).
    #[fusion(meta = params_meta)]
    #[allow(clippy::too_many_arguments)]
    fn fused_norm_backward_params(
        d_out: FloatTensor<Self>,
        input: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        acc_gamma: FloatTensor<Self>,
        acc_beta: FloatTensor<Self>,
        has_beta: bool,
        silu: bool,
        accumulate: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

impl NormKernels for CubeBackend {
    fn fused_norm_forward(
        input: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f32,
        center: bool,
        has_beta: bool,
        silu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let spec = NormSpec {
            center,
            has_beta,
            silu,
        };
        norm_forward(input, gamma, beta, epsilon, spec)
    }

    fn fused_norm_backward_input(
        d_out: FloatTensor<Self>,
        input: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        center: bool,
        has_beta: bool,
        silu: bool,
    ) -> FloatTensor<Self> {
        let spec = NormSpec {
            center,
            has_beta,
            silu,
        };
        norm_backward_input(d_out, input, gamma, beta, stats, spec)
    }

    fn fused_norm_backward_params(
        d_out: FloatTensor<Self>,
        input: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        acc_gamma: FloatTensor<Self>,
        acc_beta: FloatTensor<Self>,
        has_beta: bool,
        silu: bool,
        accumulate: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let spec = NormSpec {
            center: false,
            has_beta,
            silu,
        };
        let acc = accumulate.then_some((acc_gamma, acc_beta));
        norm_backward_params(d_out, input, gamma, beta, stats, acc, spec)
    }
}

/// The differentiable operation: `[rows, width]` normalised over `width`.
/// Without `has_beta`, `beta` is not read and receives no gradient (pass
/// `gamma` for it).
#[backend_extension(Cube, Autodiff)]
pub trait FusedNorm: Backend {
    /// See [`super::norm_kernels`].
    fn fused_norm(
        input: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f32,
        center: bool,
        has_beta: bool,
        silu: bool,
    ) -> FloatTensor<Self>;
}

impl FusedNorm for burn::backend::Cube {
    fn fused_norm(
        input: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f32,
        center: bool,
        has_beta: bool,
        silu: bool,
    ) -> FloatTensor<Self> {
        Self::fused_norm_forward(input, gamma, beta, epsilon, center, has_beta, silu).0
    }
}

/// The backward step: both gradient kernels, then each parent's share.
#[derive(Debug)]
struct FusedNormBackward;

impl<B: Backend + NormKernels> Backward<B, 3> for FusedNormBackward {
    /// Input, gamma, beta, statistics and the flags (center, has_beta, silu).
    type State = (
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        [bool; 3],
    );

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [input_node, gamma_node, beta_node] = ops.parents;
        let d_out = grads.consume::<B>(&ops.node);
        let (input, gamma, beta, stats, [center, has_beta, silu]) = ops.state;
        let (d_gamma, d_beta) = B::fused_norm_backward_params(
            d_out.clone(),
            input.clone(),
            gamma.clone(),
            beta.clone(),
            stats.clone(),
            gamma.clone(),
            gamma.clone(),
            has_beta,
            silu,
            false,
        );
        let d_input =
            B::fused_norm_backward_input(d_out, input, gamma, beta, stats, center, has_beta, silu);
        if let Some(node) = input_node {
            grads.register::<B>(node.id, d_input);
        }
        if let Some(node) = gamma_node {
            grads.register::<B>(node.id, d_gamma);
        }
        if has_beta && let Some(node) = beta_node {
            grads.register::<B>(node.id, d_beta);
        }
    }
}

impl<B: Backend + NormKernels, C: CheckpointStrategy> FusedNorm for Autodiff<B, C> {
    fn fused_norm(
        input: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f32,
        center: bool,
        has_beta: bool,
        silu: bool,
    ) -> FloatTensor<Self> {
        let prepared = FusedNormBackward
            .prepare::<C>([input.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        match prepared {
            OpsKind::Tracked(prep) => {
                let (input, gamma, beta) = (
                    input.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                );
                let (output, stats) = B::fused_norm_forward(
                    input.clone(),
                    gamma.clone(),
                    beta.clone(),
                    epsilon,
                    center,
                    has_beta,
                    silu,
                );
                prep.finish(
                    (input, gamma, beta, stats, [center, has_beta, silu]),
                    output,
                )
            }
            OpsKind::UnTracked(prep) => {
                let (output, _) = B::fused_norm_forward(
                    input.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                    center,
                    has_beta,
                    silu,
                );
                prep.finish(output)
            }
        }
    }
}

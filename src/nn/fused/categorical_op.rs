//! The categorical kernels as burn operations on the CubeCL backend (see
//! [`super::norm_op`] for how an extension reaches them): the unimix
//! log-probabilities with their backward pass, and the one-hot sample,
//! through which no gradient flows.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};
use burn_cubecl::CubeBackend;

use super::categorical_kernels::{sample_one_hot, unimix_log_probs, unimix_log_probs_backward};

/// The kernels, on the CubeCL backend and (lazily) on its fused form.
#[backend_extension(Cube, Fusion: cfg(feature = "gpu-fusion"))]
pub trait CategoricalKernels: Backend {
    /// Unimix log-probabilities `[rows, K]` of logits `[rows, K]`.
    #[fusion(dtype = logits, shape = logits)]
    fn unimix_log_probs_forward(logits: FloatTensor<Self>, unimix: f32) -> FloatTensor<Self>;

    /// The logits' gradient.
    #[fusion(dtype = output, shape = output)]
    fn unimix_log_probs_grad(
        d_out: FloatTensor<Self>,
        output: FloatTensor<Self>,
        unimix: f32,
    ) -> FloatTensor<Self>;

    /// One-hot samples `[rows, K]`, one `uniform [rows]` number per row.
    #[fusion(dtype = log_probs, shape = log_probs)]
    fn one_hot_sample(
        log_probs: FloatTensor<Self>,
        uniform: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

impl CategoricalKernels for CubeBackend {
    fn unimix_log_probs_forward(logits: FloatTensor<Self>, unimix: f32) -> FloatTensor<Self> {
        unimix_log_probs(logits, unimix)
    }

    fn unimix_log_probs_grad(
        d_out: FloatTensor<Self>,
        output: FloatTensor<Self>,
        unimix: f32,
    ) -> FloatTensor<Self> {
        unimix_log_probs_backward(d_out, output, unimix)
    }

    fn one_hot_sample(
        log_probs: FloatTensor<Self>,
        uniform: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        sample_one_hot(log_probs, uniform)
    }
}

/// The differentiable operations.
#[backend_extension(Cube, Autodiff)]
pub trait FusedCategorical: Backend {
    /// `log((1 - unimix) softmax(logits) + unimix / K)` over the last axis.
    fn unimix_log_probs(logits: FloatTensor<Self>, unimix: f32) -> FloatTensor<Self>;

    /// A one-hot sample; no gradient flows through it.
    fn one_hot_sample(
        log_probs: FloatTensor<Self>,
        uniform: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

impl FusedCategorical for burn::backend::Cube {
    fn unimix_log_probs(logits: FloatTensor<Self>, unimix: f32) -> FloatTensor<Self> {
        Self::unimix_log_probs_forward(logits, unimix)
    }

    fn one_hot_sample(
        log_probs: FloatTensor<Self>,
        uniform: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        <Self as CategoricalKernels>::one_hot_sample(log_probs, uniform)
    }
}

#[derive(Debug)]
struct UnimixBackward;

impl<B: Backend + CategoricalKernels> Backward<B, 1> for UnimixBackward {
    /// The forward's output and the unimix.
    type State = (FloatTensor<B>, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [logits_node] = ops.parents;
        let d_out = grads.consume::<B>(&ops.node);
        let (output, unimix) = ops.state;
        if let Some(node) = logits_node {
            grads.register::<B>(node.id, B::unimix_log_probs_grad(d_out, output, unimix));
        }
    }
}

/// Sampling passes no gradient: its backward drops what reaches it.
#[derive(Debug)]
struct NoGradient;

impl<B: Backend> Backward<B, 2> for NoGradient {
    type State = ();

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        grads.consume::<B>(&ops.node);
    }
}

impl<B: Backend + CategoricalKernels, C: CheckpointStrategy> FusedCategorical for Autodiff<B, C> {
    fn unimix_log_probs(logits: FloatTensor<Self>, unimix: f32) -> FloatTensor<Self> {
        match UnimixBackward
            .prepare::<C>([logits.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let output = B::unimix_log_probs_forward(logits.into_primitive(), unimix);
                prep.finish((output.clone(), unimix), output)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::unimix_log_probs_forward(logits.into_primitive(), unimix))
            }
        }
    }

    fn one_hot_sample(
        log_probs: FloatTensor<Self>,
        uniform: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        NoGradient
            .prepare::<C>([log_probs.node(), uniform.node()])
            .compute_bound()
            .stateless(B::one_hot_sample(
                log_probs.into_primitive(),
                uniform.into_primitive(),
            ))
    }
}

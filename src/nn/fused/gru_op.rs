//! The normalised GRU update as a burn operation on the CubeCL backend
//! (see [`super::norm_op`] for how an extension reaches its kernels), with
//! its backward pass.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};
use burn_cubecl::CubeBackend;

use super::gru_kernels::{norm_gru_backward_input, norm_gru_backward_params, norm_gru_forward};

#[cfg(feature = "gpu-fusion")]
use burn::backend::fusion::custom::TensorSpec;

#[cfg(feature = "gpu-fusion")]
fn forward_meta(
    _z: &TensorSpec,
    _gamma: &TensorSpec,
    _beta: &TensorSpec,
    state: &TensorSpec,
    _epsilon: &f32,
    _center: &bool,
    _has_beta: &bool,
) -> (TensorSpec, TensorSpec) {
    let rows = state.shape[0];
    let stats = TensorSpec::new(burn::tensor::Shape::new([rows, 2]), state.dtype);
    (state.clone(), stats)
}

#[cfg(feature = "gpu-fusion")]
#[allow(clippy::too_many_arguments)]
fn input_meta(
    _d_out: &TensorSpec,
    z: &TensorSpec,
    _gamma: &TensorSpec,
    _beta: &TensorSpec,
    state: &TensorSpec,
    _stats: &TensorSpec,
    _center: &bool,
    _has_beta: &bool,
) -> (TensorSpec, TensorSpec) {
    (z.clone(), state.clone())
}

#[cfg(feature = "gpu-fusion")]
#[allow(clippy::too_many_arguments)]
fn params_meta(
    _d_out: &TensorSpec,
    _z: &TensorSpec,
    gamma: &TensorSpec,
    _beta: &TensorSpec,
    _state: &TensorSpec,
    _stats: &TensorSpec,
    _acc_gamma: &TensorSpec,
    _acc_beta: &TensorSpec,
    _has_beta: &bool,
    _accumulate: &bool,
) -> (TensorSpec, TensorSpec) {
    (gamma.clone(), gamma.clone())
}

/// The kernels, on the CubeCL backend and (lazily) on its fused form.
#[backend_extension(Cube, Fusion: cfg(feature = "gpu-fusion"))]
pub trait NormGruKernels: Backend {
    /// Next state `[rows, H]` and the norm's statistics `[rows, 2]`.
    #[fusion(meta = forward_meta)]
    fn norm_gru_forward(
        z: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        state: FloatTensor<Self>,
        epsilon: f32,
        center: bool,
        has_beta: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Gradients with respect to `z` and the state.
    #[fusion(meta = input_meta)]
    #[allow(clippy::too_many_arguments)]
    fn norm_gru_backward_input(
        d_out: FloatTensor<Self>,
        z: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        state: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        center: bool,
        has_beta: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Gradients with respect to gamma and beta, summed over the rows, plus
    /// `acc_gamma` and `acc_beta` with `accumulate` (else not read).
    #[fusion(meta = params_meta)]
    #[allow(clippy::too_many_arguments)]
    fn norm_gru_backward_params(
        d_out: FloatTensor<Self>,
        z: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        state: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        acc_gamma: FloatTensor<Self>,
        acc_beta: FloatTensor<Self>,
        has_beta: bool,
        accumulate: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

impl NormGruKernels for CubeBackend {
    fn norm_gru_forward(
        z: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        state: FloatTensor<Self>,
        epsilon: f32,
        center: bool,
        has_beta: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        norm_gru_forward(z, gamma, beta, state, epsilon, center, has_beta)
    }

    fn norm_gru_backward_input(
        d_out: FloatTensor<Self>,
        z: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        state: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        center: bool,
        has_beta: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        norm_gru_backward_input(d_out, z, gamma, beta, state, stats, center, has_beta)
    }

    fn norm_gru_backward_params(
        d_out: FloatTensor<Self>,
        z: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        state: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        acc_gamma: FloatTensor<Self>,
        acc_beta: FloatTensor<Self>,
        has_beta: bool,
        accumulate: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let acc = accumulate.then_some((acc_gamma, acc_beta));
        norm_gru_backward_params(d_out, z, gamma, beta, state, stats, acc, has_beta)
    }
}

/// The differentiable operation. Without `has_beta`, `beta` is not read
/// and receives no gradient (pass `gamma` for it).
#[backend_extension(Cube, Autodiff)]
pub trait FusedNormGru: Backend {
    /// See [`super::gru_kernels`].
    fn norm_gru(
        z: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        state: FloatTensor<Self>,
        epsilon: f32,
        center: bool,
        has_beta: bool,
    ) -> FloatTensor<Self>;
}

impl FusedNormGru for burn::backend::Cube {
    fn norm_gru(
        z: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        state: FloatTensor<Self>,
        epsilon: f32,
        center: bool,
        has_beta: bool,
    ) -> FloatTensor<Self> {
        Self::norm_gru_forward(z, gamma, beta, state, epsilon, center, has_beta).0
    }
}

#[derive(Debug)]
struct NormGruBackward;

impl<B: Backend + NormGruKernels> Backward<B, 4> for NormGruBackward {
    /// `z`, gamma, beta, the state, the statistics, and (center, has_beta).
    type State = (
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        [bool; 2],
    );

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [z_node, gamma_node, beta_node, state_node] = ops.parents;
        let d_out = grads.consume::<B>(&ops.node);
        let (z, gamma, beta, state, stats, [center, has_beta]) = ops.state;
        let (d_gamma, d_beta) = B::norm_gru_backward_params(
            d_out.clone(),
            z.clone(),
            gamma.clone(),
            beta.clone(),
            state.clone(),
            stats.clone(),
            gamma.clone(),
            gamma.clone(),
            has_beta,
            false,
        );
        let (d_z, d_state) =
            B::norm_gru_backward_input(d_out, z, gamma, beta, state, stats, center, has_beta);
        if let Some(node) = z_node {
            grads.register::<B>(node.id, d_z);
        }
        if let Some(node) = gamma_node {
            grads.register::<B>(node.id, d_gamma);
        }
        if has_beta && let Some(node) = beta_node {
            grads.register::<B>(node.id, d_beta);
        }
        if let Some(node) = state_node {
            grads.register::<B>(node.id, d_state);
        }
    }
}

impl<B: Backend + NormGruKernels, C: CheckpointStrategy> FusedNormGru for Autodiff<B, C> {
    fn norm_gru(
        z: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        state: FloatTensor<Self>,
        epsilon: f32,
        center: bool,
        has_beta: bool,
    ) -> FloatTensor<Self> {
        let prepared = NormGruBackward
            .prepare::<C>([z.node(), gamma.node(), beta.node(), state.node()])
            .compute_bound()
            .stateful();
        let (z, gamma, beta, state) = (
            z.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
            state.into_primitive(),
        );
        match prepared {
            OpsKind::Tracked(prep) => {
                let (output, stats) = B::norm_gru_forward(
                    z.clone(),
                    gamma.clone(),
                    beta.clone(),
                    state.clone(),
                    epsilon,
                    center,
                    has_beta,
                );
                let flags = [center, has_beta];
                prep.finish((z, gamma, beta, state, stats, flags), output)
            }
            OpsKind::UnTracked(prep) => {
                let (output, _) =
                    B::norm_gru_forward(z, gamma, beta, state, epsilon, center, has_beta);
                prep.finish(output)
            }
        }
    }
}

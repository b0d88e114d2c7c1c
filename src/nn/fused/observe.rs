//! The RSSM's observe loop over a whole sequence (the 2023 GRU core) as
//! one differentiable operation with its backward pass through time
//! written out by hand.
//!
//! burn's autodiff differentiates the loop step by step: every step's
//! slice of the projected inputs comes back as a zero tensor of the whole
//! sequence with one slice written, and every use of a weight registers a
//! gradient of its own. Here the backward pass runs the recurrence in
//! reverse with only what it needs (one matrix product per layer and one
//! kernel per norm), sums each weight's and norm's shares as it goes, and
//! hands the projected inputs their gradients whole. It computes what
//! `Rssm::observe_sequence` composes (`tests/fused_kernels.rs`).
//!
//! One step, for `keep = 1 - is_first`:
//!
//! ```text
//! d0 = h keep                 s0 = z keep
//! x_in = silu(norm_in(s0 W_in + a_t))
//! h' = norm_gru([x_in, d0] W_gru, d0)
//! x_post = silu(norm_post(h' W_post + e_t))
//! lp = unimix_log_probs(x_post W_out + b_out)      (per categorical)
//! z' = one_hot_sample(lp, u_t)                    (straight through exp(lp))
//! ```

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, ExtensionType, TensorMetadata, backend_extension};
use burn::tensor::{Shape, Slice};

use super::categorical_op::CategoricalKernels;
use super::gru_op::NormGruKernels;
use super::norm_op::NormKernels;

/// The sizes and settings of the loop.
#[derive(Debug, Clone, Copy)]
pub struct ObserveSettings {
    /// Sequences `B`.
    pub batch: usize,
    /// Categoricals `S` of the stochastic state.
    pub stoch: usize,
    /// Classes `K` of each.
    pub classes: usize,
    /// The categoricals' uniform mix.
    pub unimix: f32,
    /// The norms' epsilon.
    pub epsilon: f32,
    /// LayerNorm (true) or RMSNorm.
    pub center: bool,
}

/// The loop's tensors: the state it starts from, the per-step inputs
/// (time-major, `T * B` rows) and the weights. Without a shift (RMSNorm),
/// each norm's `beta` is its `gamma` and receives no gradient.
#[derive(ExtensionType, Debug, Clone)]
pub struct ObserveInputs<B: Backend> {
    /// `[B, D]`.
    pub deter: FloatTensor<B>,
    /// `[B, S * K]`.
    pub stoch: FloatTensor<B>,
    /// The actions' share of the input layer, `[T * B, H]`.
    pub action_part: FloatTensor<B>,
    /// The embeddings' share of the posterior layer, `[T * B, H]`.
    pub embed_part: FloatTensor<B>,
    /// `1 - is_first`, `[T * B, 1]` (no gradient).
    pub keep: FloatTensor<B>,
    /// One uniform number per categorical and step, `[T * B * S]` (no gradient).
    pub uniform: FloatTensor<B>,
    /// The input layer's `z` rows, `[S * K, H]`.
    pub w_in: FloatTensor<B>,
    /// `[H]`.
    pub in_gamma: FloatTensor<B>,
    /// `[H]`.
    pub in_beta: FloatTensor<B>,
    /// The GRU's layer, `[H + D, 3D]`.
    pub w_gru: FloatTensor<B>,
    /// `[3D]`.
    pub gru_gamma: FloatTensor<B>,
    /// `[3D]`.
    pub gru_beta: FloatTensor<B>,
    /// The posterior layer's `h` rows, `[D, H]`.
    pub w_post: FloatTensor<B>,
    /// `[H]`.
    pub post_gamma: FloatTensor<B>,
    /// `[H]`.
    pub post_beta: FloatTensor<B>,
    /// The posterior's logits layer, `[H, S * K]`.
    pub w_out: FloatTensor<B>,
    /// `[S * K]`.
    pub b_out: FloatTensor<B>,
}

/// The loop as one operation: its output is `[T * B, D + 2 S K]`, each
/// row the posterior's `h`, its one-hot `z` and its log-probabilities.
#[backend_extension(Cube, Autodiff)]
pub trait FusedObserve: Backend {
    /// See the module overview.
    fn observe_sequence(
        #[extension_type] inputs: ObserveInputs<Self>,
        settings: ObserveSettings,
    ) -> FloatTensor<Self>;
}

/// What the kernels of one step need for its backward pass.
#[derive(Debug, Clone)]
struct SavedStep<B: Backend> {
    keep: FloatTensor<B>,
    s0: FloatTensor<B>,
    pre_in: FloatTensor<B>,
    in_stats: FloatTensor<B>,
    gru_input: FloatTensor<B>,
    z: FloatTensor<B>,
    d0: FloatTensor<B>,
    gru_stats: FloatTensor<B>,
    deter: FloatTensor<B>,
    pre_post: FloatTensor<B>,
    post_stats: FloatTensor<B>,
    x_post: FloatTensor<B>,
    /// `[B * S, K]`.
    log_probs: FloatTensor<B>,
}

/// Rows `from..to` of a matrix.
fn rows<B: Backend>(x: &FloatTensor<B>, from: usize, to: usize) -> FloatTensor<B> {
    B::float_slice(
        x.clone(),
        &[Slice::new(from as isize, Some(to as isize), 1)],
    )
}

/// Columns `from..to` of a matrix.
fn columns<B: Backend>(x: &FloatTensor<B>, from: usize, to: usize) -> FloatTensor<B> {
    let all = Slice::new(0, None, 1);
    B::float_slice(
        x.clone(),
        &[all, Slice::new(from as isize, Some(to as isize), 1)],
    )
}

/// The loop forward: its output and, for the backward pass, every step's
/// saved tensors.
fn forward<B>(
    inputs: &ObserveInputs<B>,
    settings: ObserveSettings,
) -> (FloatTensor<B>, Vec<SavedStep<B>>)
where
    B: Backend + NormKernels + NormGruKernels + CategoricalKernels,
{
    let ObserveSettings {
        batch: b,
        stoch: s,
        classes: k,
        unimix,
        epsilon,
        center,
    } = settings;
    // LayerNorm shifts, RMSNorm does not.
    let beta = settings.center;
    let steps = inputs.keep.shape().dims::<2>()[0] / b;
    let b_out = B::float_reshape(inputs.b_out.clone(), Shape::new([1, s * k]));
    let (mut deter, mut stoch) = (inputs.deter.clone(), inputs.stoch.clone());
    let mut saved = Vec::with_capacity(steps);
    let (mut deters, mut stochs, mut log_probs) = (Vec::new(), Vec::new(), Vec::new());
    for t in 0..steps {
        let keep = rows::<B>(&inputs.keep, t * b, (t + 1) * b);
        let d0 = B::float_mul(deter, keep.clone());
        let s0 = B::float_mul(stoch, keep.clone());
        let pre_in = B::float_add(
            B::float_matmul(s0.clone(), inputs.w_in.clone()),
            rows::<B>(&inputs.action_part, t * b, (t + 1) * b),
        );
        let (x_in, in_stats) = B::fused_norm_forward(
            pre_in.clone(),
            inputs.in_gamma.clone(),
            inputs.in_beta.clone(),
            epsilon,
            center,
            beta,
            true,
        );
        let gru_input = B::float_cat(vec![x_in, d0.clone()], 1);
        let z = B::float_matmul(gru_input.clone(), inputs.w_gru.clone());
        let (next, gru_stats) = B::norm_gru_forward(
            z.clone(),
            inputs.gru_gamma.clone(),
            inputs.gru_beta.clone(),
            d0.clone(),
            epsilon,
            center,
            beta,
        );
        deter = next;
        let pre_post = B::float_add(
            B::float_matmul(deter.clone(), inputs.w_post.clone()),
            rows::<B>(&inputs.embed_part, t * b, (t + 1) * b),
        );
        let (x_post, post_stats) = B::fused_norm_forward(
            pre_post.clone(),
            inputs.post_gamma.clone(),
            inputs.post_beta.clone(),
            epsilon,
            center,
            beta,
            true,
        );
        let logits = B::float_add(
            B::float_matmul(x_post.clone(), inputs.w_out.clone()),
            b_out.clone(),
        );
        let lp =
            B::unimix_log_probs_forward(B::float_reshape(logits, Shape::new([b * s, k])), unimix);
        let uniform = rows::<B>(&inputs.uniform, t * b * s, (t + 1) * b * s);
        let sample = B::one_hot_sample(lp.clone(), uniform);
        stoch = B::float_reshape(sample, Shape::new([b, s * k]));
        deters.push(deter.clone());
        stochs.push(stoch.clone());
        log_probs.push(B::float_reshape(lp.clone(), Shape::new([b, s * k])));
        saved.push(SavedStep {
            keep,
            s0,
            pre_in,
            in_stats,
            gru_input,
            z,
            d0,
            gru_stats,
            deter: deter.clone(),
            pre_post,
            post_stats,
            x_post,
            log_probs: lp,
        });
    }
    let output = B::float_cat(
        vec![
            B::float_cat(deters, 0),
            B::float_cat(stochs, 0),
            B::float_cat(log_probs, 0),
        ],
        1,
    );
    (output, saved)
}

impl FusedObserve for burn::backend::Cube {
    fn observe_sequence(
        inputs: ObserveInputs<Self>,
        settings: ObserveSettings,
    ) -> FloatTensor<Self> {
        forward(&inputs, settings).0
    }
}

/// The gradients the backward pass registers, in `ObserveInputs` order
/// (`None` for `keep` and `uniform`).
type InputGrads<B> = [Option<FloatTensor<B>>; 17];

/// `acc + a^T b`, or `a^T b` for the first step: `[N, I]`, `[N, O]` -> `[I, O]`.
fn add_product<B: Backend>(acc: &mut Option<FloatTensor<B>>, a: FloatTensor<B>, b: FloatTensor<B>) {
    add_to::<B>(acc, B::float_matmul(B::float_transpose(a), b));
}

/// `acc + x`, or `x` for the first step.
fn add_to<B: Backend>(acc: &mut Option<FloatTensor<B>>, x: FloatTensor<B>) {
    *acc = Some(match acc.take() {
        Some(sum) => B::float_add(sum, x),
        None => x,
    });
}

/// The gradients of the weights and norms, summed over the steps.
#[derive(Default)]
struct WeightGrads<B: Backend> {
    w_in: Option<FloatTensor<B>>,
    in_norm: NormSums<B>,
    w_gru: Option<FloatTensor<B>>,
    gru_norm: NormSums<B>,
    w_post: Option<FloatTensor<B>>,
    post_norm: NormSums<B>,
    w_out: Option<FloatTensor<B>>,
    b_out: Option<FloatTensor<B>>,
}

/// A norm's scale and shift gradients summed over the steps so far.
type NormSums<B> = Option<(FloatTensor<B>, FloatTensor<B>)>;

/// The kernels' inputs for a norm's sums so far: the sums and `true`, or
/// placeholders (`gamma`, not read) and `false` at the first step.
fn sums_so_far<B: Backend>(
    sums: &mut NormSums<B>,
    gamma: &FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>, bool) {
    match sums.take() {
        Some((g, b)) => (g, b, true),
        None => (gamma.clone(), gamma.clone(), false),
    }
}

/// Adds one step's share of a norm-and-SiLU block's scale and shift
/// gradients to `sums`, from the gradient `d_out` at the block's output.
fn add_block_norm_share<B: Backend + NormKernels>(
    sums: &mut NormSums<B>,
    d_out: FloatTensor<B>,
    input: FloatTensor<B>,
    (gamma, beta): (&FloatTensor<B>, &FloatTensor<B>),
    stats: FloatTensor<B>,
    has_beta: bool,
) {
    let (acc_gamma, acc_beta, accumulate) = sums_so_far::<B>(sums, gamma);
    *sums = Some(B::fused_norm_backward_params(
        d_out,
        input,
        gamma.clone(),
        beta.clone(),
        stats,
        acc_gamma,
        acc_beta,
        has_beta,
        true,
        accumulate,
    ));
}

/// The backward pass through time from the output's gradient `g_out`.
fn backward<B>(
    g_out: FloatTensor<B>,
    inputs: &ObserveInputs<B>,
    saved: Vec<SavedStep<B>>,
    settings: ObserveSettings,
) -> InputGrads<B>
where
    B: Backend + NormKernels + NormGruKernels + CategoricalKernels,
{
    let ObserveSettings {
        batch: b,
        stoch: s,
        classes: k,
        unimix,
        center,
        ..
    } = settings;
    // LayerNorm shifts, RMSNorm does not.
    let beta = settings.center;
    let [_, d] = inputs.deter.shape().dims::<2>();
    let [_, h] = inputs.w_in.shape().dims::<2>();
    let sk = s * k;
    let g_deters = columns::<B>(&g_out, 0, d);
    let g_stochs = columns::<B>(&g_out, d, d + sk);
    let g_log_probs = columns::<B>(&g_out, d + sk, d + 2 * sk);
    let w_out_t = B::float_transpose(inputs.w_out.clone());
    let w_post_t = B::float_transpose(inputs.w_post.clone());
    let w_gru_t = B::float_transpose(inputs.w_gru.clone());
    let w_in_t = B::float_transpose(inputs.w_in.clone());

    let device = inputs.deter.device();
    let dtype = inputs.deter.dtype().into();
    // The gradients reaching step t's h and z from step t + 1.
    let mut g_next_deter = B::float_zeros(Shape::new([b, d]), &device, dtype);
    let mut g_next_stoch = B::float_zeros(Shape::new([b, sk]), &device, dtype);
    // Per step, latest first: the gradients of the projected inputs.
    let (mut g_pre_post, mut g_pre_in) = (Vec::new(), Vec::new());
    let mut weights = WeightGrads::<B>::default();
    for (t, step) in saved.iter().enumerate().rev() {
        let (from, to) = (t * b, (t + 1) * b);
        // z' = sample + p - detach(p), p = exp(lp): z's gradient reaches lp as p * g.
        let g_stoch = B::float_add(rows::<B>(&g_stochs, from, to), g_next_stoch);
        let lp = B::float_reshape(step.log_probs.clone(), Shape::new([b, sk]));
        let g_lp = B::float_add(
            rows::<B>(&g_log_probs, from, to),
            B::float_mul(B::float_exp(lp), g_stoch),
        );
        let g_logit = B::unimix_log_probs_grad(
            B::float_reshape(g_lp, Shape::new([b * s, k])),
            step.log_probs.clone(),
            unimix,
        );
        let g_logit = B::float_reshape(g_logit, Shape::new([b, sk]));
        let g_post_out = B::float_matmul(g_logit.clone(), w_out_t.clone());
        let g_pre = B::fused_norm_backward_input(
            g_post_out.clone(),
            step.pre_post.clone(),
            inputs.post_gamma.clone(),
            inputs.post_beta.clone(),
            step.post_stats.clone(),
            center,
            beta,
            true,
        );
        let g_deter = B::float_add(
            B::float_add(rows::<B>(&g_deters, from, to), g_next_deter),
            B::float_matmul(g_pre.clone(), w_post_t.clone()),
        );
        let (g_gates, g_state) = B::norm_gru_backward_input(
            g_deter.clone(),
            step.z.clone(),
            inputs.gru_gamma.clone(),
            inputs.gru_beta.clone(),
            step.d0.clone(),
            step.gru_stats.clone(),
            center,
            beta,
        );
        let g_gru_input = B::float_matmul(g_gates.clone(), w_gru_t.clone());
        let g_in_out = columns::<B>(&g_gru_input, 0, h);
        let g_d0 = B::float_add(g_state, columns::<B>(&g_gru_input, h, h + d));
        let g_in = B::fused_norm_backward_input(
            g_in_out.clone(),
            step.pre_in.clone(),
            inputs.in_gamma.clone(),
            inputs.in_beta.clone(),
            step.in_stats.clone(),
            center,
            beta,
            true,
        );
        let g_s0 = B::float_matmul(g_in.clone(), w_in_t.clone());
        g_next_deter = B::float_mul(g_d0, step.keep.clone());
        g_next_stoch = B::float_mul(g_s0, step.keep.clone());

        // The weights' and norms' shares of this step.
        add_to::<B>(&mut weights.b_out, B::float_sum_dim(g_logit.clone(), 0));
        add_product::<B>(&mut weights.w_out, step.x_post.clone(), g_logit);
        add_block_norm_share::<B>(
            &mut weights.post_norm,
            g_post_out,
            step.pre_post.clone(),
            (&inputs.post_gamma, &inputs.post_beta),
            step.post_stats.clone(),
            beta,
        );
        add_product::<B>(&mut weights.w_post, step.deter.clone(), g_pre.clone());
        let (acc_gamma, acc_beta, accumulate) =
            sums_so_far::<B>(&mut weights.gru_norm, &inputs.gru_gamma);
        weights.gru_norm = Some(B::norm_gru_backward_params(
            g_deter,
            step.z.clone(),
            inputs.gru_gamma.clone(),
            inputs.gru_beta.clone(),
            step.d0.clone(),
            step.gru_stats.clone(),
            acc_gamma,
            acc_beta,
            beta,
            accumulate,
        ));
        add_product::<B>(&mut weights.w_gru, step.gru_input.clone(), g_gates);
        add_block_norm_share::<B>(
            &mut weights.in_norm,
            g_in_out,
            step.pre_in.clone(),
            (&inputs.in_gamma, &inputs.in_beta),
            step.in_stats.clone(),
            beta,
        );
        add_product::<B>(&mut weights.w_in, step.s0.clone(), g_in.clone());
        g_pre_post.push(g_pre);
        g_pre_in.push(g_in);
    }
    g_pre_post.reverse();
    g_pre_in.reverse();
    let WeightGrads {
        w_in,
        in_norm,
        w_gru,
        gru_norm,
        w_post,
        post_norm,
        w_out,
        b_out,
    } = weights;
    let [
        (in_gamma, in_beta),
        (gru_gamma, gru_beta),
        (post_gamma, post_beta),
    ] = [in_norm, gru_norm, post_norm].map(|sums| match sums {
        Some((g, b)) => (Some(g), Some(b)),
        None => (None, None),
    });
    let b_out = b_out.map(|g| B::float_reshape(g, Shape::new([sk])));
    let shift = |g: Option<FloatTensor<B>>| g.filter(|_| beta);
    [
        Some(g_next_deter),
        Some(g_next_stoch),
        Some(B::float_cat(g_pre_in, 0)),
        Some(B::float_cat(g_pre_post, 0)),
        None,
        None,
        w_in,
        in_gamma,
        shift(in_beta),
        w_gru,
        gru_gamma,
        shift(gru_beta),
        w_post,
        post_gamma,
        shift(post_beta),
        w_out,
        b_out,
    ]
}

#[derive(Debug)]
struct ObserveBackward;

impl<B> Backward<B, 17> for ObserveBackward
where
    B: Backend + NormKernels + NormGruKernels + CategoricalKernels,
{
    type State = (ObserveInputs<B>, Vec<SavedStep<B>>, ObserveSettings);

    fn backward(self, ops: Ops<Self::State, 17>, grads: &mut Gradients, _: &mut Checkpointer) {
        let g_out = grads.consume::<B>(&ops.node);
        let (inputs, saved, settings) = ops.state;
        let input_grads = backward::<B>(g_out, &inputs, saved, settings);
        for (node, grad) in ops.parents.into_iter().zip(input_grads) {
            if let (Some(node), Some(grad)) = (node, grad) {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B, C> FusedObserve for Autodiff<B, C>
where
    B: Backend + NormKernels + NormGruKernels + CategoricalKernels,
    C: CheckpointStrategy,
{
    fn observe_sequence(
        inputs: ObserveInputs<Self>,
        settings: ObserveSettings,
    ) -> FloatTensor<Self> {
        let nodes = [
            inputs.deter.node(),
            inputs.stoch.node(),
            inputs.action_part.node(),
            inputs.embed_part.node(),
            inputs.keep.node(),
            inputs.uniform.node(),
            inputs.w_in.node(),
            inputs.in_gamma.node(),
            inputs.in_beta.node(),
            inputs.w_gru.node(),
            inputs.gru_gamma.node(),
            inputs.gru_beta.node(),
            inputs.w_post.node(),
            inputs.post_gamma.node(),
            inputs.post_beta.node(),
            inputs.w_out.node(),
            inputs.b_out.node(),
        ];
        let primitives = ObserveInputs {
            deter: inputs.deter.into_primitive(),
            stoch: inputs.stoch.into_primitive(),
            action_part: inputs.action_part.into_primitive(),
            embed_part: inputs.embed_part.into_primitive(),
            keep: inputs.keep.into_primitive(),
            uniform: inputs.uniform.into_primitive(),
            w_in: inputs.w_in.into_primitive(),
            in_gamma: inputs.in_gamma.into_primitive(),
            in_beta: inputs.in_beta.into_primitive(),
            w_gru: inputs.w_gru.into_primitive(),
            gru_gamma: inputs.gru_gamma.into_primitive(),
            gru_beta: inputs.gru_beta.into_primitive(),
            w_post: inputs.w_post.into_primitive(),
            post_gamma: inputs.post_gamma.into_primitive(),
            post_beta: inputs.post_beta.into_primitive(),
            w_out: inputs.w_out.into_primitive(),
            b_out: inputs.b_out.into_primitive(),
        };
        match ObserveBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (output, saved) = forward(&primitives, settings);
                prep.finish((primitives, saved, settings), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(&primitives, settings).0),
        }
    }
}

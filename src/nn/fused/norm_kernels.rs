//! The CubeCL kernels of the fused normalisation: one launch for the
//! forward pass, two for the backward pass, where burn's composed
//! `LayerNorm`/`RmsNorm` and SiLU launch about ten forward and twenty
//! backward (docs/performance.md, "Kernel launches per update").
//!
//! The normalisation is over the last axis of a row-major `[rows, width]`
//! tensor. With `center` (LayerNorm) the row's mean is subtracted, without
//! it (RMSNorm) it is not:
//!
//! ```text
//! c = x - mean(x)            (or x)
//! r = 1 / sqrt(mean(c^2) + epsilon)
//! n = c r
//! y = n gamma + beta         (beta only with `has_beta`)
//! out = silu(y)              (or y)
//! ```
//!
//! and backwards, for `g = d_out * silu'(y) * gamma`:
//!
//! ```text
//! d_x     = r (g - mean(g) - n mean(g n))      (mean(g) only with `center`)
//! d_gamma = sum over rows of d_out silu'(y) n
//! d_beta  = sum over rows of d_out silu'(y)
//! ```
//!
//! Row kernels run one cube per row, its threads striding over the columns
//! and summing through shared memory; the parameter kernel runs one thread
//! per column down all rows.

use burn::backend::TensorMetadata;
use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::Shape;
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::client::Client;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;

/// Threads per row: a power of two, within every runtime's cube limit.
pub(super) const ROW_THREADS: usize = 256;
/// Threads per cube of the column kernel.
const COLUMN_THREADS: usize = 64;
/// Rows a column kernel sums before adding them to its total.
pub(super) const SUM_BLOCK: usize = 256;

/// What the normalisation computes (see the module overview).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NormSpec {
    /// Subtract the row's mean (LayerNorm) or not (RMSNorm).
    pub center: bool,
    /// Add `beta` after scaling.
    pub has_beta: bool,
    /// Apply SiLU to the result.
    pub silu: bool,
}

/// The sum of `value` over the cube's threads, returned to every thread.
/// `CUBE_DIM_X` must be a power of two no larger than `ROW_THREADS`.
#[cube]
pub(super) fn cube_sum<F: Float>(mut shared: Shared<[F]>, value: F) -> F {
    let thread = UNIT_POS_X as usize;
    shared[thread] = value;
    sync_cube();
    let mut stride = CUBE_DIM_X as usize / 2;
    while stride > 0 {
        if thread < stride {
            let other = shared[thread + stride];
            shared[thread] += other;
        }
        sync_cube();
        stride /= 2;
    }
    let total = shared[0];
    sync_cube();
    total
}

/// The largest `value` over the cube's threads, returned to every thread
/// (the same conditions as [`cube_sum`]).
#[cube]
pub(super) fn cube_max<F: Float>(mut shared: Shared<[F]>, value: F) -> F {
    let thread = UNIT_POS_X as usize;
    shared[thread] = value;
    sync_cube();
    let mut stride = CUBE_DIM_X as usize / 2;
    while stride > 0 {
        if thread < stride {
            let other = shared[thread + stride];
            shared[thread] = F::max(shared[thread], other);
        }
        sync_cube();
        stride /= 2;
    }
    let most = shared[0];
    sync_cube();
    most
}

/// The mean of the `width` values of `input` from `start`, returned to
/// every thread of the cube.
#[cube]
pub(super) fn row_mean<F: Float>(
    input: &Tensor<F>,
    start: usize,
    width: usize,
    shared: Shared<[F]>,
) -> F {
    let mut sum = F::new(0.0);
    let mut j = UNIT_POS_X as usize;
    while j < width {
        sum += input[start + j];
        j += CUBE_DIM_X as usize;
    }
    cube_sum::<F>(shared, sum) / F::cast_from(width as u32)
}

/// `1 / sqrt(mean((x - mean)^2) + epsilon)` over the same values.
#[cube]
pub(super) fn row_inverse_std<F: Float>(
    input: &Tensor<F>,
    start: usize,
    width: usize,
    mean: F,
    epsilon: f32,
    shared: Shared<[F]>,
) -> F {
    let mut squares = F::new(0.0);
    let mut j = UNIT_POS_X as usize;
    while j < width {
        let c = input[start + j] - mean;
        squares += c * c;
        j += CUBE_DIM_X as usize;
    }
    let variance = cube_sum::<F>(shared, squares) / F::cast_from(width as u32);
    F::new(1.0) / (variance + F::cast_from(epsilon)).sqrt()
}

/// `silu(y)`.
#[cube]
fn silu<F: Float>(y: F) -> F {
    y / (F::new(1.0) + (-y).exp())
}

/// The derivative of SiLU at `y`: `s (1 + y (1 - s))`, `s = sigmoid(y)`.
#[cube]
fn silu_slope<F: Float>(y: F) -> F {
    let s = F::new(1.0) / (F::new(1.0) + (-y).exp());
    s * (F::new(1.0) + y * (F::new(1.0) - s))
}

/// `d_out * silu'(y)` (or `d_out` without SiLU), for `y = n gamma + beta`.
#[cube]
fn pre_activation_grad<F: Float>(
    d_out: F,
    n: F,
    gamma: F,
    beta: F,
    #[comptime] has_beta: bool,
    #[comptime] silu: bool,
) -> F {
    let mut grad = d_out;
    if silu {
        let mut y = n * gamma;
        if has_beta {
            y += beta;
        }
        grad = d_out * silu_slope::<F>(y);
    }
    grad
}

#[cube(launch)]
fn norm_forward_kernel<F: Float>(
    input: &Tensor<F>,      // [rows, width]
    gamma: &Tensor<F>,      // [width]
    beta: &Tensor<F>,       // [width], read only with `has_beta`
    output: &mut Tensor<F>, // [rows, width]
    stats: &mut Tensor<F>,  // [rows, 2]: mean, r
    epsilon: f32,
    #[comptime] center: bool,
    #[comptime] has_beta: bool,
    #[comptime] silu_out: bool,
    #[define(F)] _dtype: ElemType,
) {
    let row = CUBE_POS;
    if row >= input.shape(0) {
        terminate!();
    }
    let width = input.shape(1);
    let start = row * width;
    let thread = UNIT_POS_X as usize;
    let threads = CUBE_DIM_X as usize;
    let shared = Shared::<[F]>::new_slice(ROW_THREADS);
    let mut mean = F::new(0.0);
    if center {
        mean = row_mean::<F>(input, start, width, shared.clone());
    }
    let r = row_inverse_std::<F>(input, start, width, mean, epsilon, shared.clone());

    let mut j = thread;
    while j < width {
        let mut y = (input[start + j] - mean) * r * gamma[j];
        if has_beta {
            y += beta[j];
        }
        if silu_out {
            y = silu::<F>(y);
        }
        output[start + j] = y;
        j += threads;
    }
    if thread == 0 {
        stats[row * 2] = mean;
        stats[row * 2 + 1] = r;
    }
}

#[cube(launch)]
fn norm_backward_input_kernel<F: Float>(
    d_out: &Tensor<F>,       // [rows, width]
    input: &Tensor<F>,       // [rows, width]
    gamma: &Tensor<F>,       // [width]
    beta: &Tensor<F>,        // [width]
    stats: &Tensor<F>,       // [rows, 2]
    d_input: &mut Tensor<F>, // [rows, width]
    #[comptime] center: bool,
    #[comptime] has_beta: bool,
    #[comptime] silu_out: bool,
    #[define(F)] _dtype: ElemType,
) {
    let row = CUBE_POS;
    if row >= input.shape(0) {
        terminate!();
    }
    let width = input.shape(1);
    let start = row * width;
    let thread = UNIT_POS_X as usize;
    let threads = CUBE_DIM_X as usize;
    let shared = Shared::<[F]>::new_slice(ROW_THREADS);
    let count = F::cast_from(width as u32);
    let mean = stats[row * 2];
    let r = stats[row * 2 + 1];

    let mut sum_g = F::new(0.0);
    let mut sum_gn = F::new(0.0);
    let mut j = thread;
    while j < width {
        let n = (input[start + j] - mean) * r;
        let g =
            pre_activation_grad::<F>(d_out[start + j], n, gamma[j], beta[j], has_beta, silu_out)
                * gamma[j];
        sum_g += g;
        sum_gn += g * n;
        j += threads;
    }
    let mut mean_g = F::new(0.0);
    if center {
        mean_g = cube_sum::<F>(shared.clone(), sum_g) / count;
    }
    let mean_gn = cube_sum::<F>(shared.clone(), sum_gn) / count;

    let mut j = thread;
    while j < width {
        let n = (input[start + j] - mean) * r;
        let g =
            pre_activation_grad::<F>(d_out[start + j], n, gamma[j], beta[j], has_beta, silu_out)
                * gamma[j];
        d_input[start + j] = r * (g - mean_g - n * mean_gn);
        j += threads;
    }
}

#[cube(launch)]
fn norm_backward_params_kernel<F: Float>(
    d_out: &Tensor<F>,       // [rows, width]
    input: &Tensor<F>,       // [rows, width]
    gamma: &Tensor<F>,       // [width]
    beta: &Tensor<F>,        // [width]
    stats: &Tensor<F>,       // [rows, 2]
    acc_gamma: &Tensor<F>,   // [width], read only with `accumulate`
    acc_beta: &Tensor<F>,    // [width], read only with `accumulate`
    d_gamma: &mut Tensor<F>, // [width]
    d_beta: &mut Tensor<F>,  // [width]
    #[comptime] has_beta: bool,
    #[comptime] silu_out: bool,
    #[comptime] accumulate: bool,
    #[define(F)] _dtype: ElemType,
) {
    let j = ABSOLUTE_POS;
    let rows = input.shape(0);
    let width = input.shape(1);
    if j >= width {
        terminate!();
    }
    let mut sum_gn = F::new(0.0);
    let mut sum_g = F::new(0.0);
    // Summed in blocks of `SUM_BLOCK` rows, each block's sum added to the
    // total, so that rounding accumulates over shorter chains than one
    // running sum down a long column.
    let mut block = 0usize;
    while block < rows {
        let mut end = block + SUM_BLOCK;
        if end > rows {
            end = rows;
        }
        let mut part_gn = F::new(0.0);
        let mut part_g = F::new(0.0);
        for row in block..end {
            let n = (input[row * width + j] - stats[row * 2]) * stats[row * 2 + 1];
            let g = pre_activation_grad::<F>(
                d_out[row * width + j],
                n,
                gamma[j],
                beta[j],
                has_beta,
                silu_out,
            );
            part_gn += g * n;
            part_g += g;
        }
        sum_gn += part_gn;
        sum_g += part_g;
        block = end;
    }
    if accumulate {
        sum_gn += acc_gamma[j];
        sum_g += acc_beta[j];
    }
    d_gamma[j] = sum_gn;
    d_beta[j] = sum_g;
}

/// Threads per row cube for rows of `width`: a power of two, at most
/// `ROW_THREADS` and the device's limit, and no more than the row needs.
pub(super) fn row_threads(tensor: &CubeTensor, width: usize) -> u32 {
    let most = tensor.client.properties().hardware.max_cube_dim.0;
    let mut threads = (width.next_power_of_two().min(ROW_THREADS) as u32).max(1);
    while threads > most {
        threads /= 2;
    }
    threads
}

/// One cube per row, `rows` of them, spread over the grid's dimensions
/// where one would exceed the device's limit (the kernels skip the
/// cubes past the last row; all of a cube's threads leave together, before
/// any barrier).
pub(super) fn row_cubes(client: &Client, rows: usize) -> CubeCount {
    cubecl::calculate_cube_count_elemwise(client, rows, CubeDim::new_1d(1))
}

fn rows_and_width(tensor: &CubeTensor) -> (usize, usize) {
    let dims = tensor.shape().dims::<2>();
    (dims[0], dims[1])
}

/// The fused normalisation of `input [rows, width]`: its output and the
/// per-row statistics `[rows, 2]` (mean, r) the backward pass reads.
pub fn norm_forward(
    input: CubeTensor,
    gamma: CubeTensor,
    beta: CubeTensor,
    epsilon: f32,
    spec: NormSpec,
) -> (CubeTensor, CubeTensor) {
    let input = into_contiguous(input);
    let gamma = into_contiguous(gamma);
    let beta = into_contiguous(beta);
    let (rows, width) = rows_and_width(&input);
    let (client, device, dtype) = (input.client.clone(), input.device.clone(), input.dtype);
    let output = empty_device_contiguous_dtype(
        client.clone(),
        device.clone(),
        Shape::new([rows, width]),
        dtype,
    );
    let stats = empty_device_contiguous_dtype(client.clone(), device, Shape::new([rows, 2]), dtype);
    let threads = row_threads(&input, width);
    norm_forward_kernel::launch(
        &client,
        row_cubes(&client, rows),
        CubeDim::new_1d(threads),
        input.into_tensor_arg(),
        gamma.into_tensor_arg(),
        beta.into_tensor_arg(),
        output.clone().into_tensor_arg(),
        stats.clone().into_tensor_arg(),
        epsilon,
        spec.center,
        spec.has_beta,
        spec.silu,
        dtype_to_storage_type(dtype),
    );
    (output, stats)
}

/// The gradient of [`norm_forward`]'s output with respect to `input`,
/// from the output's gradient `d_out [rows, width]`.
pub fn norm_backward_input(
    d_out: CubeTensor,
    input: CubeTensor,
    gamma: CubeTensor,
    beta: CubeTensor,
    stats: CubeTensor,
    spec: NormSpec,
) -> CubeTensor {
    let [d_out, input, gamma, beta, stats] =
        [d_out, input, gamma, beta, stats].map(into_contiguous);
    let (rows, width) = rows_and_width(&input);
    let (client, dtype) = (input.client.clone(), input.dtype);
    let d_input = empty_device_contiguous_dtype(
        client.clone(),
        input.device.clone(),
        Shape::new([rows, width]),
        dtype,
    );
    norm_backward_input_kernel::launch(
        &client,
        row_cubes(&client, rows),
        CubeDim::new_1d(row_threads(&input, width)),
        d_out.into_tensor_arg(),
        input.clone().into_tensor_arg(),
        gamma.into_tensor_arg(),
        beta.into_tensor_arg(),
        stats.into_tensor_arg(),
        d_input.clone().into_tensor_arg(),
        spec.center,
        spec.has_beta,
        spec.silu,
        dtype_to_storage_type(dtype),
    );
    d_input
}

/// The gradients of [`norm_forward`]'s output with respect to `gamma` and
/// `beta`, summed over all rows, and added to `acc` (earlier steps' sums)
/// where given.
pub fn norm_backward_params(
    d_out: CubeTensor,
    input: CubeTensor,
    gamma: CubeTensor,
    beta: CubeTensor,
    stats: CubeTensor,
    acc: Option<(CubeTensor, CubeTensor)>,
    spec: NormSpec,
) -> (CubeTensor, CubeTensor) {
    let accumulate = acc.is_some();
    let (acc_gamma, acc_beta) = acc.unwrap_or_else(|| (gamma.clone(), gamma.clone()));
    let [d_out, input, gamma, beta, stats, acc_gamma, acc_beta] =
        [d_out, input, gamma, beta, stats, acc_gamma, acc_beta].map(into_contiguous);
    let (_, width) = rows_and_width(&input);
    let (client, device, dtype) = (input.client.clone(), input.device.clone(), input.dtype);
    let empty =
        |shape: Shape| empty_device_contiguous_dtype(client.clone(), device.clone(), shape, dtype);
    let d_gamma = empty(Shape::new([width]));
    let d_beta = empty(Shape::new([width]));
    norm_backward_params_kernel::launch(
        &client,
        CubeCount::Static(width.div_ceil(COLUMN_THREADS) as u32, 1, 1),
        CubeDim::new_1d(COLUMN_THREADS as u32),
        d_out.into_tensor_arg(),
        input.into_tensor_arg(),
        gamma.into_tensor_arg(),
        beta.into_tensor_arg(),
        stats.into_tensor_arg(),
        acc_gamma.into_tensor_arg(),
        acc_beta.into_tensor_arg(),
        d_gamma.clone().into_tensor_arg(),
        d_beta.clone().into_tensor_arg(),
        spec.has_beta,
        spec.silu,
        accumulate,
        dtype_to_storage_type(dtype),
    );
    (d_gamma, d_beta)
}

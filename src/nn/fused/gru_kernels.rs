//! The CubeCL kernels of DreamerV3's normalised GRU update: the
//! normalisation of the gate layer's output and the gates in one launch
//! forward and two backward, where the composed operations split the
//! gates apart (three slices, each a kernel boundary) and launch the
//! norm's reductions, five activations and their gradients one by one.
//!
//! For `z [rows, 3H]` (reset, candidate and update parts side by side),
//! normalised as in [`super::norm_kernels`] to `y`, and the state `h`:
//!
//! ```text
//! r = sigmoid(y_r)   c = tanh(r y_c)   u = sigmoid(y_u - 1)
//! h' = h + u (c - h)
//! ```
//!
//! Backwards, for `d = d_h'`:
//!
//! ```text
//! d_h   = d (1 - u)
//! d_y_u = d (c - h) u (1 - u)
//! d_y_c = d u (1 - c^2) r
//! d_y_r = d u (1 - c^2) y_c r (1 - r)
//! ```
//!
//! then the normalisation's backward pass over all `3H` columns.

use burn::backend::TensorMetadata;
use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::Shape;
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;

use super::norm_kernels::{
    ROW_THREADS, SUM_BLOCK, cube_sum, row_cubes, row_inverse_std, row_mean, row_threads,
};

/// Threads per cube of the column kernel.
const COLUMN_THREADS: usize = 64;

#[cube]
fn sigmoid<F: Float>(x: F) -> F {
    F::new(1.0) / (F::new(1.0) + (-x).exp())
}

/// The normalised value of column `k` of a row: `(z - mean) r gamma + beta`.
#[cube]
fn normalised<F: Float>(z: F, mean: F, r: F, gamma: F, beta: F, #[comptime] has_beta: bool) -> F {
    let mut y = (z - mean) * r * gamma;
    if has_beta {
        y += beta;
    }
    y
}

/// The gradient reaching gate `gate` (0 reset, 1 candidate, 2 update) of
/// one unit from `d = d_h'`.
#[cube]
fn gate_grad<F: Float>(gate: usize, y_r: F, y_c: F, y_u: F, h: F, d: F) -> F {
    let r = sigmoid::<F>(y_r);
    let c = (r * y_c).tanh();
    let u = sigmoid::<F>(y_u - F::new(1.0));
    let through_c = d * u * (F::new(1.0) - c * c);
    let mut grad = d * (c - h) * u * (F::new(1.0) - u);
    if gate == 0 {
        grad = through_c * y_c * r * (F::new(1.0) - r);
    } else if gate == 1 {
        grad = through_c * r;
    }
    grad
}

#[cube(launch)]
fn norm_gru_forward_kernel<F: Float>(
    z: &Tensor<F>,          // [rows, 3H]
    gamma: &Tensor<F>,      // [3H]
    beta: &Tensor<F>,       // [3H]
    state: &Tensor<F>,      // [rows, H]
    output: &mut Tensor<F>, // [rows, H]
    stats: &mut Tensor<F>,  // [rows, 2]
    epsilon: f32,
    #[comptime] center: bool,
    #[comptime] has_beta: bool,
    #[define(F)] _dtype: ElemType,
) {
    let row = CUBE_POS;
    if row >= state.shape(0) {
        terminate!();
    }
    let units = state.shape(1);
    let width = 3 * units;
    let start = row * width;
    let thread = UNIT_POS_X as usize;
    let threads = CUBE_DIM_X as usize;
    let shared = Shared::<[F]>::new_slice(ROW_THREADS);
    let mut mean = F::new(0.0);
    if center {
        mean = row_mean::<F>(z, start, width, shared.clone());
    }
    let r_std = row_inverse_std::<F>(z, start, width, mean, epsilon, shared.clone());

    let mut j = thread;
    while j < units {
        let kc = units + j;
        let ku = 2 * units + j;
        let y_r = normalised::<F>(z[start + j], mean, r_std, gamma[j], beta[j], has_beta);
        let y_c = normalised::<F>(z[start + kc], mean, r_std, gamma[kc], beta[kc], has_beta);
        let y_u = normalised::<F>(z[start + ku], mean, r_std, gamma[ku], beta[ku], has_beta);
        let reset = sigmoid::<F>(y_r);
        let candidate = (reset * y_c).tanh();
        let update = sigmoid::<F>(y_u - F::new(1.0));
        let h = state[row * units + j];
        output[row * units + j] = h + update * (candidate - h);
        j += threads;
    }
    if thread == 0 {
        stats[row * 2] = mean;
        stats[row * 2 + 1] = r_std;
    }
}

#[cube(launch)]
fn norm_gru_backward_input_kernel<F: Float>(
    d_out: &Tensor<F>,       // [rows, H]
    z: &Tensor<F>,           // [rows, 3H]
    gamma: &Tensor<F>,       // [3H]
    beta: &Tensor<F>,        // [3H]
    state: &Tensor<F>,       // [rows, H]
    stats: &Tensor<F>,       // [rows, 2]
    d_z: &mut Tensor<F>,     // [rows, 3H]
    d_state: &mut Tensor<F>, // [rows, H]
    #[comptime] center: bool,
    #[comptime] has_beta: bool,
    #[define(F)] _dtype: ElemType,
) {
    let row = CUBE_POS;
    if row >= state.shape(0) {
        terminate!();
    }
    let units = state.shape(1);
    let width = 3 * units;
    let start = row * width;
    let thread = UNIT_POS_X as usize;
    let threads = CUBE_DIM_X as usize;
    let shared = Shared::<[F]>::new_slice(ROW_THREADS);
    let count = F::cast_from(width as u32);
    let mean = stats[row * 2];
    let r_std = stats[row * 2 + 1];

    // Pass 1: the sums the normalisation's backward pass needs, over all
    // 3H columns (each thread takes its units' three gates).
    let mut sum_g = F::new(0.0);
    let mut sum_gn = F::new(0.0);
    let mut j = thread;
    while j < units {
        let y_r = normalised::<F>(z[start + j], mean, r_std, gamma[j], beta[j], has_beta);
        let kc = units + j;
        let ku = 2 * units + j;
        let y_c = normalised::<F>(z[start + kc], mean, r_std, gamma[kc], beta[kc], has_beta);
        let y_u = normalised::<F>(z[start + ku], mean, r_std, gamma[ku], beta[ku], has_beta);
        let h = state[row * units + j];
        let d = d_out[row * units + j];
        #[unroll]
        for gate in 0..3usize {
            let k = gate * units + j;
            let g = gate_grad::<F>(gate, y_r, y_c, y_u, h, d) * gamma[k];
            sum_g += g;
            sum_gn += g * (z[start + k] - mean) * r_std;
        }
        j += threads;
    }
    let mut mean_g = F::new(0.0);
    if center {
        mean_g = cube_sum::<F>(shared.clone(), sum_g) / count;
    }
    let mean_gn = cube_sum::<F>(shared.clone(), sum_gn) / count;

    // Pass 2: write the gradients.
    let mut j = thread;
    while j < units {
        let y_r = normalised::<F>(z[start + j], mean, r_std, gamma[j], beta[j], has_beta);
        let kc = units + j;
        let ku = 2 * units + j;
        let y_c = normalised::<F>(z[start + kc], mean, r_std, gamma[kc], beta[kc], has_beta);
        let y_u = normalised::<F>(z[start + ku], mean, r_std, gamma[ku], beta[ku], has_beta);
        let h = state[row * units + j];
        let d = d_out[row * units + j];
        #[unroll]
        for gate in 0..3usize {
            let k = gate * units + j;
            let g = gate_grad::<F>(gate, y_r, y_c, y_u, h, d) * gamma[k];
            let n = (z[start + k] - mean) * r_std;
            d_z[start + k] = r_std * (g - mean_g - n * mean_gn);
        }
        let update = sigmoid::<F>(y_u - F::new(1.0));
        d_state[row * units + j] = d * (F::new(1.0) - update);
        j += threads;
    }
}

#[cube(launch)]
fn norm_gru_backward_params_kernel<F: Float>(
    d_out: &Tensor<F>,       // [rows, H]
    z: &Tensor<F>,           // [rows, 3H]
    gamma: &Tensor<F>,       // [3H]
    beta: &Tensor<F>,        // [3H]
    state: &Tensor<F>,       // [rows, H]
    stats: &Tensor<F>,       // [rows, 2]
    acc_gamma: &Tensor<F>,   // [3H], read only with `accumulate`
    acc_beta: &Tensor<F>,    // [3H], read only with `accumulate`
    d_gamma: &mut Tensor<F>, // [3H]
    d_beta: &mut Tensor<F>,  // [3H]
    #[comptime] has_beta: bool,
    #[comptime] accumulate: bool,
    #[define(F)] _dtype: ElemType,
) {
    let k = ABSOLUTE_POS;
    let rows = state.shape(0);
    let units = state.shape(1);
    let width = 3 * units;
    if k >= width {
        terminate!();
    }
    let gate = k / units;
    let j = k % units;
    let kc = units + j;
    let ku = 2 * units + j;
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
            let start = row * width;
            let mean = stats[row * 2];
            let r_std = stats[row * 2 + 1];
            let y_r = normalised::<F>(z[start + j], mean, r_std, gamma[j], beta[j], has_beta);
            let y_c = normalised::<F>(z[start + kc], mean, r_std, gamma[kc], beta[kc], has_beta);
            let y_u = normalised::<F>(z[start + ku], mean, r_std, gamma[ku], beta[ku], has_beta);
            let g = gate_grad::<F>(
                gate,
                y_r,
                y_c,
                y_u,
                state[row * units + j],
                d_out[row * units + j],
            );
            part_gn += g * (z[start + k] - mean) * r_std;
            part_g += g;
        }
        sum_gn += part_gn;
        sum_g += part_g;
        block = end;
    }
    if accumulate {
        sum_gn += acc_gamma[k];
        sum_g += acc_beta[k];
    }
    d_gamma[k] = sum_gn;
    d_beta[k] = sum_g;
}

/// The GRU's next state `[rows, H]` from the gate layer's output
/// `z [rows, 3H]` and the state `[rows, H]`, and the per-row statistics
/// `[rows, 2]` of the normalisation.
pub fn norm_gru_forward(
    z: CubeTensor,
    gamma: CubeTensor,
    beta: CubeTensor,
    state: CubeTensor,
    epsilon: f32,
    center: bool,
    has_beta: bool,
) -> (CubeTensor, CubeTensor) {
    let [z, gamma, beta, state] = [z, gamma, beta, state].map(into_contiguous);
    let [rows, units] = state.shape().dims::<2>();
    let (client, device, dtype) = (state.client.clone(), state.device.clone(), state.dtype);
    let empty =
        |shape: Shape| empty_device_contiguous_dtype(client.clone(), device.clone(), shape, dtype);
    let output = empty(Shape::new([rows, units]));
    let stats = empty(Shape::new([rows, 2]));
    norm_gru_forward_kernel::launch(
        &client,
        row_cubes(&client, rows),
        CubeDim::new_1d(row_threads(&state, units)),
        z.into_tensor_arg(),
        gamma.into_tensor_arg(),
        beta.into_tensor_arg(),
        state.into_tensor_arg(),
        output.clone().into_tensor_arg(),
        stats.clone().into_tensor_arg(),
        epsilon,
        center,
        has_beta,
        dtype_to_storage_type(dtype),
    );
    (output, stats)
}

/// The gradients of [`norm_gru_forward`]'s output with respect to `z`
/// and the state, from the output's gradient `d_out`.
#[allow(clippy::too_many_arguments)]
pub fn norm_gru_backward_input(
    d_out: CubeTensor,
    z: CubeTensor,
    gamma: CubeTensor,
    beta: CubeTensor,
    state: CubeTensor,
    stats: CubeTensor,
    center: bool,
    has_beta: bool,
) -> (CubeTensor, CubeTensor) {
    let [d_out, z, gamma, beta, state, stats] =
        [d_out, z, gamma, beta, state, stats].map(into_contiguous);
    let [rows, units] = state.shape().dims::<2>();
    let (client, device, dtype) = (state.client.clone(), state.device.clone(), state.dtype);
    let empty =
        |shape: Shape| empty_device_contiguous_dtype(client.clone(), device.clone(), shape, dtype);
    let d_z = empty(Shape::new([rows, 3 * units]));
    let d_state = empty(Shape::new([rows, units]));
    norm_gru_backward_input_kernel::launch(
        &client,
        row_cubes(&client, rows),
        CubeDim::new_1d(row_threads(&state, units)),
        d_out.into_tensor_arg(),
        z.into_tensor_arg(),
        gamma.into_tensor_arg(),
        beta.into_tensor_arg(),
        state.clone().into_tensor_arg(),
        stats.into_tensor_arg(),
        d_z.clone().into_tensor_arg(),
        d_state.clone().into_tensor_arg(),
        center,
        has_beta,
        dtype_to_storage_type(dtype),
    );
    (d_z, d_state)
}

/// The gradients of [`norm_gru_forward`]'s output with respect to `gamma`
/// and `beta`, summed over all rows, and added to `acc` (earlier steps'
/// sums) where given.
#[allow(clippy::too_many_arguments)]
pub fn norm_gru_backward_params(
    d_out: CubeTensor,
    z: CubeTensor,
    gamma: CubeTensor,
    beta: CubeTensor,
    state: CubeTensor,
    stats: CubeTensor,
    acc: Option<(CubeTensor, CubeTensor)>,
    has_beta: bool,
) -> (CubeTensor, CubeTensor) {
    let accumulate = acc.is_some();
    let (acc_gamma, acc_beta) = acc.unwrap_or_else(|| (gamma.clone(), gamma.clone()));
    let [d_out, z, gamma, beta, state, stats, acc_gamma, acc_beta] =
        [d_out, z, gamma, beta, state, stats, acc_gamma, acc_beta].map(into_contiguous);
    let [_, units] = state.shape().dims::<2>();
    let (client, device, dtype) = (state.client.clone(), state.device.clone(), state.dtype);
    let empty =
        |shape: Shape| empty_device_contiguous_dtype(client.clone(), device.clone(), shape, dtype);
    let d_gamma = empty(Shape::new([3 * units]));
    let d_beta = empty(Shape::new([3 * units]));
    norm_gru_backward_params_kernel::launch(
        &client,
        CubeCount::Static((3 * units).div_ceil(COLUMN_THREADS) as u32, 1, 1),
        CubeDim::new_1d(COLUMN_THREADS as u32),
        d_out.into_tensor_arg(),
        z.into_tensor_arg(),
        gamma.into_tensor_arg(),
        beta.into_tensor_arg(),
        state.into_tensor_arg(),
        stats.into_tensor_arg(),
        acc_gamma.into_tensor_arg(),
        acc_beta.into_tensor_arg(),
        d_gamma.clone().into_tensor_arg(),
        d_beta.clone().into_tensor_arg(),
        has_beta,
        accumulate,
        dtype_to_storage_type(dtype),
    );
    (d_gamma, d_beta)
}

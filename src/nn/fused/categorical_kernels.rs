//! The CubeCL kernels of DreamerV3's categoricals: the unimix
//! log-probabilities (one launch forward, one backward, where burn's
//! softmax, mixing and logarithm launch several each) and the one-hot
//! sample (one launch where the composed inverse-CDF sampler launches a
//! cumulative sum, comparisons and a reduction).
//!
//! For logits `x [rows, K]` and unimix `a`:
//!
//! ```text
//! p = softmax(x)
//! out = log((1 - a) p + a / K)
//! d_x = p (d_p - sum_k p_k d_p_k),   d_p = (1 - a) d_out / exp(out)
//! ```

use burn::backend::TensorMetadata;
use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::Shape;
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;

use super::norm_kernels::{ROW_THREADS, cube_max, cube_sum, row_cubes, row_threads};

/// Threads per cube of the one-thread-per-row sampler.
const SAMPLE_THREADS: usize = 64;

#[cube(launch)]
fn unimix_log_probs_kernel<F: Float>(
    logits: &Tensor<F>,     // [rows, K]
    output: &mut Tensor<F>, // [rows, K]
    unimix: f32,
    #[define(F)] _dtype: ElemType,
) {
    let row = CUBE_POS;
    if row >= logits.shape(0) {
        terminate!();
    }
    let width = logits.shape(1);
    let start = row * width;
    let thread = UNIT_POS_X as usize;
    let threads = CUBE_DIM_X as usize;
    let shared = Shared::<[F]>::new_slice(ROW_THREADS);

    let mut most = F::new(-3.0e38);
    let mut j = thread;
    while j < width {
        most = F::max(most, logits[start + j]);
        j += threads;
    }
    let most = cube_max::<F>(shared.clone(), most);
    let mut total = F::new(0.0);
    let mut j = thread;
    while j < width {
        total += (logits[start + j] - most).exp();
        j += threads;
    }
    let total = cube_sum::<F>(shared.clone(), total);
    let mix = F::cast_from(unimix);
    let uniform = mix / F::cast_from(width as u32);
    let mut j = thread;
    while j < width {
        let p = (logits[start + j] - most).exp() / total;
        output[start + j] = ((F::new(1.0) - mix) * p + uniform).ln();
        j += threads;
    }
}

#[cube(launch)]
fn unimix_log_probs_backward_kernel<F: Float>(
    d_out: &Tensor<F>,        // [rows, K]
    output: &Tensor<F>,       // [rows, K], the forward's log-probabilities
    d_logits: &mut Tensor<F>, // [rows, K]
    unimix: f32,
    #[define(F)] _dtype: ElemType,
) {
    let row = CUBE_POS;
    if row >= output.shape(0) {
        terminate!();
    }
    let width = output.shape(1);
    let start = row * width;
    let thread = UNIT_POS_X as usize;
    let threads = CUBE_DIM_X as usize;
    let shared = Shared::<[F]>::new_slice(ROW_THREADS);
    let mix = F::cast_from(unimix);
    let uniform = mix / F::cast_from(width as u32);
    let keep = F::new(1.0) - mix;

    // p from the mixed probabilities q = exp(out): p = (q - a / K) / (1 - a).
    let mut weighted = F::new(0.0);
    let mut j = thread;
    while j < width {
        let q = output[start + j].exp();
        let p = (q - uniform) / keep;
        weighted += p * keep * d_out[start + j] / q;
        j += threads;
    }
    let weighted = cube_sum::<F>(shared.clone(), weighted);
    let mut j = thread;
    while j < width {
        let q = output[start + j].exp();
        let p = (q - uniform) / keep;
        d_logits[start + j] = p * (keep * d_out[start + j] / q - weighted);
        j += threads;
    }
}

#[cube(launch)]
fn sample_one_hot_kernel<F: Float>(
    log_probs: &Tensor<F>,  // [rows, K]
    uniform: &Tensor<F>,    // [rows]
    output: &mut Tensor<F>, // [rows, K]
    #[define(F)] _dtype: ElemType,
) {
    let row = ABSOLUTE_POS;
    let rows = log_probs.shape(0);
    let width = log_probs.shape(1);
    if row >= rows {
        terminate!();
    }
    let start = row * width;
    let mut total = F::new(0.0);
    for k in 0..width {
        total += log_probs[start + k].exp();
    }
    // The class drawn: how many cumulative probabilities are at or below
    // u * total, the last class where rounding reaches the total.
    let threshold = uniform[row] * total;
    let mut cumulative = F::new(0.0);
    let mut drawn = 0usize;
    for k in 0..width {
        cumulative += log_probs[start + k].exp();
        if cumulative <= threshold {
            drawn += 1;
        }
    }
    if drawn > width - 1 {
        drawn = width - 1;
    }
    for k in 0..width {
        output[start + k] = F::new(0.0);
    }
    output[start + drawn] = F::new(1.0);
}

fn rows_and_width(tensor: &CubeTensor) -> (usize, usize) {
    let dims = tensor.shape().dims::<2>();
    (dims[0], dims[1])
}

/// The unimix log-probabilities of `logits [rows, K]`.
pub fn unimix_log_probs(logits: CubeTensor, unimix: f32) -> CubeTensor {
    let logits = into_contiguous(logits);
    let (rows, width) = rows_and_width(&logits);
    let (client, device, dtype) = (logits.client.clone(), logits.device.clone(), logits.dtype);
    let output =
        empty_device_contiguous_dtype(client.clone(), device, Shape::new([rows, width]), dtype);
    unimix_log_probs_kernel::launch(
        &client,
        row_cubes(&client, rows),
        CubeDim::new_1d(row_threads(&logits, width)),
        logits.into_tensor_arg(),
        output.clone().into_tensor_arg(),
        unimix,
        dtype_to_storage_type(dtype),
    );
    output
}

/// The logits' gradient from the log-probabilities' gradient `d_out` and
/// the log-probabilities `output` [`unimix_log_probs`] returned.
pub fn unimix_log_probs_backward(d_out: CubeTensor, output: CubeTensor, unimix: f32) -> CubeTensor {
    let d_out = into_contiguous(d_out);
    let output = into_contiguous(output);
    let (rows, width) = rows_and_width(&output);
    let (client, device, dtype) = (output.client.clone(), output.device.clone(), output.dtype);
    let d_logits =
        empty_device_contiguous_dtype(client.clone(), device, Shape::new([rows, width]), dtype);
    unimix_log_probs_backward_kernel::launch(
        &client,
        row_cubes(&client, rows),
        CubeDim::new_1d(row_threads(&output, width)),
        d_out.into_tensor_arg(),
        output.into_tensor_arg(),
        d_logits.clone().into_tensor_arg(),
        unimix,
        dtype_to_storage_type(dtype),
    );
    d_logits
}

/// A one-hot sample `[rows, K]` from `log_probs [rows, K]` with one
/// `uniform [rows]` number in [0, 1) per row.
pub fn sample_one_hot(log_probs: CubeTensor, uniform: CubeTensor) -> CubeTensor {
    let log_probs = into_contiguous(log_probs);
    let uniform = into_contiguous(uniform);
    let (rows, width) = rows_and_width(&log_probs);
    let (client, device, dtype) = (
        log_probs.client.clone(),
        log_probs.device.clone(),
        log_probs.dtype,
    );
    let output =
        empty_device_contiguous_dtype(client.clone(), device, Shape::new([rows, width]), dtype);
    sample_one_hot_kernel::launch(
        &client,
        CubeCount::Static(rows.div_ceil(SAMPLE_THREADS) as u32, 1, 1),
        CubeDim::new_1d(SAMPLE_THREADS as u32),
        log_probs.into_tensor_arg(),
        uniform.into_tensor_arg(),
        output.clone().into_tensor_arg(),
        dtype_to_storage_type(dtype),
    );
    output
}

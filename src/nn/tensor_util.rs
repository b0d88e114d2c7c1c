//! Small helpers for moving data between host vectors and tensors, and for
//! checking shapes at public boundaries.

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

/// Panic with a clear message when `tensor` does not have the expected dims.
/// `None` entries match any size. `what` names the argument, e.g. `"embed [B, E]"`.
pub fn check_dims<const D: usize>(tensor: &Tensor<D>, expected: [Option<usize>; D], what: &str) {
    let dims = tensor.dims();
    let ok = dims
        .iter()
        .zip(expected.iter())
        .all(|(&d, e)| e.is_none_or(|e| e == d));
    assert!(
        ok,
        "shape contract violated for {what}: expected {expected:?}, got {dims:?}"
    );
}

/// Step `t` of a time-major tensor of `b` rows per step: rows
/// `t * b .. (t + 1) * b` along the first axis.
///
/// # Shapes
/// `[T * B, ..]` -> `[B, ..]`
pub fn time_step<const D: usize>(x: &Tensor<D>, t: usize, b: usize) -> Tensor<D> {
    x.clone().narrow(0, t * b, b)
}

/// A float tensor from a host vector and a shape.
pub fn tensor_from_vec<const D: usize>(
    values: Vec<f32>,
    shape: [usize; D],
    device: &Device,
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// An integer tensor from host values.
pub fn int_tensor_from_vec<const D: usize>(
    values: Vec<i64>,
    shape: [usize; D],
    device: &Device,
) -> Tensor<D, Int> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// A bool tensor from host values.
pub fn bool_tensor_from_vec<const D: usize>(
    values: Vec<bool>,
    shape: [usize; D],
    device: &Device,
) -> Tensor<D, Bool> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Read a float tensor back to the host, row-major.
pub fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("float tensor readback")
}

/// Read a float tensor holding one value.
pub fn to_scalar(tensor: Tensor<1>) -> f32 {
    to_vec(tensor)[0]
}

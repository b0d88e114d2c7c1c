//! Test support: weights and values recorded from reference
//! implementations (`tests/data/*.json`), loaded into our modules.
//!
//! A recording lists a module's parameters in the order our module visits
//! them, each with its name and shape; [`RecordedParams`] replaces every
//! parameter by the next one, so a golden test runs our code on exactly
//! the reference's weights (and fails on any difference of count, order or
//! shape).

use burn::module::{ModuleMapper, Param};
use burn::tensor::Tensor;
use serde_json::Value;

use super::tensor_util::tensor_from_vec;

/// A nested JSON array of numbers, flattened in order.
pub fn flat(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        n => vec![n.as_f64().expect("a number") as f32],
    }
}

/// Replaces every parameter, in visiting order, by the next recorded one.
pub struct RecordedParams(std::vec::IntoIter<(String, Vec<usize>, Vec<f32>)>);

impl RecordedParams {
    /// The parameters of a JSON list of `{name, shape, values}`.
    pub fn new(list: &Value) -> Self {
        let params: Vec<_> = list
            .as_array()
            .expect("a list of parameters")
            .iter()
            .map(|p| {
                let shape = p["shape"].as_array().expect("a shape");
                let shape = shape.iter().map(|d| d.as_u64().unwrap() as usize).collect();
                (
                    p["name"].as_str().unwrap().to_string(),
                    shape,
                    flat(&p["values"]),
                )
            })
            .collect();
        RecordedParams(params.into_iter())
    }

    /// Whether every recorded parameter has been used.
    pub fn is_used_up(&mut self) -> bool {
        self.0.next().is_none()
    }
}

impl ModuleMapper for RecordedParams {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let (name, shape, values) = self.0.next().expect("a recorded parameter left");
        assert_eq!(tensor.dims().to_vec(), shape, "{name}");
        let dims: [usize; D] = shape.try_into().unwrap();
        let value = tensor_from_vec(values, dims, &tensor.device());
        Param::from_mapped_value(id, value, mapper)
    }
}

/// The 2025 DreamerV3 recording (`scripts/record_dreamerv3_2025.py`).
pub fn dreamerv3_2025() -> Value {
    serde_json::from_str(include_str!("../../tests/data/dreamerv3_2025.json"))
        .expect("the recording is JSON")
}

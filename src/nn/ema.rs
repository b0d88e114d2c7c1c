//! Exponential moving averages of a module's parameters (DreamerV3's slow
//! critic, MuZero's target network).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};

struct Collect(Vec<TensorData>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().into_data());
    }
}

struct Blend {
    sources: std::vec::IntoIter<TensorData>,
    rate: f32,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let source = Tensor::<D>::from_data(
            self.sources
                .next()
                .expect("modules have the same structure"),
            &tensor.device(),
        );
        let blended = (tensor.clone() * (1.0 - self.rate) + source * self.rate).detach();
        Param::from_mapped_value(id, blended, mapper)
    }
}

/// `target <- (1 - rate) target + rate source`, parameter by parameter.
/// Both modules must have the same structure.
pub fn ema_update<M: Module>(target: M, source: &M, rate: f32) -> M {
    let mut collect = Collect(Vec::new());
    source.visit(&mut collect);
    target.map(&mut Blend {
        sources: collect.0.into_iter(),
        rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::mlp::zero_linear;
    use crate::nn::tensor_util::{tensor_from_vec, to_vec};
    use burn::tensor::Device;

    #[test]
    fn moves_towards_the_source_by_rate() {
        let device = Device::flex();
        let target = zero_linear(1, 1, &device);
        let mut source = zero_linear(1, 1, &device);
        source.weight = Param::from_tensor(tensor_from_vec(vec![10.0], [1, 1], &device));
        let updated = ema_update(target, &source, 0.02);
        assert!((to_vec(updated.weight.val())[0] - 0.2).abs() < 1e-6);
        assert_eq!(to_vec(updated.bias.unwrap().val()), vec![0.0]);
    }
}

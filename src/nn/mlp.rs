//! DreamerV3's MLP: `layers` blocks of linear, normalisation and SiLU,
//! followed by whatever output layer the caller adds. The linear layer has
//! a bias before the norm in the 2025 style only ([`DenseStyle`]).

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::norm::{Norm, NormKind};

/// A linear layer initialised as DreamerV3 does (variance scaling over the
/// average fan, uniform), optionally with a bias.
pub fn linear(input: usize, output: usize, bias: bool, device: &Device) -> Linear {
    LinearConfig::new(input, output)
        .with_bias(bias)
        .with_initializer(Initializer::XavierUniform { gain: 1.0 })
        .init(device)
}

/// An output layer whose initial weights are those of [`linear`] times
/// `outscale` (the reference's `outscale`: 0 starts at zero, 0.01 starts
/// the 2025 policy close to uniform), with a bias.
pub fn scaled_linear(input: usize, output: usize, outscale: f32, device: &Device) -> Linear {
    if outscale == 0.0 {
        return zero_linear(input, output, device);
    }
    LinearConfig::new(input, output)
        .with_bias(true)
        .with_initializer(Initializer::XavierUniform {
            gain: outscale as f64,
        })
        .init(device)
}

/// A zero-initialised output layer: DreamerV3 starts reward and critic
/// heads at zero so early predictions do not produce huge targets.
pub fn zero_linear(input: usize, output: usize, device: &Device) -> Linear {
    LinearConfig::new(input, output)
        .with_bias(true)
        .with_initializer(Initializer::Zeros)
        .init(device)
}

/// How dense blocks are built: their norm, and whether their linear layer
/// carries a bias before it. The 2023 DreamerV3 code has none before a
/// norm (its LayerNorm shifts); the 2025 code has one everywhere (its
/// RMSNorm does not shift). A bare [`NormKind`] means the 2023 rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenseStyle {
    /// The normalisation after the linear layer.
    pub norm: NormKind,
    /// Whether the linear layer has a bias.
    pub bias: bool,
}

impl From<NormKind> for DenseStyle {
    fn from(norm: NormKind) -> Self {
        DenseStyle {
            norm,
            bias: norm == NormKind::None,
        }
    }
}

/// One linear + norm + SiLU block.
#[derive(Module, Debug)]
pub struct DenseBlock {
    linear: Linear,
    norm: Norm,
}

impl DenseBlock {
    /// A block from `input` to `output` features.
    pub fn new(input: usize, output: usize, style: impl Into<DenseStyle>, device: &Device) -> Self {
        let style = style.into();
        DenseBlock {
            linear: linear(input, output, style.bias, device),
            norm: style.norm.init(output, device),
        }
    }

    /// # Shapes
    /// `[.., input]` -> `[.., output]`
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.norm.forward_silu(self.linear.forward(x))
    }

    /// The block with its input split after the first `head` columns, for
    /// a recurrence whose input is `[carried, known]`: the known part's
    /// projection can be computed for every step at once and only the
    /// carried part's inside the loop.
    pub fn split_input(&self, head: usize) -> SplitDenseBlock<'_> {
        let weight = self.linear.weight.val();
        let [input, output] = weight.dims();
        assert!(head <= input, "split_input: {head} of {input} columns");
        SplitDenseBlock {
            block: self,
            head: weight.clone().slice([0..head, 0..output]),
            tail: weight.slice([head..input, 0..output]),
        }
    }
}

/// A [`DenseBlock`] with its weight split by input columns
/// ([`DenseBlock::split_input`]): `[a, b] W + c = a W_a + (b W_b + c)`.
#[derive(Debug, Clone)]
pub struct SplitDenseBlock<'a> {
    block: &'a DenseBlock,
    head: Tensor<2>,
    tail: Tensor<2>,
}

impl SplitDenseBlock<'_> {
    /// The tail inputs' share of the linear map, bias included.
    ///
    /// # Shapes
    /// `[N, input - head]` -> `[N, output]`
    pub fn project_tail(&self, tail: Tensor<2>) -> Tensor<2> {
        burn::tensor::module::linear(
            tail,
            self.tail.clone(),
            self.block.linear.bias.as_ref().map(|b| b.val()),
        )
    }

    /// The head inputs' rows of the weight, `[head, output]`.
    pub fn head_weight(&self) -> Tensor<2> {
        self.head.clone()
    }

    /// The block's norm.
    pub fn norm(&self) -> &Norm {
        &self.block.norm
    }

    /// The block's output from the head inputs and the tail's projection.
    ///
    /// # Shapes
    /// `head [N, head]`, `projected_tail [N, output]` -> `[N, output]`
    pub fn forward(&self, head: Tensor<2>, projected_tail: Tensor<2>) -> Tensor<2> {
        let pre = head.matmul(self.head.clone()) + projected_tail;
        self.block.norm.forward_silu(pre)
    }
}

/// A stack of [`DenseBlock`]s; its output width is `units` (or the input
/// width when `layers` is zero).
#[derive(Module, Debug)]
pub struct Mlp {
    blocks: Vec<DenseBlock>,
    width: usize,
}

impl Mlp {
    /// `layers` blocks of width `units` after an input of width `input`.
    pub fn new(
        input: usize,
        units: usize,
        layers: usize,
        style: impl Into<DenseStyle>,
        device: &Device,
    ) -> Self {
        let style = style.into();
        let blocks = (0..layers)
            .map(|i| DenseBlock::new(if i == 0 { input } else { units }, units, style, device))
            .collect();
        Mlp {
            blocks,
            width: if layers == 0 { input } else { units },
        }
    }

    /// Width of the output.
    pub fn output_width(&self) -> usize {
        self.width
    }

    /// # Shapes
    /// `[.., input]` -> `[.., units]`
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.blocks.iter().fold(x, |x, block| block.forward(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::{tensor_from_vec, to_vec};

    #[test]
    fn shapes_and_silu_of_normalised_output() {
        let device = Device::flex();
        let mlp = Mlp::new(3, 8, 2, NormKind::Layer, &device);
        let y = mlp.forward(tensor_from_vec(
            vec![0.1, -0.4, 2.0, 1.0, 1.0, 1.0],
            [2, 3],
            &device,
        ));
        assert_eq!(y.dims(), [2, 8]);
        // SiLU's minimum is about -0.2785; every output lies above it.
        assert!(to_vec(y).iter().all(|v| *v >= -0.2785));
    }

    #[test]
    fn zero_linear_outputs_zero() {
        let device = Device::flex();
        let y = zero_linear(4, 3, &device).forward(tensor_from_vec(
            vec![1.0, 2.0, 3.0, 4.0],
            [1, 4],
            &device,
        ));
        assert_eq!(to_vec(y), vec![0.0; 3]);
    }

    #[test]
    fn split_input_computes_the_same_block() {
        let device = Device::flex();
        let x = tensor_from_vec(
            (0..10).map(|i| i as f32 * 0.3 - 1.0).collect(),
            [2, 5],
            &device,
        );
        // With a norm the linear map has no bias; without one it has.
        for norm in [NormKind::Layer, NormKind::None] {
            let block = DenseBlock::new(5, 4, norm, &device);
            let whole = to_vec(block.forward(x.clone()));
            let split = block.split_input(2);
            let tail = split.project_tail(x.clone().slice([0..2, 2..5]));
            let parts = to_vec(split.forward(x.clone().slice([0..2, 0..2]), tail));
            for (a, b) in whole.iter().zip(&parts) {
                assert!((a - b).abs() < 1e-5, "{norm:?}: {whole:?} vs {parts:?}");
            }
        }
    }
}

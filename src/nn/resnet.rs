//! The residual convolution tower of MuZero's Atari networks (appendix
//! F of the paper, after AlphaZero): a 3x3 convolution to `channels`, then
//! blocks of two 3x3 convolutions with a skip connection, all at the input's
//! resolution. MuZero's batch normalisation is replaced by a per-position
//! normalisation over channels ([`NormKind`]), so a network behaves the same
//! at batch 1 (acting) as at batch 256 (training), and SiLU replaces ReLU,
//! as in the rest of somnium.

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};

use super::cnn::{norm_channels, norm_channels_silu};
use super::norm::{Norm, NormKind};

fn conv3x3(input: usize, output: usize, bias: bool, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(bias)
        .init(device)
}

/// `silu(x + norm(conv(silu(norm(conv(x))))))`.
#[derive(Module, Debug)]
pub struct ResBlock {
    conv1: Conv2d,
    norm1: Norm,
    conv2: Conv2d,
    norm2: Norm,
}

impl ResBlock {
    /// A block over `channels` channels.
    pub fn new(channels: usize, norm: NormKind, device: &Device) -> Self {
        let bias = norm == NormKind::None;
        ResBlock {
            conv1: conv3x3(channels, channels, bias, device),
            norm1: norm.init(channels, device),
            conv2: conv3x3(channels, channels, bias, device),
            norm2: norm.init(channels, device),
        }
    }

    /// # Shapes
    /// `[B, C, H, W]` -> `[B, C, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = norm_channels_silu(&self.norm1, self.conv1.forward(x.clone()));
        let h = norm_channels(&self.norm2, self.conv2.forward(h));
        silu(x + h)
    }
}

/// An input convolution followed by residual blocks, resolution kept.
#[derive(Module, Debug)]
pub struct ResTower {
    input: Conv2d,
    norm: Norm,
    blocks: Vec<ResBlock>,
}

impl ResTower {
    /// `inputs` channels in, `channels` out, through `blocks` blocks.
    pub fn new(
        inputs: usize,
        channels: usize,
        blocks: usize,
        norm: NormKind,
        device: &Device,
    ) -> Self {
        ResTower {
            input: conv3x3(inputs, channels, norm == NormKind::None, device),
            norm: norm.init(channels, device),
            blocks: (0..blocks)
                .map(|_| ResBlock::new(channels, norm, device))
                .collect(),
        }
    }

    /// # Shapes
    /// `[B, inputs, H, W]` -> `[B, channels, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = norm_channels_silu(&self.norm, self.input.forward(x));
        for block in &self.blocks {
            x = block.forward(x);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::{tensor_from_vec, to_vec};
    use burn::module::Param;

    #[test]
    fn a_block_with_zero_weights_is_silu_of_its_input() {
        // With both convolutions zero the residual branch is
        // norm(0) = 0 (LayerNorm of a constant row is 0 before its zero
        // bias), so the block returns silu(x) exactly.
        let device = Device::flex();
        let mut block = ResBlock::new(2, NormKind::Layer, &device);
        for conv in [&mut block.conv1, &mut block.conv2] {
            conv.weight = Param::from_tensor(conv.weight.val().zeros_like());
        }
        let x = tensor_from_vec(
            vec![-2.0, -0.5, 0.0, 1.0, 3.0, 0.25, 2.0, -1.0],
            [1, 2, 2, 2],
            &device,
        );
        let y = to_vec(block.forward(x.clone()));
        for (got, v) in y.iter().zip(to_vec(x)) {
            let want = v / (1.0 + (-v).exp());
            assert!((got - want).abs() < 1e-6, "{got} vs silu({v}) = {want}");
        }
    }

    #[test]
    fn the_tower_keeps_the_resolution() {
        let device = Device::flex();
        let tower = ResTower::new(5, 8, 2, NormKind::Layer, &device);
        let y = tower.forward(Tensor::ones([3, 5, 10, 10], &device));
        assert_eq!(y.dims(), [3, 8, 10, 10]);
    }
}

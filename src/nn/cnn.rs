//! DreamerV3's image encoder and decoder.
//!
//! The encoder halves the resolution with 4x4 stride-2 convolutions while
//! doubling the depth (`depth`, `2 depth`, `4 depth`, ...) until the image is
//! at most `min_resolution` wide, normalising channels and applying SiLU after
//! each, then flattens. The decoder mirrors it: a linear layer to the
//! smallest feature map, then transposed convolutions back up to the input
//! size (odd sizes are recovered exactly with output padding), the last one
//! without normalisation. Images enter as `[B, H, W, C]` already scaled to
//! about [-0.5, 0.5] (DreamerV3: `x / 255 - 0.5`).

use burn::module::Module;
use burn::nn::Linear;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::tensor::{Device, Tensor};

use super::mlp::linear;
use super::norm::{Norm, NormKind};

/// Spatial sizes of each stage: `[(h0, w0), (h1, w1), ...]`, starting at the input.
pub(crate) fn stage_sizes(
    height: usize,
    width: usize,
    min_resolution: usize,
) -> Vec<(usize, usize)> {
    let mut sizes = vec![(height, width)];
    let (mut h, mut w) = (height, width);
    // A 4x4 stride-2 convolution with padding 1 maps n to floor(n / 2).
    while h.max(w) > min_resolution && h.min(w) >= 2 {
        h /= 2;
        w /= 2;
        sizes.push((h, w));
    }
    sizes
}

/// Normalise the channels of an NCHW map: move channels last and back.
pub(super) fn norm_channels(norm: &Norm, x: Tensor<4>) -> Tensor<4> {
    norm.forward(x.permute([0, 2, 3, 1])).permute([0, 3, 1, 2])
}

/// `silu(norm_channels(norm, x))`, one kernel on GPU devices.
///
/// # Shapes
/// `[B, C, H, W]` -> `[B, C, H, W]`
pub(super) fn norm_channels_silu(norm: &Norm, x: Tensor<4>) -> Tensor<4> {
    norm.forward_silu(x.permute([0, 2, 3, 1]))
        .permute([0, 3, 1, 2])
}

/// DreamerV3's convolutional encoder.
#[derive(Module, Debug)]
pub struct CnnEncoder {
    convs: Vec<Conv2d>,
    norms: Vec<Norm>,
    output_width: usize,
}

impl CnnEncoder {
    /// An encoder for `[H, W, C]` images with base `depth`.
    pub fn new(
        shape: [usize; 3],
        depth: usize,
        min_resolution: usize,
        norm: NormKind,
        device: &Device,
    ) -> Self {
        let [h, w, c] = shape;
        let sizes = stage_sizes(h, w, min_resolution);
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        let mut channels = c;
        for stage in 1..sizes.len() {
            let out = depth << (stage - 1);
            convs.push(
                Conv2dConfig::new([channels, out], [4, 4])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .with_bias(norm == NormKind::None)
                    .init(device),
            );
            norms.push(norm.init(out, device));
            channels = out;
        }
        let (fh, fw) = *sizes.last().expect("at least the input size");
        CnnEncoder {
            convs,
            norms,
            output_width: channels * fh * fw,
        }
    }

    /// Width of the flattened output.
    pub fn output_width(&self) -> usize {
        self.output_width
    }

    /// # Shapes
    /// `[B, H, W, C]` -> `[B, output_width]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images.permute([0, 3, 1, 2]); // [B, C, H, W]
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            x = norm_channels_silu(norm, conv.forward(x));
        }
        x.flatten::<2>(1, 3)
    }
}

/// DreamerV3's transposed-convolution decoder, the mirror of [`CnnEncoder`].
#[derive(Module, Debug)]
pub struct CnnDecoder {
    input: Linear,
    convs: Vec<ConvTranspose2d>,
    norms: Vec<Norm>,
    start: [usize; 3],
}

impl CnnDecoder {
    /// A decoder from `features` to `[H, W, C]` images, mirroring an encoder of base `depth`.
    pub fn new(
        features: usize,
        shape: [usize; 3],
        depth: usize,
        min_resolution: usize,
        norm: NormKind,
        device: &Device,
    ) -> Self {
        let [h, w, c] = shape;
        let sizes = stage_sizes(h, w, min_resolution);
        let stages = sizes.len() - 1;
        let (fh, fw) = sizes[stages];
        let top = if stages == 0 {
            c
        } else {
            depth << (stages - 1)
        };
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        let mut channels = top;
        for stage in (1..=stages).rev() {
            let last = stage == 1;
            let out = if last { c } else { depth << (stage - 2) };
            let (from, to) = (sizes[stage], sizes[stage - 1]);
            // ConvTranspose with kernel 4, stride 2, padding 1 maps n to 2n + output padding.
            let padding_out = [to.0 - 2 * from.0, to.1 - 2 * from.1];
            convs.push(
                ConvTranspose2dConfig::new([channels, out], [4, 4])
                    .with_stride([2, 2])
                    .with_padding([1, 1])
                    .with_padding_out(padding_out)
                    .with_bias(last || norm == NormKind::None)
                    .init(device),
            );
            if !last {
                norms.push(norm.init(out, device));
            }
            channels = out;
        }
        CnnDecoder {
            input: linear(features, top * fh * fw, true, device),
            convs,
            norms,
            start: [top, fh, fw],
        }
    }

    /// # Shapes
    /// `[B, F]` -> `[B, H, W, C]`
    pub fn forward(&self, features: Tensor<2>) -> Tensor<4> {
        let [b, _] = features.dims();
        let [c, h, w] = self.start;
        let mut x = self.input.forward(features).reshape([b, c, h, w]);
        for (i, conv) in self.convs.iter().enumerate() {
            x = conv.forward(x);
            if let Some(norm) = self.norms.get(i) {
                x = norm_channels_silu(norm, x);
            }
        }
        x.permute([0, 2, 3, 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_halve_until_the_minimum_resolution() {
        assert_eq!(
            stage_sizes(64, 64, 4),
            vec![(64, 64), (32, 32), (16, 16), (8, 8), (4, 4)]
        );
        assert_eq!(stage_sizes(10, 10, 4), vec![(10, 10), (5, 5), (2, 2)]);
    }

    #[test]
    fn encoder_and_decoder_round_trip_shapes() {
        let device = Device::flex();
        for shape in [[64, 64, 3], [10, 10, 4], [9, 12, 1]] {
            let encoder = CnnEncoder::new(shape, 4, 4, NormKind::Layer, &device);
            let embed = encoder.forward(Tensor::zeros([2, shape[0], shape[1], shape[2]], &device));
            assert_eq!(embed.dims(), [2, encoder.output_width()]);
            let decoder = CnnDecoder::new(7, shape, 4, 4, NormKind::Layer, &device);
            let image = decoder.forward(Tensor::zeros([2, 7], &device));
            assert_eq!(
                image.dims(),
                [2, shape[0], shape[1], shape[2]],
                "decoder output for {shape:?}"
            );
        }
        // 64x64x3 with depth 32: 32, 64, 128, 256 channels at 4x4 -> 4096 features (DreamerV3 S).
        let encoder = CnnEncoder::new([64, 64, 3], 32, 4, NormKind::Layer, &device);
        assert_eq!(encoder.output_width(), 256 * 16);
    }
}

//! DreamerV3's 2025 image encoder and decoder (`encoder.cnn = "pooled"`).
//!
//! The 2025 reference (danijar/dreamerv3, `rssm.py`, `Encoder`/`Decoder`
//! with `strided: False, outer: False`) replaced the 2023 strided 4x4
//! convolutions: every encoder stage is a `kernel x kernel` convolution
//! with "same" padding to `depth * mult` channels, a 2x2 max pool, the
//! norm and SiLU, once per multiplier (`mults`, 2, 3, 4, 4 by default),
//! so a 64x64 image ends at 4x4. The decoder goes back with
//! nearest-neighbour 2x upsampling before each convolution, ending in a
//! sigmoid. Its first map comes from the features in two parts when
//! `blocks > 0` (the reference's `bspace`): the deterministic state through
//! a block-diagonal linear layer, each block giving its own share of the
//! channels at every position (so the large `h` needs no dense
//! `deter x map` matrix), plus the stochastic state through a small MLP;
//! the sum is normalised and activated. Convolutions and linear layers
//! carry biases, as the 2025 reference's do.
//!
//! Images enter as `[B, H, W, C]` in about [-0.5, 0.5]; the decoder's
//! sigmoid output is shifted by -0.5 into the same range, which leaves the
//! reference's squared error (sigmoid against `x / 255`) unchanged.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, PaddingConfig2d};
use burn::tensor::activation::sigmoid;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};

use super::cnn::norm_channels_silu;
use super::gru::BlockLinear;
use super::mlp::linear;
use super::norm::{Norm, NormKind};

/// The resolution after `stages` halvings of `[H, W]`, or why the image
/// does not halve evenly that often (the reference reshapes into 2x2
/// windows, so every stage must see even sizes).
pub fn pooled_resolution(height: usize, width: usize, stages: usize) -> Result<[usize; 2], String> {
    let factor = 1usize << stages;
    if stages == 0 || !height.is_multiple_of(factor) || !width.is_multiple_of(factor) {
        return Err(format!(
            "a {height}x{width} image does not halve evenly {stages} times (one halving per \
             multiplier; use fewer multipliers or `cnn = \"strided\"`)"
        ));
    }
    Ok([height / factor, width / factor])
}

/// A `kernel x kernel` convolution with "same" padding and a bias.
fn same_conv(input: usize, output: usize, kernel: usize, device: &Device) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new([input, output], [kernel, kernel])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(true)
        .init(device)
}

/// Nearest-neighbour 2x upsampling of an NCHW map (each value repeated
/// into a 2x2 square, the reference's `repeat(2)` on both axes).
///
/// # Shapes
/// `[B, C, H, W]` -> `[B, C, 2H, 2W]`
fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .expand([b, c, h, 2, w, 2])
        .reshape([b, c, 2 * h, 2 * w])
}

/// The 2025 convolutional encoder.
#[derive(Module, Debug)]
pub struct PooledCnnEncoder {
    convs: Vec<Conv2d>,
    norms: Vec<Norm>,
    output_width: usize,
}

impl PooledCnnEncoder {
    /// An encoder for `[H, W, C]` images with `depth * mult` channels per
    /// stage. `H` and `W` must halve evenly once per multiplier
    /// ([`pooled_resolution`]; configs are checked before this is built).
    pub fn new(
        shape: [usize; 3],
        depth: usize,
        mults: &[usize],
        kernel: usize,
        norm: NormKind,
        device: &Device,
    ) -> Self {
        let [h, w, c] = shape;
        let [fh, fw] = pooled_resolution(h, w, mults.len()).expect("checked image size");
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        let mut channels = c;
        for mult in mults {
            let out = depth * mult;
            convs.push(same_conv(channels, out, kernel, device));
            norms.push(norm.init(out, device));
            channels = out;
        }
        PooledCnnEncoder {
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
    /// `[B, H, W, C]` -> `[B, output_width]`, flattened in `[h, w, c]` order
    /// as the reference's NHWC maps.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images.permute([0, 3, 1, 2]); // [B, C, H, W]
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            let pooled = max_pool2d(conv.forward(x), MaxPoolOptions::new([2, 2]));
            x = norm_channels_silu(norm, pooled);
        }
        x.permute([0, 2, 3, 1]).flatten::<2>(1, 3)
    }
}

/// How the decoder's first map is made from the features.
// Built once per model: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
enum SpaceProjection {
    /// One linear layer of all features.
    Dense(Linear),
    /// Block-diagonal linear of `h` plus an MLP of `z`.
    Blocks(BlockSpace),
}

/// The reference's `bspace` projection: `h` through a block-diagonal
/// linear layer, `z` through linear, norm, SiLU and linear; summed.
#[derive(Module, Debug)]
struct BlockSpace {
    deter: BlockLinear,
    stoch_hidden: Linear,
    stoch_norm: Norm,
    stoch_out: Linear,
    blocks: usize,
    deter_width: usize,
}

/// The 2025 convolutional decoder.
#[derive(Module, Debug)]
pub struct PooledCnnDecoder {
    space: SpaceProjection,
    space_norm: Norm,
    convs: Vec<Conv2d>,
    norms: Vec<Norm>,
    output: Conv2d,
    /// `[channels, h, w]` of the first map.
    start: [usize; 3],
}

/// The shape of the decoder's layers.
#[derive(Debug, Clone, Copy)]
pub struct PooledDecoderShape<'a> {
    /// The image `[H, W, C]`.
    pub image: [usize; 3],
    /// Base channel depth.
    pub depth: usize,
    /// Channel multiplier of each stage, as the encoder's.
    pub mults: &'a [usize],
    /// Convolution kernel size (odd).
    pub kernel: usize,
    /// Blocks of the deterministic state's projection; 0 projects all
    /// features with one dense layer.
    pub blocks: usize,
    /// Units of the stochastic state's hidden layer (twice these).
    pub units: usize,
}

impl PooledCnnDecoder {
    /// A decoder from features `[deter, stoch]` (`deter_width` columns of
    /// deterministic state first) to images of `shape.image`.
    pub fn new(
        features: usize,
        deter_width: usize,
        shape: PooledDecoderShape,
        norm: NormKind,
        device: &Device,
    ) -> Self {
        let [h, w, c] = shape.image;
        let [fh, fw] = pooled_resolution(h, w, shape.mults.len()).expect("checked image size");
        let depths: Vec<usize> = shape.mults.iter().map(|m| shape.depth * m).collect();
        let top = *depths.last().expect("at least one stage");
        let map = top * fh * fw;
        let space = if shape.blocks == 0 {
            SpaceProjection::Dense(linear(features, map, true, device))
        } else {
            let units = 2 * shape.units;
            SpaceProjection::Blocks(BlockSpace {
                deter: BlockLinear::new(deter_width, map, shape.blocks, device),
                stoch_hidden: linear(features - deter_width, units, true, device),
                stoch_norm: norm.init(units, device),
                stoch_out: linear(units, map, true, device),
                blocks: shape.blocks,
                deter_width,
            })
        };
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        let mut channels = top;
        for &out in depths[..depths.len() - 1].iter().rev() {
            convs.push(same_conv(channels, out, shape.kernel, device));
            norms.push(norm.init(out, device));
            channels = out;
        }
        PooledCnnDecoder {
            space,
            space_norm: norm.init(top, device),
            convs,
            norms,
            output: same_conv(channels, c, shape.kernel, device),
            start: [top, fh, fw],
        }
    }

    /// The first map `[B, h, w, C]` (channels last), before its norm.
    fn first_map(&self, features: Tensor<2>) -> Tensor<4> {
        let [b, f] = features.dims();
        let [c, h, w] = self.start;
        match &self.space {
            SpaceProjection::Dense(layer) => layer.forward(features).reshape([b, h, w, c]),
            SpaceProjection::Blocks(space) => {
                let (g, deter_width) = (space.blocks, space.deter_width);
                let from_deter = space
                    .deter
                    .forward(features.clone().narrow(1, 0, deter_width))
                    // Each block's outputs laid out `[h, w, c / g]`; blocks
                    // become groups of channels.
                    .reshape([b, g, h, w, c / g])
                    .permute([0, 2, 3, 1, 4])
                    .reshape([b, h, w, c]);
                let stoch = features.narrow(1, deter_width, f - deter_width);
                let hidden = space
                    .stoch_norm
                    .forward_silu(space.stoch_hidden.forward(stoch));
                from_deter + space.stoch_out.forward(hidden).reshape([b, h, w, c])
            }
        }
    }

    /// # Shapes
    /// `[B, F]` -> `[B, H, W, C]`
    pub fn forward(&self, features: Tensor<2>) -> Tensor<4> {
        let first = self.space_norm.forward_silu(self.first_map(features));
        let mut x = first.permute([0, 3, 1, 2]); // [B, C, h, w]
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            x = norm_channels_silu(norm, conv.forward(upsample2(x)));
        }
        let image = sigmoid(self.output.forward(upsample2(x))) - 0.5;
        image.permute([0, 2, 3, 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::to_vec;

    #[test]
    fn images_must_halve_evenly_once_per_stage() {
        assert_eq!(pooled_resolution(64, 64, 4), Ok([4, 4]));
        assert_eq!(pooled_resolution(96, 64, 5), Ok([3, 2]));
        let err = pooled_resolution(10, 10, 2).unwrap_err();
        assert!(err.contains("10x10") && err.contains("2 times"), "{err}");
    }

    #[test]
    fn upsampling_repeats_each_value_into_a_square() {
        let device = Device::flex();
        let x = Tensor::<1>::from_floats([1.0, 2.0, 3.0, 4.0], &device).reshape([1, 1, 2, 2]);
        assert_eq!(
            to_vec(upsample2(x)),
            vec![
                1.0, 1.0, 2.0, 2.0, //
                1.0, 1.0, 2.0, 2.0, //
                3.0, 3.0, 4.0, 4.0, //
                3.0, 3.0, 4.0, 4.0,
            ]
        );
    }

    /// The reference's sizes at depth 16 (size12m): 64x64x3 -> 32, 48, 64,
    /// 64 channels, 4x4 at the end -> 1,024 features; the decoder mirrors it.
    #[test]
    fn encoder_and_decoder_keep_the_reference_shapes() {
        let device = Device::flex();
        let mults = [2, 3, 4, 4];
        let encoder = PooledCnnEncoder::new([64, 64, 3], 16, &mults, 5, NormKind::Rms, &device);
        assert_eq!(encoder.output_width(), 64 * 4 * 4);
        let embed = encoder.forward(Tensor::zeros([2, 64, 64, 3], &device));
        assert_eq!(embed.dims(), [2, 1024]);
        for blocks in [0, 8] {
            let shape = PooledDecoderShape {
                image: [64, 64, 3],
                depth: 16,
                mults: &mults,
                kernel: 5,
                blocks,
                units: 32,
            };
            let decoder = PooledCnnDecoder::new(64 + 8 * 4, 64, shape, NormKind::Rms, &device);
            let image = decoder.forward(Tensor::ones([2, 96], &device));
            assert_eq!(image.dims(), [2, 64, 64, 3], "blocks {blocks}");
            let values = to_vec(image);
            assert!(values.iter().all(|v| (-0.5..=0.5).contains(v)));
        }
    }

    /// With the block projection, the deterministic state's block `k`
    /// writes only channel group `k` of the first map.
    #[test]
    fn each_block_of_h_writes_its_own_channel_group() {
        let device = Device::flex();
        let mults = [2, 2];
        let shape = PooledDecoderShape {
            image: [8, 8, 1],
            depth: 4,
            mults: &mults,
            kernel: 3,
            blocks: 4,
            units: 4,
        };
        // 8 channels at 2x2, 4 blocks of 2 channels; deter 8 (2 per block), stoch 4.
        let decoder = PooledCnnDecoder::new(12, 8, shape, NormKind::None, &device);
        let base = decoder.first_map(Tensor::zeros([1, 12], &device));
        let mut bumped = vec![0.0f32; 12];
        bumped[2] = 1.0; // block 1 of h
        let bumped = decoder
            .first_map(Tensor::<1>::from_floats(bumped.as_slice(), &device).reshape([1, 12]));
        let diff = to_vec((bumped - base).abs()); // [1, 2, 2, 8] channels last
        for (i, d) in diff.iter().enumerate() {
            let channel = i % 8;
            if channel / 2 != 1 {
                assert_eq!(*d, 0.0, "channel {channel} outside block 1 changed");
            }
        }
        assert!(
            diff.iter().sum::<f32>() > 0.0,
            "block 1 writes its channels"
        );
    }

    /// The 2025 code's `Encoder` and `Decoder` (with `bspace`) on random
    /// weights, recorded by `scripts/record_dreamerv3_2025.py` at a small
    /// size (16x16x3 images, depth 2, multipliers 2 and 3, 3x3 kernels):
    /// the parameters map one to one onto ours, and features and
    /// reconstructions agree.
    #[test]
    fn encoder_and_decoder_match_the_2025_reference() {
        use crate::nn::recorded::{RecordedParams, dreamerv3_2025, flat};
        let recording = dreamerv3_2025();
        let r = &recording["pooled_cnn"];
        let device = Device::flex();
        let close = |got: Vec<f32>, want: Vec<f32>, what: &str| {
            assert_eq!(got.len(), want.len(), "{what}");
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() < 1e-4,
                    "{what}: ours {g}, the reference's {w}"
                );
            }
        };
        let mults = [2, 3];
        let mut params = RecordedParams::new(&r["encoder_params"]);
        let encoder = PooledCnnEncoder::new([16, 16, 3], 2, &mults, 3, NormKind::Rms, &device)
            .map(&mut params);
        assert!(params.is_used_up());
        let pixels: Vec<f32> = flat(&r["images"]).iter().map(|p| p / 255.0 - 0.5).collect();
        let images = Tensor::<1>::from_floats(pixels.as_slice(), &device).reshape([2, 16, 16, 3]);
        close(
            to_vec(encoder.forward(images)),
            flat(&r["tokens"]),
            "features",
        );

        let shape = PooledDecoderShape {
            image: [16, 16, 3],
            depth: 2,
            mults: &mults,
            kernel: 3,
            blocks: 2,
            units: 8,
        };
        let mut params = RecordedParams::new(&r["decoder_params"]);
        let decoder =
            PooledCnnDecoder::new(16 + 12, 16, shape, NormKind::Rms, &device).map(&mut params);
        assert!(params.is_used_up());
        let features: Vec<f32> = flat(&r["deter"])
            .chunks(16)
            .zip(flat(&r["stoch"]).chunks(12))
            .flat_map(|(d, z)| d.iter().chain(z).copied().collect::<Vec<_>>())
            .collect();
        let features = Tensor::<1>::from_floats(features.as_slice(), &device).reshape([2, 28]);
        // Ours is shifted into [-0.5, 0.5]; the reference's sigmoid is not.
        let reconstruction = to_vec(decoder.forward(features) + 0.5);
        close(reconstruction, flat(&r["reconstruction"]), "reconstruction");
    }
}

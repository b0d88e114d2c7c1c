//! STORM's image encoder and decoder (`EncoderBN`, `DecoderBN` in the
//! reference's `sub_models/world_models.py`): 4x4 stride-2 convolutions
//! without bias, each followed by BatchNorm and ReLU, doubling the depth
//! from `cnn_depth` until the map is `min_resolution` wide (64 x 64 RGB:
//! 32, 64, 128, 256 channels down to 4 x 4, 4,096 features); the decoder
//! maps the latent sample through a linear layer without bias, BatchNorm
//! and ReLU to the smallest map, then transposed convolutions back up, the
//! last with a bias and nothing after it. The stage sizes are those of
//! DreamerV3's strided CNN (`nn::cnn`), whose normalisation (LayerNorm
//! over channels) and activation (SiLU) are the only other differences.
//!
//! Separate types rather than a norm option of `nn::cnn`'s: wrapping that
//! encoder's norms in a new enum would change the layout of DreamerV3's
//! saved weights, and its checkpoints must keep loading.
//!
//! BatchNorm normalises by the batch's statistics while the world model
//! trains and by its running averages elsewhere: in imagination (the model
//! is frozen there) and when acting (inference copies), as the reference's
//! `eval()` does. The running variance is burn's: an average of the
//! batch's biased variance, where torch averages the unbiased one (a
//! factor `(n - 1) / n` for `n` values per channel; under 0.01% at STORM's
//! 1,024 frames a batch).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::config::{StormCnn, StormModelConfig};
use crate::core::{Encoder, ObsBatch, ObsKind, ObservationModel, ObservationPrediction};
use crate::dreamer::networks::{ObsDecoder, ObsEncoder};
use crate::nn::cnn::stage_sizes;
use crate::nn::mlp::linear;
use crate::nn::norm::NormKind;

/// STORM's observation encoder: an MLP for vectors (DreamerV3's), and for
/// images STORM's BatchNorm CNN or DreamerV3's (`storm.model.cnn`).
#[derive(Module, Debug)]
pub enum StormEncoder {
    /// DreamerV3's encoders, as `storm.model.encoder` sets them.
    Dreamer(ObsEncoder),
    /// STORM's image encoder.
    BatchNorm(BatchNormEncoder),
}

impl StormEncoder {
    /// The encoder for observations of `kind`.
    pub fn new(kind: ObsKind, config: &StormModelConfig, device: &Device) -> Self {
        let e = &config.encoder;
        match (kind, config.cnn) {
            (ObsKind::Image { shape, .. }, StormCnn::BatchNorm) => StormEncoder::BatchNorm(
                BatchNormEncoder::new(shape, e.cnn_depth, e.min_resolution, device),
            ),
            _ => StormEncoder::Dreamer(ObsEncoder::new(kind, e, NormKind::Layer, device)),
        }
    }
}

impl Encoder for StormEncoder {
    fn embed_width(&self) -> usize {
        match self {
            StormEncoder::Dreamer(e) => e.embed_width(),
            StormEncoder::BatchNorm(e) => e.output_width(),
        }
    }

    fn encode(&self, obs: &ObsBatch) -> Tensor<2> {
        match (self, obs) {
            (StormEncoder::Dreamer(e), _) => e.encode(obs),
            (StormEncoder::BatchNorm(e), ObsBatch::Image(images)) => e.forward(images.clone()),
            (StormEncoder::BatchNorm(_), ObsBatch::Vector(_)) => {
                panic!("STORM's image encoder was given vector observations")
            }
        }
    }
}

/// STORM's observation decoder, from the latent sample `z` alone: the
/// mirror of [`StormEncoder`].
// One decoder per model, built once: boxing its larger variant would buy
// nothing (and burn's module derive takes the variants as they are).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum StormDecoder {
    /// DreamerV3's decoders.
    Dreamer(ObsDecoder),
    /// STORM's image decoder.
    BatchNorm(BatchNormDecoder),
}

impl StormDecoder {
    /// The decoder for observations of `kind` from `latent`-wide samples.
    pub fn new(kind: ObsKind, latent: usize, config: &StormModelConfig, device: &Device) -> Self {
        let e = &config.encoder;
        match (kind, config.cnn) {
            (ObsKind::Image { shape, .. }, StormCnn::BatchNorm) => StormDecoder::BatchNorm(
                BatchNormDecoder::new(latent, shape, e.cnn_depth, e.min_resolution, device),
            ),
            _ => {
                StormDecoder::Dreamer(ObsDecoder::new(kind, latent, 0, e, NormKind::Layer, device))
            }
        }
    }
}

impl ObservationModel for StormDecoder {
    fn decode(&self, latent: Tensor<2>) -> ObservationPrediction {
        match self {
            StormDecoder::Dreamer(d) => d.decode(latent),
            StormDecoder::BatchNorm(d) => ObservationPrediction::Image(d.forward(latent)),
        }
    }
}

/// STORM's convolutional encoder.
#[derive(Module, Debug)]
pub struct BatchNormEncoder {
    convs: Vec<Conv2d>,
    norms: Vec<BatchNorm>,
    output_width: usize,
}

impl BatchNormEncoder {
    /// An encoder for `[H, W, C]` images with base `depth`.
    pub fn new(shape: [usize; 3], depth: usize, min_resolution: usize, device: &Device) -> Self {
        let [h, w, c] = shape;
        let sizes = stage_sizes(h, w, min_resolution);
        let (mut convs, mut norms, mut channels) = (Vec::new(), Vec::new(), c);
        for stage in 1..sizes.len() {
            let out = depth << (stage - 1);
            convs.push(
                Conv2dConfig::new([channels, out], [4, 4])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .with_bias(false)
                    .init(device),
            );
            norms.push(BatchNormConfig::new(out).init(device));
            channels = out;
        }
        let (fh, fw) = *sizes.last().expect("at least the input size");
        BatchNormEncoder {
            convs,
            norms,
            output_width: channels * fh * fw,
        }
    }

    /// Width of the flattened output.
    pub fn output_width(&self) -> usize {
        self.output_width
    }

    /// Each norm's running mean and variance (for tests).
    #[cfg(test)]
    pub(super) fn running_stats(&self) -> Vec<(Vec<f32>, Vec<f32>)> {
        running_stats_of(&self.norms.iter().collect::<Vec<_>>())
    }

    /// # Shapes
    /// `[B, H, W, C]` -> `[B, output_width]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images.permute([0, 3, 1, 2]);
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            x = relu(norm.forward(conv.forward(x)));
        }
        x.flatten::<2>(1, 3)
    }
}

/// STORM's transposed-convolution decoder, the mirror of [`BatchNormEncoder`].
#[derive(Module, Debug)]
pub struct BatchNormDecoder {
    input: Linear,
    input_norm: BatchNorm,
    convs: Vec<ConvTranspose2d>,
    norms: Vec<BatchNorm>,
    start: [usize; 3],
}

impl BatchNormDecoder {
    /// A decoder from `latent`-wide inputs to `[H, W, C]` images.
    pub fn new(
        latent: usize,
        shape: [usize; 3],
        depth: usize,
        min_resolution: usize,
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
        let (mut convs, mut norms, mut channels) = (Vec::new(), Vec::new(), top);
        for stage in (1..=stages).rev() {
            let last = stage == 1;
            let out = if last { c } else { depth << (stage - 2) };
            let (from, to) = (sizes[stage], sizes[stage - 1]);
            convs.push(
                ConvTranspose2dConfig::new([channels, out], [4, 4])
                    .with_stride([2, 2])
                    .with_padding([1, 1])
                    .with_padding_out([to.0 - 2 * from.0, to.1 - 2 * from.1])
                    .with_bias(last)
                    .init(device),
            );
            if !last {
                norms.push(BatchNormConfig::new(out).init(device));
            }
            channels = out;
        }
        BatchNormDecoder {
            input: linear(latent, top * fh * fw, false, device),
            input_norm: BatchNormConfig::new(top).init(device),
            convs,
            norms,
            start: [top, fh, fw],
        }
    }

    /// The input norm's running mean and variance, then the others' (for
    /// tests).
    #[cfg(test)]
    pub(super) fn running_stats(&self) -> Vec<(Vec<f32>, Vec<f32>)> {
        let norms: Vec<&BatchNorm> = std::iter::once(&self.input_norm)
            .chain(&self.norms)
            .collect();
        running_stats_of(&norms)
    }

    /// # Shapes
    /// `[B, latent]` -> `[B, H, W, C]`
    pub fn forward(&self, latent: Tensor<2>) -> Tensor<4> {
        let [b, _] = latent.dims();
        let [c, h, w] = self.start;
        let x = self.input.forward(latent).reshape([b, c, h, w]);
        let mut x = relu(self.input_norm.forward(x));
        for (i, conv) in self.convs.iter().enumerate() {
            x = conv.forward(x);
            if let Some(norm) = self.norms.get(i) {
                x = relu(norm.forward(x));
            }
        }
        x.permute([0, 2, 3, 1])
    }
}

/// Each norm's running mean and variance, in order (for tests).
#[cfg(test)]
fn running_stats_of(norms: &[&BatchNorm]) -> Vec<(Vec<f32>, Vec<f32>)> {
    use crate::nn::tensor_util::to_vec;
    norms
        .iter()
        .map(|n| {
            (
                to_vec(n.running_mean.value_sync()),
                to_vec(n.running_var.value_sync()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// STORM's Atari shapes: 64 x 64 RGB to 4,096 features and back.
    #[test]
    fn sixty_four_pixel_frames_make_4096_features_and_come_back() {
        let device = Device::flex();
        let encoder = BatchNormEncoder::new([64, 64, 3], 32, 4, &device);
        assert_eq!(encoder.output_width(), 4096);
        let embed = encoder.forward(Tensor::zeros([2, 64, 64, 3], &device));
        assert_eq!(embed.dims(), [2, 4096]);
        let decoder = BatchNormDecoder::new(1024, [64, 64, 3], 32, 4, &device);
        assert_eq!(
            decoder.forward(Tensor::zeros([2, 1024], &device)).dims(),
            [2, 64, 64, 3]
        );
        // MinAtar's grids: one stage to 5 x 5.
        let decoder = BatchNormDecoder::new(16, [10, 10, 4], 8, 5, &device);
        assert_eq!(
            decoder.forward(Tensor::zeros([3, 16], &device)).dims(),
            [3, 10, 10, 4]
        );
    }

    /// While training, BatchNorm normalises each channel by the batch:
    /// scaling every image by the same factor changes the features only
    /// through BatchNorm's epsilon (no convolution has a bias).
    #[test]
    fn training_normalises_by_the_batch_and_inference_by_running_averages() {
        let device = Device::flex().autodiff();
        let encoder = BatchNormEncoder::new([8, 8, 1], 2, 4, &device);
        let images = |v: f32| Tensor::<4>::ones([2, 8, 8, 1], &device) * v;
        let a = crate::nn::tensor_util::to_vec(encoder.forward(images(0.2)).inner());
        let b = crate::nn::tensor_util::to_vec(encoder.forward(images(0.9)).inner());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 2e-2, "{x} vs {y}");
        }
        // The inference copy uses the running averages: the two differ.
        let valid = encoder.valid();
        let flex = Device::flex();
        let images = |v: f32| Tensor::<4>::ones([2, 8, 8, 1], &flex) * v;
        let a = crate::nn::tensor_util::to_vec(valid.forward(images(0.2)));
        let b = crate::nn::tensor_util::to_vec(valid.forward(images(0.9)));
        assert!(a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1e-3));
    }
}

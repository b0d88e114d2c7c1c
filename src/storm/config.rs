//! STORM's world-model settings. Defaults are the paper's and its
//! reference code's (`STORM.yaml`, `sub_models/world_models.py`).

use serde::{Deserialize, Serialize};

use crate::dreamer::{EncoderConfig, LossScales};

/// Sizes and loss settings of a STORM world model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StormModelConfig {
    /// Categorical latents per step.
    pub stoch: usize,
    /// Classes per latent.
    pub classes: usize,
    /// Share of a uniform distribution mixed into the latents.
    pub unimix: f32,
    /// Width of the tokens and the transformer.
    pub width: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Width of each block's feed-forward layer.
    pub feed_forward: usize,
    /// Dropout in the transformer (training only).
    pub dropout: f64,
    /// Positions the learned embedding covers: the longest sequence
    /// trained on, and the longest history carried while acting or
    /// imagining before it is rebuilt over its latest half.
    pub max_length: usize,
    /// Hidden layers of the reward and termination heads.
    pub head_layers: usize,
    /// Units of those layers.
    pub head_units: usize,
    /// Free nats of the dynamics and representation losses, applied to
    /// their batch means.
    pub free_nats: f32,
    /// Weight of the dynamics loss `KL(sg(post) || prior)`.
    pub dynamics_scale: f32,
    /// Weight of the representation loss `KL(post || sg(prior))`.
    pub representation_scale: f32,
    /// Replayed steps each imagination starts from (its context).
    pub context: usize,
    /// The image encoder and decoder: `batch_norm` (STORM's: BatchNorm and
    /// ReLU after each convolution, sized by `encoder.cnn_depth` and
    /// `encoder.min_resolution`) or `dreamer` (DreamerV3's, as the
    /// `encoder` keys set it). Vectors always go through DreamerV3's MLPs.
    pub cnn: StormCnn,
    /// The observation encoder and decoder.
    pub encoder: EncoderConfig,
}

/// Which image encoder and decoder a STORM model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StormCnn {
    /// STORM's BatchNorm CNN.
    BatchNorm,
    /// DreamerV3's CNN (`encoder.cnn`: strided or pooled).
    Dreamer,
}

impl Default for StormModelConfig {
    fn default() -> Self {
        StormModelConfig {
            stoch: 32,
            classes: 32,
            unimix: 0.01,
            width: 512,
            layers: 2,
            heads: 8,
            feed_forward: 1024,
            dropout: 0.1,
            max_length: 64,
            head_layers: 2,
            head_units: 512,
            free_nats: 1.0,
            dynamics_scale: 0.5,
            representation_scale: 0.1,
            context: 8,
            cnn: StormCnn::BatchNorm,
            encoder: EncoderConfig::default(),
        }
    }
}

impl StormModelConfig {
    /// A small model for tests and quick CPU runs.
    pub fn tiny() -> Self {
        let encoder = EncoderConfig {
            mlp_units: 64,
            mlp_layers: 1,
            ..EncoderConfig::default()
        };
        StormModelConfig {
            stoch: 8,
            classes: 8,
            width: 64,
            layers: 1,
            heads: 4,
            feed_forward: 128,
            head_layers: 1,
            head_units: 64,
            encoder,
            ..StormModelConfig::default()
        }
    }

    /// The weights of the world-model loss terms (reconstruction, reward
    /// and termination weigh 1).
    pub fn loss_scales(&self) -> LossScales {
        LossScales {
            dynamics: self.dynamics_scale,
            representation: self.representation_scale,
            ..LossScales::default()
        }
    }

    /// Width of a latent sample, `stoch * classes`.
    pub fn latent_width(&self) -> usize {
        self.stoch * self.classes
    }
}

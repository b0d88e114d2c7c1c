//! Observation batches as tensors, whatever the environment's space.

use burn::tensor::{Device, Tensor};
use somnium_envs::{Observation, Space};

use crate::nn::tensor_util::tensor_from_vec;

/// How an observation space is fed to networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObsKind {
    /// A flat vector of `width` floats (symlog-ed by vector encoders).
    Vector {
        /// Number of floats.
        width: usize,
    },
    /// An `[H, W, C]` image; `pixels` means raw 0..=255 bytes to scale by
    /// `x / 255 - 0.5`, otherwise values already in [0, 1] (e.g. MinAtar) to
    /// shift by -0.5.
    Image {
        /// Height, width, channels.
        shape: [usize; 3],
        /// Whether values are 0..=255 pixels.
        pixels: bool,
    },
}

impl ObsKind {
    /// The kind of an environment's observation space: rank-3 boxes and
    /// images are images, everything else is flattened to a vector.
    pub fn of(space: &Space) -> Self {
        match space {
            Space::Image {
                height,
                width,
                channels,
            } => ObsKind::Image {
                shape: [*height, *width, *channels],
                pixels: true,
            },
            Space::Box { shape, .. } if shape.len() == 3 => ObsKind::Image {
                shape: [shape[0], shape[1], shape[2]],
                pixels: false,
            },
            other => ObsKind::Vector {
                width: other.flat_len().max(1),
            },
        }
    }

    /// Number of scalars in one observation.
    pub fn flat_len(&self) -> usize {
        match self {
            ObsKind::Vector { width } => *width,
            ObsKind::Image { shape, .. } => shape.iter().product(),
        }
    }
}

/// A batch of observations on a device, ready for an encoder.
#[derive(Debug, Clone)]
pub enum ObsBatch {
    /// `[B, D]` raw floats.
    Vector(Tensor<2>),
    /// `[B, H, W, C]` scaled to about [-0.5, 0.5].
    Image(Tensor<4>),
}

impl ObsBatch {
    /// Build a batch from flat host values `[B * flat_len]` of the given kind.
    pub fn from_flat(values: Vec<f32>, batch: usize, kind: ObsKind, device: &Device) -> Self {
        match kind {
            ObsKind::Vector { width } => {
                ObsBatch::Vector(tensor_from_vec(values, [batch, width], device))
            }
            ObsKind::Image {
                shape: [h, w, c],
                pixels,
            } => {
                let scale = if pixels { 1.0 / 255.0 } else { 1.0 };
                let values = values.into_iter().map(|v| v * scale - 0.5).collect();
                ObsBatch::Image(tensor_from_vec(values, [batch, h, w, c], device))
            }
        }
    }

    /// Build a batch from environment observations.
    pub fn from_observations(observations: &[Observation], kind: ObsKind, device: &Device) -> Self {
        let mut values = Vec::with_capacity(observations.len() * kind.flat_len());
        for obs in observations {
            match obs {
                Observation::Vector(v) => values.extend_from_slice(v),
                Observation::Image(p) => values.extend(p.iter().map(|&b| b as f32)),
            }
        }
        Self::from_flat(values, observations.len(), kind, device)
    }

    /// The batch size.
    pub fn batch(&self) -> usize {
        match self {
            ObsBatch::Vector(t) => t.dims()[0],
            ObsBatch::Image(t) => t.dims()[0],
        }
    }

    /// The batch flattened to `[B, D]` (images row-major HWC).
    pub fn flat(&self) -> Tensor<2> {
        match self {
            ObsBatch::Vector(t) => t.clone(),
            ObsBatch::Image(t) => t.clone().flatten::<2>(1, 3),
        }
    }
}

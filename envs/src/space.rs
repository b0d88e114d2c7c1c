//! Observation and action spaces, as in Gymnasium.

use serde::{Deserialize, Serialize};

/// The set of valid observations or actions of an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Space {
    /// Integers `0..n`.
    Discrete {
        /// Number of choices.
        n: usize,
    },
    /// A box of `f32` with the given shape and per-element bounds
    /// (bounds may be infinite). Elements are stored row-major.
    Box {
        /// Shape of one element, e.g. `[4]` or `[10, 10, 4]` (height, width, channels).
        shape: Vec<usize>,
        /// Lower bound of each element (flattened, row-major).
        low: Vec<f32>,
        /// Upper bound of each element (flattened, row-major).
        high: Vec<f32>,
    },
    /// An image of `u8` in height x width x channels layout (HWC).
    Image {
        /// Height in pixels.
        height: usize,
        /// Width in pixels.
        width: usize,
        /// Channels (1 grayscale, 3 RGB, or stacked frames).
        channels: usize,
    },
}

impl Space {
    /// A box whose elements all share the same bounds.
    pub fn uniform_box(shape: Vec<usize>, low: f32, high: f32) -> Self {
        let len = shape.iter().product();
        Space::Box {
            shape,
            low: vec![low; len],
            high: vec![high; len],
        }
    }

    /// The shape of one element: `[]` for discrete, the box shape, or `[H, W, C]`.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Space::Discrete { .. } => Vec::new(),
            Space::Box { shape, .. } => shape.clone(),
            Space::Image {
                height,
                width,
                channels,
            } => vec![*height, *width, *channels],
        }
    }

    /// Number of scalars in one flattened element (1 for discrete).
    pub fn flat_len(&self) -> usize {
        self.shape().iter().product()
    }

    /// Number of choices of a discrete space, `None` otherwise.
    pub fn discrete_n(&self) -> Option<usize> {
        match self {
            Space::Discrete { n } => Some(*n),
            _ => None,
        }
    }

    /// A one-line description such as `Discrete(2)` or `Box([4], f32)`.
    pub fn describe(&self) -> String {
        match self {
            Space::Discrete { n } => format!("Discrete({n})"),
            Space::Box { shape, .. } => format!("Box({shape:?}, f32)"),
            Space::Image {
                height,
                width,
                channels,
            } => {
                format!("Image([{height}, {width}, {channels}], u8)")
            }
        }
    }
}

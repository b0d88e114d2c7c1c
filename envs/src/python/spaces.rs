//! Mapping Gymnasium spaces onto ours.
//!
//! The worker describes each space as JSON (`{"type": "Box", "shape": ..,
//! "dtype": .., "low": .., "high": ..}` and so on); this module decides what
//! it becomes here and, for observations, tells the worker how to encode
//! them ([`ObsLayout`]), so the policy lives in Rust and is unit-tested
//! without Python:
//!
//! | Gymnasium observation space | ours | encoding |
//! |---|---|---|
//! | `Box` of `uint8`, shape `(H, W)` | `Image { H, W, 1 }` | bytes |
//! | `Box` of `uint8`, shape `(H, W, C)` | `Image { H, W, C }` | bytes |
//! | `Box` of `uint8`, shape `(C, H, W)`, `C <= 4 < W` | `Image { H, W, C }` | bytes, transposed to HWC |
//! | any other `Box` (float64, int, 1-D uint8 RAM, ...) | `Box` of `f32` | `f32`, bounds cast |
//! | `Discrete(n, start)` | `Box([1])` in `[start, start + n - 1]` | `f32` |
//! | `MultiBinary`, `MultiDiscrete` | `Box` of `f32` | `f32` |
//!
//! Our images are HWC (see [`Space::Image`]); Gymnasium's own frame
//! stacking gives CHW, hence the transpose. Action spaces map `Discrete`
//! (shifted by its `start`) and `Box`; anything else (Dict, Tuple,
//! MultiDiscrete actions, ...) is refused with a message naming the space.

use serde_json::{Value, json};

use super::protocol::json_f64;
use crate::Space;

/// How the worker must encode each observation, and what it becomes here.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ObsLayout {
    /// Our observation space.
    pub space: Space,
    /// Whether observations cross as `u8` (images) rather than `f32`.
    pub bytes: bool,
    /// A numpy axis permutation applied before encoding, if any.
    pub transpose: Option<[usize; 3]>,
}

impl ObsLayout {
    /// The instructions for the worker's `configure` command.
    pub fn to_json(&self) -> Value {
        json!({
            "dtype": if self.bytes { "uint8" } else { "float32" },
            "transpose": self.transpose,
        })
    }

    /// Bytes one encoded observation takes.
    pub fn payload_len(&self) -> usize {
        self.space.flat_len() * if self.bytes { 1 } else { 4 }
    }
}

/// How actions are handed to Python.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ActionLayout {
    /// `Discrete(n, start)`: our index `a` becomes `start + a`.
    Discrete {
        /// Our action space.
        space: Space,
        /// Gymnasium's `start`.
        start: i64,
    },
    /// `Box`: our `f32`s, reshaped and cast by the worker.
    Box {
        /// Our action space.
        space: Space,
    },
}

impl ActionLayout {
    /// Our action space.
    pub fn space(&self) -> &Space {
        match self {
            ActionLayout::Discrete { space, .. } | ActionLayout::Box { space } => space,
        }
    }
}

/// Our observation space and encoding for a Gymnasium observation space.
pub(crate) fn observation_layout(desc: &Value) -> Result<ObsLayout, String> {
    let float = |space| ObsLayout {
        space,
        bytes: false,
        transpose: None,
    };
    match kind(desc)? {
        "Box" => {
            let shape = shape(desc)?;
            if desc["dtype"] == "uint8"
                && let Some((space, transpose)) = image(&shape)
            {
                return Ok(ObsLayout {
                    space,
                    bytes: true,
                    transpose,
                });
            }
            Ok(float(bounded_box(desc, shape)?))
        }
        "Discrete" => {
            let (n, start) = discrete(desc)?;
            Ok(float(Space::Box {
                shape: vec![1],
                low: vec![start as f32],
                high: vec![(start + n as i64 - 1) as f32],
            }))
        }
        "MultiBinary" | "MultiDiscrete" => Ok(float(bounded_box(desc, shape(desc)?)?)),
        other => Err(unsupported("observation", other, desc)),
    }
}

/// Our action space for a Gymnasium action space.
pub(crate) fn action_layout(desc: &Value) -> Result<ActionLayout, String> {
    match kind(desc)? {
        "Discrete" => {
            let (n, start) = discrete(desc)?;
            Ok(ActionLayout::Discrete {
                space: Space::Discrete { n },
                start,
            })
        }
        "Box" => Ok(ActionLayout::Box {
            space: bounded_box(desc, shape(desc)?)?,
        }),
        other => Err(unsupported("action", other, desc)),
    }
}

/// The image space for a `uint8` box of this shape, and the transpose to HWC.
fn image(shape: &[usize]) -> Option<(Space, Option<[usize; 3]>)> {
    let img = |height, width, channels| Space::Image {
        height,
        width,
        channels,
    };
    match *shape {
        [h, w] => Some((img(h, w, 1), None)),
        [c, h, w] if c <= 4 && w > 4 => Some((img(h, w, c), Some([1, 2, 0]))),
        [h, w, c] => Some((img(h, w, c), None)),
        _ => None,
    }
}

fn kind(desc: &Value) -> Result<&str, String> {
    desc["type"]
        .as_str()
        .ok_or_else(|| format!("space description without a type: {desc}"))
}

fn shape(desc: &Value) -> Result<Vec<usize>, String> {
    desc["shape"]
        .as_array()
        .and_then(|dims| {
            dims.iter()
                .map(|d| d.as_u64().map(|d| d as usize))
                .collect()
        })
        .ok_or_else(|| format!("space description without a shape: {desc}"))
}

fn discrete(desc: &Value) -> Result<(usize, i64), String> {
    let n = desc["n"].as_u64().filter(|&n| n > 0);
    let start = desc["start"].as_i64().unwrap_or(0);
    n.map(|n| (n as usize, start))
        .ok_or_else(|| format!("Discrete space without a positive n: {desc}"))
}

/// A box of `f32` with the described bounds, each either one value for all
/// elements or a flat list.
fn bounded_box(desc: &Value, shape: Vec<usize>) -> Result<Space, String> {
    let len: usize = shape.iter().product();
    let bound = |name: &str| -> Result<Vec<f32>, String> {
        let value = &desc[name];
        let values: Option<Vec<f32>> = match value {
            Value::Array(items) => items
                .iter()
                .map(|v| json_f64(v).map(|v| v as f32))
                .collect(),
            scalar => json_f64(scalar).map(|v| vec![v as f32; len]),
        };
        values
            .filter(|v| v.len() == len)
            .ok_or_else(|| format!("space bound `{name}` does not fit shape {shape:?}: {desc}"))
    };
    let (low, high) = (bound("low")?, bound("high")?);
    Ok(Space::Box { shape, low, high })
}

fn unsupported(role: &str, kind: &str, desc: &Value) -> String {
    let repr = desc["repr"].as_str().unwrap_or(kind);
    format!(
        "the {role} space {repr} is not supported by the bridge (Box, Discrete{}); \
         wrap the environment in Python (for example gymnasium.wrappers.FlattenObservation) \
         and register it under an id of its own",
        if role == "observation" {
            ", MultiBinary, MultiDiscrete"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atari_frames_become_hwc_images() {
        let gray =
            json!({"type": "Box", "dtype": "uint8", "shape": [84, 84], "low": 0, "high": 255});
        let layout = observation_layout(&gray).unwrap();
        assert_eq!(layout.space.shape(), vec![84, 84, 1]);
        assert!(layout.bytes && layout.transpose.is_none());
        let rgb =
            json!({"type": "Box", "dtype": "uint8", "shape": [210, 160, 3], "low": 0, "high": 255});
        assert_eq!(
            observation_layout(&rgb).unwrap().space,
            Space::Image {
                height: 210,
                width: 160,
                channels: 3
            }
        );
        let stacked =
            json!({"type": "Box", "dtype": "uint8", "shape": [4, 84, 84], "low": 0, "high": 255});
        let layout = observation_layout(&stacked).unwrap();
        assert_eq!(layout.space.shape(), vec![84, 84, 4]);
        assert_eq!(layout.transpose, Some([1, 2, 0]));
        assert_eq!(layout.payload_len(), 84 * 84 * 4);
    }

    #[test]
    fn other_boxes_become_f32_with_infinite_bounds() {
        let cartpole = json!({"type": "Box", "dtype": "float32", "shape": [4],
            "low": [-4.8, "-inf", -0.42, "-inf"], "high": [4.8, "inf", 0.42, "inf"]});
        let layout = observation_layout(&cartpole).unwrap();
        assert!(!layout.bytes);
        let Space::Box { shape, low, high } = layout.space else {
            panic!("not a box")
        };
        assert_eq!(shape, vec![4]);
        assert_eq!(low[1], f32::NEG_INFINITY);
        assert_eq!(high[2], 0.42);
        let ram = json!({"type": "Box", "dtype": "uint8", "shape": [128], "low": 0, "high": 255});
        assert_eq!(observation_layout(&ram).unwrap().payload_len(), 128 * 4);
        let bad =
            json!({"type": "Box", "dtype": "float64", "shape": [3], "low": [0, 0], "high": 1});
        assert!(observation_layout(&bad).is_err());
    }

    #[test]
    fn discrete_spaces_shift_by_start() {
        let obs = json!({"type": "Discrete", "n": 16, "start": 0});
        assert_eq!(
            observation_layout(&obs).unwrap().space,
            Space::Box {
                shape: vec![1],
                low: vec![0.0],
                high: vec![15.0]
            }
        );
        let act = json!({"type": "Discrete", "n": 3, "start": -1});
        assert_eq!(
            action_layout(&act).unwrap(),
            ActionLayout::Discrete {
                space: Space::Discrete { n: 3 },
                start: -1
            }
        );
    }

    #[test]
    fn unsupported_spaces_are_named() {
        let dict = json!({"type": "Dict", "repr": "Dict('a': Discrete(2))"});
        let err = observation_layout(&dict).unwrap_err();
        assert!(err.contains("Dict('a': Discrete(2))"), "{err}");
        let md = json!({"type": "MultiDiscrete", "shape": [2], "low": 0, "high": [2, 3]});
        assert!(action_layout(&md).is_err());
        assert!(observation_layout(&md).is_ok());
    }
}

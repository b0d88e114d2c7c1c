//! The [`Env`] trait and the values that cross it.

use crate::{EnvError, Space};

/// One observation. Its layout is given by the environment's observation space.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// A flattened, row-major `f32` array (for [`Space::Box`]).
    Vector(Vec<f32>),
    /// A flattened HWC `u8` image (for [`Space::Image`]).
    Image(Vec<u8>),
}

impl Observation {
    /// The observation as `f32`s: vectors as they are, images as raw 0..=255 values.
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            Observation::Vector(v) => v.clone(),
            Observation::Image(p) => p.iter().map(|&b| b as f32).collect(),
        }
    }

    /// Number of scalars.
    pub fn len(&self) -> usize {
        match self {
            Observation::Vector(v) => v.len(),
            Observation::Image(p) => p.len(),
        }
    }

    /// Whether the observation holds no scalars.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One action. Its kind must match the environment's action space.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// An index into a [`Space::Discrete`] action space.
    Discrete(usize),
    /// A point in a [`Space::Box`] action space.
    Continuous(Vec<f32>),
}

/// What one call of [`Env::step`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The observation after the action.
    pub obs: Observation,
    /// The reward for the transition.
    pub reward: f32,
    /// The episode reached a terminal state of the task (no bootstrapping past it).
    pub terminated: bool,
    /// The episode was cut short by a limit outside the task (bootstrapping is valid).
    pub truncated: bool,
}

/// An RGB frame for rendering and videos, row-major HWC, 3 bytes a pixel.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// `height * width * 3` bytes.
    pub rgb: Vec<u8>,
}

/// An environment with Gymnasium semantics.
///
/// Environments are deterministic given the seed passed to [`Env::reset`]:
/// the same seed and the same actions give the same episode. `reset(None)`
/// continues the environment's own random stream.
pub trait Env: Send {
    /// The registered id, e.g. `CartPole-v1`.
    fn id(&self) -> &str;
    /// The space observations belong to.
    fn observation_space(&self) -> &Space;
    /// The space actions must belong to.
    fn action_space(&self) -> &Space;
    /// Start a new episode, reseeding first if `seed` is given.
    fn reset(&mut self, seed: Option<u64>) -> Result<Observation, EnvError>;
    /// Apply one action.
    fn step(&mut self, action: &Action) -> Result<Step, EnvError>;
    /// Render the current state as an RGB frame, where the environment can.
    fn render(&self) -> Option<Frame> {
        None
    }
}

impl<E: Env + ?Sized> Env for Box<E> {
    fn id(&self) -> &str {
        (**self).id()
    }
    fn observation_space(&self) -> &Space {
        (**self).observation_space()
    }
    fn action_space(&self) -> &Space {
        (**self).action_space()
    }
    fn reset(&mut self, seed: Option<u64>) -> Result<Observation, EnvError> {
        (**self).reset(seed)
    }
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        (**self).step(action)
    }
    fn render(&self) -> Option<Frame> {
        (**self).render()
    }
}

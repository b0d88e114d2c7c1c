//! Environments for somnium, with no deep-learning dependency.
//!
//! Every environment implements [`Env`], whose semantics follow Gymnasium:
//! `reset(seed)` starts an episode and `step(action)` returns the next
//! observation, the reward and the two ways an episode can end (`terminated`
//! by the task, `truncated` by a limit). Built-in environments are
//! constructed by id through [`make`]; [`VecEnv`] steps many copies at once.
#![warn(missing_docs)]

mod env;
mod error;
mod space;

pub use env::{Action, Env, Frame, Observation, Step};
pub use error::EnvError;
pub use space::Space;
mod registry;

pub mod classic;
pub mod minatar;
mod sample;
mod vec_env;
pub mod wrappers;

#[cfg(feature = "python")]
pub mod python;

#[cfg(feature = "gymnasium-rs")]
pub mod gymrs;

pub use sample::random_action;
pub use vec_env::{EpisodeStats, VecEnv, VecStep};

pub use registry::{EnvSpec, make, register, registry};

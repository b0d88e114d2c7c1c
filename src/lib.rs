//! somnium: reinforcement learning with latent world models.
//!
//! DreamerV3-style and MuZero-style agents share one trait-based core
//! ([`core`]): an encoder maps observations to embeddings, a dynamics model
//! carries a latent state forward (from real observations with `observe`,
//! or in imagination with `imagine`), heads read rewards, continuation,
//! values and policies off the state's features, and a planner chooses
//! actions by rolling the model forward. The neural pieces live in [`nn`],
//! experiment files in [`config`], run directories, logging and checkpoints
//! in [`logging`] and [`train`].
//!
//! Tensors come from burn 0.22: model code has no backend parameter, the
//! [`burn::tensor::Device`] chosen at run time ([`device`]) picks the backend.
#![warn(missing_docs)]

pub mod burn_rl;
pub mod config;
pub mod core;
pub mod device;
pub mod dreamer;
pub mod error;
pub mod logging;
pub mod muzero;
pub mod nn;
pub mod planners;
pub mod replay;
pub mod report;
pub mod storm;
pub mod sweep;
pub mod train;

pub use error::{Error, Result};
pub use somnium_envs as envs;

/// The README's code, compiled and run as a doctest so it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

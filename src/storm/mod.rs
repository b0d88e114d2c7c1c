//! STORM (Zhang et al., NeurIPS 2023): a transformer world model over one
//! token per time step, trained on replayed sequences, with DreamerV3's
//! actor-critic learning in imagination inside it.
//!
//! Each observation is encoded to a stochastic latent `z` (32 categoricals
//! of 32 classes, 1% unimix, straight-through samples) from the
//! observation alone; an action mixer makes the token `(z_t, a_t)`; a
//! causal transformer over the tokens gives a hidden state `h_t`, from
//! which heads predict the next latent's distribution (the prior), the
//! reward (symlog twohot) and whether the episode ends. The decoder
//! reconstructs observations from `z` alone.
//!
//! The model joins the core through the same traits as the RSSM: its
//! latent state ([`StormState`]) carries the transformer's history (a
//! key-value cache) with `z` and `h`, so `Dynamics::imagine` is one cached
//! transformer step and every planner runs on it unchanged.
//!
//! - [`agent_config`], [`agent`]: the agent's settings (the `[storm]`
//!   section of an experiment file) and its update step;
//! - [`config`]: sizes and loss settings, STORM's published values;
//! - [`state`]: the latent state and its history;
//! - [`model`]: encoder, dynamics, heads and decoder;
//! - [`loss`]: the world-model losses on replayed sequences and the
//!   imagination starts.

pub mod agent;
pub mod agent_config;
pub mod cnn;
pub mod config;
#[cfg(test)]
mod golden_tests;
pub mod loss;
pub mod model;
pub mod state;
#[cfg(test)]
mod tests;

pub use agent::StormAgent;
pub use agent_config::{StormConfig, StormReplayConfig};
pub use config::{StormCnn, StormModelConfig};
pub use model::{StormDynamics, StormWorldModel};
pub use state::StormState;

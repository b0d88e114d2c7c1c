//! Planners: choosing actions by searching a model.
//!
//! The search itself ([`Search`]: pUCT and Gumbel MuZero over a flat
//! [`Tree`]) runs on plain numbers and asks a [`SearchModel`] for one
//! batched evaluation per simulation, so the same search serves MuZero's
//! networks, a DreamerV3 world model, or a toy function in a test. The
//! adapter from burn models lives in [`latent`]. [`SamplingPlanner`] (CEM
//! and MPPI) plans by sampling action sequences instead, for discrete and
//! continuous actions, on any world model; [`AnyPlanner`] switches between
//! all of them (and acting by the policy alone) from a config.

mod choice;
pub mod latent;
mod parallel;
pub mod qtransform;
mod sampling;
mod search;
pub mod seq_halving;
mod tree;

pub use choice::{AnyPlanner, PlannerConfig, PlannerKind, PolicyPlanner, UniformPolicy, ZeroValue};
pub use latent::MctsPlanner;
pub use parallel::ParallelSearch;
pub use sampling::{SamplingConfig, SamplingKind, SamplingPlanner};
pub use search::{
    Evaluation, QNormalisation, Roots, Search, SearchConfig, SearchKind, SearchModel, SearchOutput,
    masked_argmax, sample_with_temperature,
};
pub use tree::{NodeId, Tree};

#[cfg(test)]
mod known_answers;

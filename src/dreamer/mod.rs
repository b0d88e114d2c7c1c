//! DreamerV3 (Hafner et al. 2023): a recurrent state-space world model
//! trained on replayed sequences, and an actor-critic trained purely in
//! imagination inside it.
//!
//! - [`rssm`]: the RSSM, implementing [`crate::core::Dynamics`];
//! - [`networks`]: encoder, decoder, reward/continue heads, actor, critic;
//! - [`world_model`]: the world model and its losses (KL balancing, free bits);
//! - [`returns`]: lambda-returns and percentile return normalisation;
//! - [`behaviour`]: imagination rollouts and the actor and critic losses;
//! - [`actor_critic`]: the actor and critic with their optimisers, a part
//!   that learns in imagination inside any world model;
//! - [`agent`]: the agent, its update step and checkpoints.

pub mod actor_critic;
pub mod agent;
pub mod behaviour;
mod config;
pub mod networks;
pub mod returns;
pub mod rssm;
pub mod rssm_core;
pub mod world_model;

pub use actor_critic::ActorCritic;
pub use agent::DreamerAgent;
pub use config::{
    ActorCriticSettings, ActorGradient, BehaviourConfig, CnnKind, ContinuationEstimate, CoreKind,
    DreamerConfig, EncoderConfig, HeadRole, HeadsConfig, InitialState, LossScales, OptimizerConfig,
    OptimizerKind, ReplayConfig, RssmConfig, TwohotKind,
};

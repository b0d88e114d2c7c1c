//! The contracts every world model and planner implements.
//!
//! ```text
//! obs ──Encoder──▶ embed ──Dynamics::observe──▶ state ──▶ heads on state features:
//!                   ▲                             │      RewardModel, ContinueModel,
//!       action ─────┴──── Dynamics::imagine ◀─────┘      ObservationModel, ValueModel,
//!                                                        PolicyModel; a Planner picks actions
//! ```
//!
//! DreamerV3 fills these with an RSSM (`observe` = posterior, `imagine` =
//! prior) and MuZero with representation/dynamics networks (`observe`
//! encodes the observation, `imagine` is the learned transition). Because
//! both speak the same traits, a planner written once (actor-critic in
//! imagination, MCTS, Gumbel search, CEM) runs on either model.
//!
//! Conventions: shapes are documented with B batch, T time, A actions,
//! E embedding, F features. Actions enter models as `[B, A]` floats: one-hot
//! for discrete action spaces, the action vector for continuous ones. Latent
//! state is explicit: models take and return it, never hide it in `self`.

#[cfg(test)]
pub(crate) mod line_model;
mod noise;
mod obs;
mod traits;
mod vector_state;

pub use noise::Noise;
pub use obs::{ObsBatch, ObsKind};
pub use traits::{
    ContinueModel, Dynamics, Encoder, LatentState, ObservationModel, ObservationPrediction,
    Observed, PlanOutput, Planner, PolicyDistribution, PolicyModel, RewardModel, ValueModel,
    WorldModel,
};
pub use vector_state::VectorState;

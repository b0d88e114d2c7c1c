//! MuZero (Schrittwieser et al. 2020), Gumbel MuZero (Danihelka et al.
//! 2022) and EfficientZero's additions (Ye et al. 2021) on the shared core.
//!
//! The networks ([`networks`]) implement the core traits, the search is
//! the shared [`crate::planners::MctsPlanner`], the replay is
//! [`crate::replay::TrajectoryReplay`], and [`learner`] holds the unrolled
//! loss. [`MuzeroAgent`] puts them together for the run loop.

pub mod agent;
pub mod config;
pub mod consistency;
pub mod learner;
pub mod networks;
pub mod value_prefix;

pub use agent::MuzeroAgent;
pub use config::{
    EfficientZeroConfig, MuzeroActing, MuzeroConfig, NetworkConfig, NetworkKind, ReanalyzeConfig,
    ReplayConfig, TrainingConfig,
};

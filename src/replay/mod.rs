//! Replay buffers.
//!
//! [`SequenceReplay`] is DreamerV3's: each environment copy appends to its
//! own stream, and training samples fixed-length windows uniformly from
//! all streams. Windows may cross episode boundaries; the `is_first` flags
//! travel with the data and reset the model's state there, so boundaries
//! stay correct wherever a window starts. With the 2025 design's online
//! queue ([`OnlineQueue`]) every new window is trained on once as soon as
//! it is complete, and the rest of each batch is uniform or, with the
//! 2025 design's selector mixture ([`selectors`]), drawn in part by the
//! steps' priorities or their recency.
//!
//! [`TrajectoryReplay`] is MuZero's: whole trajectories with their search
//! statistics, sampled by priority, with the n-step targets of unrolled
//! positions.

mod batch;
mod latents;
mod online;
pub mod selectors;
mod sequence;
mod trajectory;

pub use batch::SequenceBatch;
pub use latents::{LatentStore, StartLatents};
pub use online::OnlineQueue;
pub use selectors::{PriorityConfig, ReplayFractions};
pub use sequence::{SequenceReplay, StoredEpisode, Transition};
pub use trajectory::{Position, SearchStats, Trajectory, TrajectoryReplay, UnrollTargets};

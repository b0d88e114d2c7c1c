//! Replay buffers.
//!
//! [`SequenceReplay`] is DreamerV3's: each environment copy appends to its
//! own stream, and training samples fixed-length windows uniformly from
//! all streams. Windows may cross episode boundaries; the `is_first` flags
//! travel with the data and reset the model's state there, so boundaries
//! stay correct wherever a window starts.

//!
//! [`TrajectoryReplay`] is MuZero's: whole trajectories with their search
//! statistics, sampled by priority, with the n-step targets of unrolled
//! positions.

mod latents;
mod sequence;
mod trajectory;

pub use latents::{LatentStore, StartLatents};
pub use sequence::{SequenceBatch, SequenceReplay, Transition};
pub use trajectory::{Position, SearchStats, Trajectory, TrajectoryReplay, UnrollTargets};

//! `somnium report`: results across seeds and tasks as papers report them.
//!
//! Runs come from run directories, sweep directories, or folders of runs.
//! Each run's score is the mean of its last `last` values of a metric
//! (`eval/return` by default); runs group by method (a sweep's experiment
//! and grid point, or a run's name without its timestamp) and task (the
//! environment). Per task: mean and standard error over seeds. Across
//! tasks, on normalised scores (`--suite`, e.g. Atari's human-normalised
//! scores) or on one task's raw scores: mean, median, IQM and optimality
//! gap with stratified-bootstrap 95% intervals, and performance profiles
//! ([`stats`], checked against rliable). Curves of the metric over
//! environment steps get the seeds' mean with a bootstrap band.

mod collect;
pub mod stats;
mod suite;
mod target;
#[cfg(test)]
mod tests;
mod write;

use std::path::PathBuf;

pub use collect::{RunScore, collect_runs};
pub use suite::Suite;
pub use target::{Reached, first_reaching};
pub use write::{Report, seed_curves, write_report};

/// What `somnium report` is asked for.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// Run directories, sweep directories, or folders holding runs.
    pub paths: Vec<PathBuf>,
    /// A method name for each path, in order (default: from the runs).
    pub labels: Vec<String>,
    /// The metric, e.g. `eval/return`.
    pub metric: String,
    /// Each run's score: the mean of its last this many values.
    pub last: usize,
    /// Normalise scores with this suite's reference scores (`atari100k`,
    /// or a TOML file of the same form).
    pub suite: Option<String>,
    /// Where the Markdown and SVG files go.
    pub output: PathBuf,
    /// Bootstrap replicates for the aggregates' intervals.
    pub reps: usize,
    /// The bootstrap's seed.
    pub seed: u64,
    /// A score to report each run's first reaching (the environment steps
    /// and wall time it took), e.g. 475 on CartPole.
    pub target: Option<f64>,
}

//! Where a run directory stands, and carrying it on from there: what a
//! sweep needs to skip finished runs, resume killed ones and start the
//! rest, without anything but the directory to go by.

use std::path::Path;

use super::RunDir;
use super::checkpoint::Checkpoint;
use super::lock::RunLock;
use super::resume::{ResumeRequest, finished_already, resume};
use super::run::train_in;
use crate::Result;

/// The state of one run directory.
#[derive(Debug, Clone, PartialEq)]
pub enum RunStatus {
    /// A config and nothing else of use: no checkpoint yet (never started,
    /// or killed before its first checkpoint).
    NotStarted,
    /// Checkpointed at `env_steps`, with steps left to take.
    Partial {
        /// The newest checkpoint's environment steps.
        env_steps: u64,
    },
    /// Nothing left to do: its steps are taken or its goal was reached.
    Finished {
        /// The newest checkpoint's environment steps.
        env_steps: u64,
        /// Why, as `somnium resume` says it.
        why: String,
    },
    /// A process holds the run's lock.
    Running {
        /// Who, e.g. `process 4242`.
        holder: String,
    },
}

impl RunStatus {
    /// One word for tables: not-started, partial, finished, running.
    pub fn word(&self) -> &'static str {
        match self {
            RunStatus::NotStarted => "not-started",
            RunStatus::Partial { .. } => "partial",
            RunStatus::Finished { .. } => "finished",
            RunStatus::Running { .. } => "running",
        }
    }
}

/// Where the run in `root` stands, judged by its lock, its newest
/// checkpoint and its config. Writes nothing.
pub fn run_status(root: &Path) -> Result<RunStatus> {
    let run = RunDir::open(root)?;
    if let Some(holder) = RunLock::holder(root)? {
        return Ok(RunStatus::Running { holder });
    }
    let Some(newest) = Checkpoint::latest(&run.checkpoints())? else {
        return Ok(RunStatus::NotStarted);
    };
    let env_steps = newest.manifest.counters.env_steps;
    let config = run.load_config(&[])?;
    Ok(match finished_already(&run, None, &config, &|_| Ok(()))? {
        Some(why) => RunStatus::Finished { env_steps, why },
        None => RunStatus::Partial { env_steps },
    })
}

/// Train the run in `root` from where it stands: from the start when it
/// has no checkpoint (the metrics of an attempt killed before its first
/// checkpoint are set aside), else as `somnium resume` does, which leaves
/// a finished run as it is. `overrides` apply to this process only (e.g.
/// `run.progress=false`); they must not change what the run computes.
pub fn train_or_resume(root: &Path, overrides: &[String]) -> Result<()> {
    let run = RunDir::open(root)?;
    let lock = run.lock()?;
    if Checkpoint::latest(&run.checkpoints())?.is_some() {
        // `resume` takes the lock itself.
        drop(lock);
        let request = ResumeRequest {
            checkpoint: None,
            overrides: overrides.to_vec(),
        };
        return resume(root, &request);
    }
    let config = run.load_config(overrides)?;
    train_in(&config, &run, lock)
}

//! A run directory: `runs/<experiment>-<timestamp>/` with the resolved
//! config, metrics, TensorBoard events and checkpoints, written by one
//! process at a time ([`RunLock`]).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::lock::RunLock;
use crate::config::{ExperimentConfig, save_resolved};
use crate::{Error, Result};

/// Paths of one run.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The run's root.
    pub root: PathBuf,
}

impl RunDir {
    /// Create a fresh directory `<logdir>/<name>-<timestamp>` (with `-1`,
    /// `-2`, ... when that name is taken), take its writer's lock and write
    /// the resolved config into it. The name is claimed by creating the
    /// directory itself, which fails if it exists, so two runs started in
    /// the same second never share one.
    pub fn create(
        logdir: &Path,
        name: &str,
        config: &ExperimentConfig,
    ) -> Result<(RunDir, RunLock)> {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        std::fs::create_dir_all(logdir)
            .map_err(|e| Error::io("creating log directory", logdir, e))?;
        let mut n = 0;
        let root = loop {
            let root = match n {
                0 => logdir.join(format!("{name}-{stamp}")),
                n => logdir.join(format!("{name}-{stamp}-{n}")),
            };
            match std::fs::create_dir(&root) {
                Ok(()) => break root,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => return Err(Error::io("creating run directory", &root, e)),
            }
        };
        let run = RunDir { root };
        let lock = RunLock::acquire(&run.root)?;
        save_resolved(config, &run.config_path())?;
        Ok((run, lock))
    }

    /// Create the run directory `root` itself (its parent may exist; it
    /// must not), take its lock and write the resolved config into it:
    /// for runs whose place is decided beforehand, such as a sweep's.
    pub fn create_at(root: &Path, config: &ExperimentConfig) -> Result<(RunDir, RunLock)> {
        if let Some(parent) = root.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io("creating log directory", parent, e))?;
        }
        std::fs::create_dir(root).map_err(|e| Error::io("creating run directory", root, e))?;
        let run = RunDir {
            root: root.to_path_buf(),
        };
        let lock = RunLock::acquire(&run.root)?;
        save_resolved(config, &run.config_path())?;
        Ok((run, lock))
    }

    /// Take the writer's lock of this run (for `resume`), failing with the
    /// holder's pid if another process is training it.
    pub fn lock(&self) -> Result<RunLock> {
        RunLock::acquire(&self.root)
    }

    /// An existing run directory (for resume, eval, dream).
    pub fn open(root: &Path) -> Result<RunDir> {
        let run = RunDir {
            root: root.to_path_buf(),
        };
        if !run.config_path().is_file() {
            return Err(Error::checkpoint(
                root,
                "not a run directory: config.toml is missing",
            ));
        }
        Ok(run)
    }

    /// The resolved config.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// `metrics.jsonl`.
    pub fn metrics_path(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }

    /// The checkpoints directory.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }

    /// The videos and pictures directory.
    pub fn videos(&self) -> PathBuf {
        self.root.join("videos")
    }

    /// Load the run's resolved config (with optional overrides, e.g. a longer `run.env_steps`).
    pub fn load_config(&self, overrides: &[String]) -> Result<ExperimentConfig> {
        crate::config::load(&self.config_path(), overrides)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_created_in_the_same_second_get_their_own_directories() {
        let logdir = tempfile::tempdir().unwrap();
        let config = ExperimentConfig::default();
        let runs: Vec<_> = (0..3)
            .map(|_| RunDir::create(logdir.path(), "exp", &config).unwrap())
            .collect();
        let mut roots: Vec<_> = runs.iter().map(|(run, _)| run.root.clone()).collect();
        roots.sort();
        roots.dedup();
        assert_eq!(roots.len(), 3, "{roots:?}");
        // Each is locked by its creator.
        let err = runs[0].0.lock().unwrap_err().to_string();
        assert!(err.contains("in use"), "{err}");
    }
}

//! A run directory: `runs/<experiment>-<timestamp>/` with the resolved
//! config, metrics, TensorBoard events and checkpoints.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{ExperimentConfig, save_resolved};
use crate::{Error, Result};

/// Paths of one run.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The run's root.
    pub root: PathBuf,
}

impl RunDir {
    /// Create a fresh directory `<logdir>/<name>-<timestamp>` and write the resolved config into it.
    pub fn create(logdir: &Path, name: &str, config: &ExperimentConfig) -> Result<RunDir> {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut root = logdir.join(format!("{name}-{stamp}"));
        let mut n = 1;
        while root.exists() {
            root = logdir.join(format!("{name}-{stamp}-{n}"));
            n += 1;
        }
        std::fs::create_dir_all(&root)
            .map_err(|e| Error::io("creating run directory", &root, e))?;
        let run = RunDir { root };
        save_resolved(config, &run.config_path())?;
        Ok(run)
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

//! The error type returned at every boundary with the outside world:
//! files, experiment configs, checkpoints, devices and environments.
//!
//! Each variant names what was wrong and where (file, key), and keeps its
//! cause for [`std::error::Error::source`].

use std::path::PathBuf;

/// Shorthand for `Result<T, somnium::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong outside the math.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{action} `{path}`: {source}")]
    Io {
        /// What we were doing, e.g. "reading".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// An experiment config is invalid.
    #[error("{origin}: `{key}`: {problem}")]
    Config {
        /// The file the value came from, or `--set` for command-line overrides.
        origin: String,
        /// The dotted key, e.g. `dreamer.rssm.classes`.
        key: String,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// The requested device cannot be used.
    #[error("device `{spec}`: {problem}")]
    Device {
        /// The device string as given, e.g. `cuda:0`.
        spec: String,
        /// Why it cannot be used and what to do about it.
        problem: String,
    },
    /// A checkpoint is missing, corrupt, or does not match the config.
    #[error("checkpoint `{path}`: {problem}")]
    Checkpoint {
        /// The checkpoint directory.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Another process is writing this run directory.
    #[error(
        "run directory `{path}` is in use by {holder}: only one process may train a run at a time; \
         wait for it to finish or stop it (a killed process lets go at once)"
    )]
    RunInUse {
        /// The run directory.
        path: PathBuf,
        /// Who holds it, e.g. `process 4242`.
        holder: String,
    },
    /// A run's metrics cannot be read as asked (`somnium plot`).
    #[error("metrics `{path}`: {problem}")]
    Metrics {
        /// The `metrics.jsonl` file.
        path: PathBuf,
        /// What is missing or wrong.
        problem: String,
    },
    /// A sweep directory or request cannot be used as asked.
    #[error("sweep `{path}`: {problem}")]
    Sweep {
        /// The sweep directory, its manifest, or one of its runs.
        path: PathBuf,
        /// What is wrong and what to do.
        problem: String,
    },
    /// A training quantity became NaN or infinite.
    #[error(
        "non-finite value in `{name}` at update {update}: {value}{}",
        also(others)
    )]
    NonFinite {
        /// The first such metric or loss in the update's order, e.g. `loss/reward`.
        name: String,
        /// The update counter when it happened.
        update: u64,
        /// The offending value.
        value: f64,
        /// The update's other non-finite metrics, in order: where a NaN
        /// spread to (or began, when it shows in several at once).
        others: Vec<String>,
    },
    /// An environment failed.
    #[error(transparent)]
    Env(#[from] somnium_envs::EnvError),
    /// A feature that this build or this agent does not provide.
    #[error("{0}")]
    Unsupported(String),
    /// The actor thread of `run.async_actors` died (its panic message is
    /// printed above this error).
    #[error("the actor thread stopped unexpectedly (see the panic message above)")]
    ActorStopped,
}

fn also(others: &[String]) -> String {
    match others.is_empty() {
        true => String::new(),
        false => format!(" (also non-finite: {})", others.join(", ")),
    }
}

/// An update's metrics, or the [`Error::NonFinite`] naming every one of
/// them that is NaN or infinite: the run stops there, before a checkpoint
/// could save what the update did, so its last checkpoint stays the last
/// finite state to resume from.
pub fn check_finite(metrics: Vec<(String, f64)>, update: u64) -> Result<Vec<(String, f64)>> {
    let mut bad = metrics.iter().filter(|(_, value)| !value.is_finite());
    let Some((name, value)) = bad.next() else {
        return Ok(metrics);
    };
    Err(Error::NonFinite {
        name: name.clone(),
        update,
        value: *value,
        others: bad.map(|(name, _)| name.clone()).collect(),
    })
}

impl Error {
    /// An I/O error with the path and action it happened in.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// A config error for `key` in `origin`.
    pub fn config(
        origin: impl Into<String>,
        key: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Error::Config {
            origin: origin.into(),
            key: key.into(),
            problem: problem.into(),
        }
    }

    /// A checkpoint error for the checkpoint at `path`.
    pub fn checkpoint(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Checkpoint {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(values: &[(&str, f64)]) -> Vec<(String, f64)> {
        values.iter().map(|(n, v)| (n.to_string(), *v)).collect()
    }

    #[test]
    fn finite_metrics_pass_through_unchanged() {
        let m = metrics(&[("loss/reward", 0.5), ("loss/kl", 1.0)]);
        assert_eq!(check_finite(m.clone(), 3).unwrap(), m);
    }

    #[test]
    fn a_non_finite_update_names_the_first_and_every_other() {
        let m = metrics(&[
            ("loss/decoder", 0.1),
            ("loss/actor", f64::NAN),
            ("loss/critic", 2.0),
            ("actor/entropy", f64::INFINITY),
        ]);
        let message = check_finite(m, 7).unwrap_err().to_string();
        assert_eq!(
            message,
            "non-finite value in `loss/actor` at update 7: NaN (also non-finite: actor/entropy)"
        );
    }
}

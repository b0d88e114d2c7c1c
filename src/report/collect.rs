//! Finding the runs a report covers and scoring each one.

use std::path::{Path, PathBuf};

use crate::logging::{Curve, read_curve};
use crate::sweep::{MANIFEST, Sweep};
use crate::train::provenance::Provenance;
use crate::train::{RunDir, RunStatus, experiment_name, run_status};
use crate::{Error, Result};

/// One run, scored.
#[derive(Debug, Clone)]
pub struct RunScore {
    /// The method it belongs to.
    pub method: String,
    /// The task: its environment id.
    pub task: String,
    /// Its directory.
    pub run: PathBuf,
    /// The mean of its last values of the metric.
    pub score: f64,
    /// Its values of the metric over environment steps.
    pub curve: Curve,
    /// Whether it has finished (a report of unfinished runs says so).
    pub finished: bool,
    /// The command that trains it: its sweep's, or the first recorded.
    pub command: String,
    /// Each process that trained it ([`Provenance`]), oldest first.
    pub provenance: Vec<Provenance>,
}

/// The runs under `paths` with the method each belongs to: a run
/// directory is itself; a sweep directory, each of its runs; any other
/// folder, each run directory directly inside it. `labels`, when given,
/// name the method of each path's runs in order.
pub fn collect_runs(paths: &[PathBuf], labels: &[String]) -> Result<Vec<(String, PathBuf)>> {
    let mut runs = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let label = labels.get(i);
        let found: Vec<(String, PathBuf)> = if path.join("config.toml").is_file() {
            vec![(run_method(path), path.clone())]
        } else if path.join(MANIFEST).is_file() {
            sweep_runs(path)?
        } else {
            let entries =
                std::fs::read_dir(path).map_err(|e| Error::io("listing runs in", path, e))?;
            let mut inner: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("config.toml").is_file() || p.join(MANIFEST).is_file())
                .collect();
            inner.sort();
            let mut found = Vec::new();
            for p in inner {
                match p.join(MANIFEST).is_file() {
                    true => found.extend(sweep_runs(&p)?),
                    false => found.push((run_method(&p), p)),
                }
            }
            found
        };
        if found.is_empty() {
            return Err(Error::Metrics {
                path: path.clone(),
                problem: "holds no run directories (none with a config.toml) and no sweep".into(),
            });
        }
        runs.extend(
            found
                .into_iter()
                .map(|(method, run)| (label.cloned().unwrap_or(method), run)),
        );
    }
    Ok(runs)
}

/// A sweep's runs, each under its experiment's name plus the values its
/// `--set` and grid point give, but for the seed and the environment's
/// (so one method spans a suite's tasks).
fn sweep_runs(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let sweep = Sweep::open(dir)?;
    let base = experiment_name(&sweep.manifest.experiment);
    let shared = sweep.manifest.overrides.clone();
    Ok(sweep
        .manifest
        .runs
        .iter()
        .enumerate()
        .map(|(index, run)| {
            let point: Vec<String> = shared
                .iter()
                .chain(&run.overrides)
                .filter(|o| !o.starts_with("run.seed=") && !o.starts_with("env."))
                .map(|o| {
                    let (key, value) = o.split_once('=').unwrap_or((o, ""));
                    format!(
                        "{}={}",
                        key.rsplit('.').next().unwrap_or(key),
                        value.trim_matches('"')
                    )
                })
                .collect();
            let method = match point.is_empty() {
                true => base.clone(),
                false => format!("{base} {}", point.join(",")),
            };
            (method, sweep.run_dir(index))
        })
        .collect())
}

/// A loose run's method: its directory name without the timestamp that
/// `somnium train` appends (`dreamer-cartpole-1765000000` and its `-1`).
fn run_method(run: &Path) -> String {
    let name = run
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parts: Vec<&str> = name.split('-').collect();
    let is_stamp = |p: &str| p.len() >= 9 && p.bytes().all(|b| b.is_ascii_digit());
    let cut = match parts.as_slice() {
        [.., stamp, n] if is_stamp(stamp) && n.bytes().all(|b| b.is_ascii_digit()) => 2,
        [.., stamp] if is_stamp(stamp) => 1,
        _ => 0,
    };
    match cut < parts.len() {
        true => parts[..parts.len() - cut].join("-"),
        false => name,
    }
}

/// The runs of a report: those scored, and those still waiting for their
/// first value of the metric (a sweep's runs not yet started, or started
/// and not yet evaluated).
#[derive(Debug, Clone)]
pub struct Scored {
    /// Each run with values of the metric, scored.
    pub scores: Vec<RunScore>,
    /// Unfinished runs without any value of it yet.
    pub waiting: Vec<PathBuf>,
}

/// Score each run of `runs` by the mean of its last `last` values of
/// `metric`. An unfinished run without any is set aside as waiting; a
/// finished one without any, or no run with any, is an error naming the
/// metrics that were logged.
pub fn score_runs(runs: &[(String, PathBuf)], metric: &str, last: usize) -> Result<Scored> {
    // A sweep's manifest is read once for all its runs.
    let mut commands: std::collections::BTreeMap<PathBuf, Option<String>> = Default::default();
    let mut waiting = Vec::new();
    let mut first_error = None;
    let scores: Vec<RunScore> = runs
        .iter()
        .map(|(method, run)| {
            let finished = matches!(run_status(run), Ok(RunStatus::Finished { .. }));
            let curve = match read_curve(run, metric) {
                Ok(curve) => curve,
                // Not started, or no value yet; a file that cannot be
                // read stays an error.
                Err(e)
                    if !finished
                        && (matches!(e, Error::Metrics { .. })
                            || !run.join("metrics.jsonl").exists()) =>
                {
                    waiting.push(run.clone());
                    first_error.get_or_insert(e);
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            let config = RunDir::open(run)?.load_config(&[])?;
            let tail = &curve.points[curve.points.len().saturating_sub(last.max(1))..];
            let score = tail.iter().map(|p| p.1).sum::<f64>() / tail.len() as f64;
            let provenance = Provenance::read(run);
            let parent = run.parent().unwrap_or(Path::new("")).to_path_buf();
            let command = commands
                .entry(parent)
                .or_insert_with_key(|dir| Sweep::open(dir).ok().map(|s| sweep_command(&s)))
                .clone()
                .or_else(|| provenance.first().map(|p| p.command.join(" ")))
                .unwrap_or_else(|| "-".into());
            Ok(Some(RunScore {
                command,
                provenance,
                method: method.clone(),
                task: config.env.id.clone(),
                run: run.clone(),
                score,
                curve,
                finished,
            }))
        })
        .collect::<Result<Vec<Option<RunScore>>>>()?
        .into_iter()
        .flatten()
        .collect();
    match (scores.is_empty(), first_error) {
        (true, Some(e)) => Err(e),
        _ => Ok(Scored { scores, waiting }),
    }
}

/// The command that makes `sweep`: its experiment, seeds, `--set` values
/// and grid.
fn sweep_command(sweep: &Sweep) -> String {
    let m = &sweep.manifest;
    let points: usize = m.grid.iter().map(|(_, values)| values.len()).product();
    let mut words = vec![
        "somnium sweep".to_string(),
        m.experiment.display().to_string(),
        format!("--seeds {}", m.runs.len() / points.max(1)),
    ];
    words.extend(m.overrides.iter().map(|o| format!("--set {o}")));
    words.extend(
        m.grid
            .iter()
            .map(|(key, values)| format!("--grid {key}={}", values.join(","))),
    );
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_method_drops_the_timestamp() {
        assert_eq!(
            run_method(Path::new("runs/dreamer-cartpole-1765000000")),
            "dreamer-cartpole"
        );
        assert_eq!(
            run_method(Path::new("runs/dreamer-cartpole-1765000000-2")),
            "dreamer-cartpole"
        );
        assert_eq!(run_method(Path::new("runs/my-run-3")), "my-run-3");
    }
}

//! Sweeps: one experiment expanded over seeds and a grid of values into
//! ordinary run directories, run here several at a time ([`local`]) or as
//! a Slurm job array ([`slurm`]).
//!
//! A sweep is a directory: `sweep.json` (what was asked and the runs it
//! expanded into, in the order they were added) and one run directory per
//! run, created with its resolved config before any of them trains. Since
//! every run directory says where it stands ([`crate::train::run_status`]),
//! a sweep needs no other state: running the same command again skips the
//! finished runs, resumes the killed ones from their checkpoints and starts
//! the rest, whichever process or machine trained them before. More seeds
//! later add runs to the same sweep; the runs already there keep their
//! places.

pub mod local;
mod plan;
pub mod slurm;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use plan::{Planned, PlannedRun, SweepRequest, plan_runs};

use crate::config::ExperimentConfig;
use crate::train::{RunDir, RunStatus, run_status, train_or_resume};
use crate::{Error, Result};

/// The manifest's file name inside a sweep directory.
pub const MANIFEST: &str = "sweep.json";

/// What a sweep directory records of itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The experiment file, as given.
    pub experiment: PathBuf,
    /// `--set` overrides applied to every run.
    pub overrides: Vec<String>,
    /// The grid, by key, as `key=value` strings of each value.
    pub grid: Vec<(String, Vec<String>)>,
    /// The runs, in the order they were added (indices of Slurm array
    /// tasks; never reordered).
    pub runs: Vec<PlannedRun>,
    /// Slurm job arrays submitted for this sweep, oldest first.
    #[serde(default)]
    pub slurm_jobs: Vec<slurm::SubmittedJob>,
}

/// An opened sweep directory.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The sweep directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

impl Sweep {
    /// Open the sweep in `dir` (an error names it when it is not one).
    pub fn open(dir: &Path) -> Result<Sweep> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::io(
                "reading the sweep manifest (is this a sweep directory?)",
                &path,
                e,
            )
        })?;
        let manifest = serde_json::from_str(&text).map_err(|e| Error::Sweep {
            path: path.clone(),
            problem: format!("not a readable sweep manifest: {e}"),
        })?;
        Ok(Sweep {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// Create the sweep `request` asks for, or extend the one already in
    /// its directory with the runs it lacks: the manifest is written first
    /// (atomically), then each missing run directory with its resolved
    /// config. A sweep directory that holds another experiment, overrides
    /// or grid is refused, naming what differs.
    pub fn prepare(request: &SweepRequest) -> Result<Sweep> {
        let planned = plan_runs(request)?;
        let dir = planned.dir.clone();
        let mut manifest = match Sweep::open(&dir) {
            Ok(existing) => {
                existing.check_same(&planned.manifest)?;
                existing.manifest
            }
            Err(_) if !dir.join(MANIFEST).exists() => Manifest {
                runs: Vec::new(),
                ..planned.manifest.clone()
            },
            Err(e) => return Err(e),
        };
        let mut added = 0;
        for run in &planned.manifest.runs {
            if !manifest.runs.iter().any(|r| r.name == run.name) {
                manifest.runs.push(run.clone());
                added += 1;
            }
        }
        let sweep = Sweep { dir, manifest };
        if added > 0 || !sweep.dir.join(MANIFEST).exists() {
            sweep.save()?;
        }
        for (index, run) in sweep.manifest.runs.iter().enumerate() {
            let root = sweep.run_dir(index);
            if root.join("config.toml").is_file() {
                if let Some(planned) = planned.configs.get(&run.name) {
                    check_unchanged(&root, planned, &request.experiment)?;
                }
            } else {
                let config = planned.configs.get(&run.name).ok_or_else(|| Error::Sweep {
                    path: root.clone(),
                    problem: "listed in the manifest but missing, and not among the runs this \
                              request plans: run the sweep with the seeds that made it"
                        .into(),
                })?;
                if root.exists() {
                    remove_unwritten_run(&root)?;
                }
                RunDir::create_at(&root, config)?;
            }
        }
        Ok(sweep)
    }

    fn check_same(&self, planned: &Manifest) -> Result<()> {
        let mine = &self.manifest;
        let differs = [
            ("experiment", mine.experiment != planned.experiment),
            ("--set overrides", mine.overrides != planned.overrides),
            ("grid", mine.grid != planned.grid),
        ];
        match differs.iter().find(|(_, d)| *d) {
            None => Ok(()),
            Some((what, _)) => Err(Error::Sweep {
                path: self.dir.clone(),
                problem: format!(
                    "this sweep directory holds a sweep with another {what}; give the new \
                     sweep its own directory with --dir"
                ),
            }),
        }
    }

    /// Write the manifest (to a temporary file renamed into place, so a
    /// kill leaves the old one or the new one).
    pub fn save(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io("creating the sweep directory", &self.dir, e))?;
        let path = self.dir.join(MANIFEST);
        let tmp = self.dir.join(format!("{MANIFEST}.tmp"));
        let text = serde_json::to_string_pretty(&self.manifest).expect("manifest serialises");
        std::fs::write(&tmp, text + "\n")
            .map_err(|e| Error::io("writing the sweep manifest", &tmp, e))?;
        std::fs::rename(&tmp, &path)
            .map_err(|e| Error::io("replacing the sweep manifest", &path, e))
    }

    /// The run directory of run `index`.
    pub fn run_dir(&self, index: usize) -> PathBuf {
        self.dir.join(&self.manifest.runs[index].name)
    }

    /// Every run's status, in manifest order (an unreadable run is an
    /// error in its place, not for the whole sweep).
    pub fn statuses(&self) -> Vec<Result<RunStatus>> {
        (0..self.manifest.runs.len())
            .map(|i| run_status(&self.run_dir(i)))
            .collect()
    }
}

/// Train run `index` of the sweep in `dir` (what `somnium sweep-task`
/// does, locally or as a Slurm array task): from the start, or on from its
/// last checkpoint; a finished run is left as it is.
pub fn run_task(dir: &Path, index: usize) -> Result<()> {
    let sweep = Sweep::open(dir)?;
    if index >= sweep.manifest.runs.len() {
        return Err(Error::Sweep {
            path: dir.to_path_buf(),
            problem: format!(
                "has {} runs (indices 0 to {}); there is no run {index}",
                sweep.manifest.runs.len(),
                sweep.manifest.runs.len().saturating_sub(1)
            ),
        });
    }
    train_or_resume(&sweep.run_dir(index), &["run.progress=false".to_string()])
}

/// Each run of `sweep` on a line: its name, where it stands (by its
/// directory and, for a Slurm sweep, the scheduler), its checkpointed
/// steps and its last evaluation return.
pub fn status_table(sweep: &Sweep) -> String {
    let reports = slurm::status(sweep);
    let width = reports
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(3)
        .max(3);
    let mut text = format!(
        "{:<width$}  {:<12} {:>10}  {:>12}  slurm task\n",
        "run", "state", "env steps", "last eval"
    );
    for report in reports {
        let eval = crate::logging::read_curve(&sweep.dir.join(&report.name), "eval/return")
            .ok()
            .and_then(|c| c.points.last().map(|p| format!("{:.1}", p.1)))
            .unwrap_or_else(|| "-".into());
        text.push_str(&format!(
            "{:<width$}  {:<12} {:>10}  {:>12}  {}\n",
            report.name,
            report.state,
            report.env_steps.map_or("-".into(), |s| s.to_string()),
            eval,
            report.task.unwrap_or_else(|| "-".into())
        ));
    }
    text
}

/// Refuse to go on with a run whose saved config is not what the
/// experiment gives now (the file was edited since the sweep was made):
/// its runs would differ by more than their seeds. Names the first key
/// that differs.
fn check_unchanged(root: &Path, planned: &ExperimentConfig, experiment: &Path) -> Result<()> {
    let saved = RunDir::open(root)?.load_config(&[])?;
    if saved == *planned {
        return Ok(());
    }
    let (saved, now) = (json(&saved), json(planned));
    let (key, was, is) = first_difference(&saved, &now, "").unwrap_or_default();
    Err(Error::Sweep {
        path: root.to_path_buf(),
        problem: format!(
            "this run was made with `{key}` = {was}, and {} now gives {is}: the experiment \
             changed since the sweep was made; give the new sweep its own --dir, or restore \
             the file",
            experiment.display()
        ),
    })
}

fn json(config: &ExperimentConfig) -> serde_json::Value {
    serde_json::to_value(config).expect("configs serialise")
}

/// The first dotted key where `a` and `b` differ, with both values.
fn first_difference(
    a: &serde_json::Value,
    b: &serde_json::Value,
    prefix: &str,
) -> Option<(String, String, String)> {
    use serde_json::Value::Object;
    match (a, b) {
        (Object(x), Object(y)) => x.keys().chain(y.keys()).find_map(|key| {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            let null = serde_json::Value::Null;
            first_difference(
                x.get(key).unwrap_or(&null),
                y.get(key).unwrap_or(&null),
                &path,
            )
        }),
        _ if a == b => None,
        _ => Some((prefix.to_string(), a.to_string(), b.to_string())),
    }
}

/// Remove a run directory whose creation was cut short before its config
/// was written (it holds at most its lock file and a temporary config);
/// anything else in it is not the sweep's to delete.
fn remove_unwritten_run(root: &Path) -> Result<()> {
    let entries = std::fs::read_dir(root).map_err(|e| Error::io("listing", root, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name != crate::train::lock::LOCK_FILE && name != "config.toml.tmp" {
            return Err(Error::Sweep {
                path: root.to_path_buf(),
                problem: format!(
                    "this run's directory exists without a config but holds `{}`: move it \
                     away and run the sweep again",
                    name.to_string_lossy()
                ),
            });
        }
    }
    std::fs::remove_dir_all(root).map_err(|e| Error::io("removing an unwritten run", root, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_run_cut_short_before_its_config_is_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let cut = tmp.path().join("seed00");
        std::fs::create_dir(&cut).unwrap();
        std::fs::write(cut.join("run.lock"), "42\n").unwrap();
        std::fs::write(cut.join("config.toml.tmp"), "agent =").unwrap();
        remove_unwritten_run(&cut).unwrap();
        assert!(!cut.exists());
        let other = tmp.path().join("seed01");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("notes.txt"), "mine").unwrap();
        let err = remove_unwritten_run(&other).unwrap_err().to_string();
        assert!(
            err.contains("notes.txt") && other.join("notes.txt").exists(),
            "{err}"
        );
    }
}

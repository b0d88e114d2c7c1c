//! A sweep on a Slurm cluster: one job array whose task `i` trains (or
//! resumes) run `i` of the sweep, and a status that joins what the
//! scheduler says (`squeue`, `sacct`) with what the run directories say.
//!
//! The sweep directory must be on a file system the compute nodes share.
//! Only runs that are neither finished nor queued or running are submitted,
//! so submitting again after a cancelled, failed or timed-out task resumes
//! exactly what was left, from its last checkpoint.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::Sweep;
use crate::train::RunStatus;
use crate::{Error, Result};

/// A job array submitted for a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmittedJob {
    /// Slurm's job id of the array.
    pub id: String,
    /// The sweep's run indices, which are its array task ids.
    pub indices: Vec<usize>,
    /// The batch script it ran.
    pub script: PathBuf,
}

/// What `sbatch` is asked for, beyond the array.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// The `somnium` executable the tasks run (a path the nodes see).
    pub program: PathBuf,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time` per task, e.g. `04:00:00`.
    pub time: Option<String>,
    /// `--gpus` per task.
    pub gpus: Option<u32>,
    /// `--cpus-per-task` (also the run's thread count).
    pub cpus_per_task: Option<u32>,
    /// `--mem` per task, e.g. `16G`.
    pub mem: Option<String>,
    /// At most this many tasks at once (`--array=...%N`).
    pub max_parallel: Option<usize>,
    /// Further `sbatch` options, verbatim (e.g. `--account=rl`).
    pub extra: Vec<String>,
}

/// What the scheduler says of a sweep's array tasks: (run index, job id,
/// state), oldest job first, `sacct`'s word before `squeue`'s.
#[derive(Debug, Clone, Default)]
struct Scheduler {
    tasks: Vec<(usize, String, String)>,
}

/// States of a task that is waiting or running.
const ACTIVE: &[&str] = &[
    "PENDING",
    "RUNNING",
    "CONFIGURING",
    "COMPLETING",
    "SUSPENDED",
    "REQUEUED",
];

/// Submit the runs of `sweep` that have something left to do and are not
/// already queued or running; returns the job, or `None` when no run
/// needed one. The job is recorded in the sweep's manifest.
pub fn submit(sweep: &mut Sweep, options: &SlurmOptions) -> Result<Option<SubmittedJob>> {
    let scheduler = Scheduler::ask(sweep);
    let mut indices = Vec::new();
    for (index, status) in sweep.statuses().into_iter().enumerate() {
        let in_queue = scheduler
            .latest(index)
            .is_some_and(|(_, state)| ACTIVE.contains(&state.as_str()));
        if !in_queue
            && matches!(
                status,
                Ok(RunStatus::NotStarted | RunStatus::Partial { .. })
            )
        {
            indices.push(index);
        }
    }
    if indices.is_empty() {
        return Ok(None);
    }
    let script_dir = sweep.dir.join("slurm");
    std::fs::create_dir_all(&script_dir)
        .map_err(|e| Error::io("creating the sweep's slurm directory", &script_dir, e))?;
    let script = script_dir.join(format!("submit-{}.sbatch", sweep.manifest.slurm_jobs.len()));
    let text = batch_script(sweep, &indices, options)?;
    std::fs::write(&script, text).map_err(|e| Error::io("writing the batch script", &script, e))?;
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(&script)
        .output()
        .map_err(|e| Error::io("running sbatch (is Slurm installed here?)", "sbatch", e))?;
    if !out.status.success() {
        return Err(Error::Sweep {
            path: script,
            problem: format!(
                "sbatch refused the job array: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = stdout
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let job = SubmittedJob {
        id,
        indices,
        script,
    };
    sweep.manifest.slurm_jobs.push(job.clone());
    sweep.save()?;
    Ok(Some(job))
}

/// The batch script of an array over `indices`.
fn batch_script(sweep: &Sweep, indices: &[usize], options: &SlurmOptions) -> Result<String> {
    let absolute =
        |path: &Path| std::path::absolute(path).map_err(|e| Error::io("resolving a path", path, e));
    let dir = absolute(&sweep.dir)?;
    let cwd = std::env::current_dir().map_err(|e| Error::io("reading", ".", e))?;
    let name = dir
        .file_name()
        .map_or("sweep".into(), |n| n.to_string_lossy().into_owned());
    let mut array = ranges(indices);
    if let Some(n) = options.max_parallel {
        array = format!("{array}%{n}");
    }
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name=somnium-{name}"),
        format!("#SBATCH --array={array}"),
        format!("#SBATCH --output={}/slurm/%A_%a.out", dir.display()),
        format!("#SBATCH --chdir={}", cwd.display()),
    ];
    let optional = [
        ("partition", options.partition.clone()),
        ("time", options.time.clone()),
        ("gpus", options.gpus.map(|g| g.to_string())),
        (
            "cpus-per-task",
            options.cpus_per_task.map(|c| c.to_string()),
        ),
        ("mem", options.mem.clone()),
    ];
    for (flag, value) in optional {
        if let Some(value) = value {
            lines.push(format!("#SBATCH --{flag}={value}"));
        }
    }
    lines.extend(options.extra.iter().map(|arg| format!("#SBATCH {arg}")));
    lines.push(String::new());
    lines.push(
        "# Written by `somnium sweep --slurm`: task i trains the sweep's run i, or resumes it"
            .into(),
    );
    lines.push("# from its last checkpoint; a finished run is left as it is.".into());
    lines.push("export RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"".into());
    lines.push(format!(
        "exec {} sweep-task {} --index \"$SLURM_ARRAY_TASK_ID\"",
        shell_quote(&absolute(&options.program)?.display().to_string()),
        shell_quote(&dir.display().to_string())
    ));
    Ok(lines.join("\n") + "\n")
}

/// `0,2-4,7` for [0, 2, 3, 4, 7] (sorted, distinct).
fn ranges(indices: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let mut j = i;
        while j + 1 < indices.len() && indices[j + 1] == indices[j] + 1 {
            j += 1;
        }
        parts.push(match i == j {
            true => indices[i].to_string(),
            false => format!("{}-{}", indices[i], indices[j]),
        });
        i = j + 1;
    }
    parts.join(",")
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

impl Scheduler {
    /// Ask `sacct` (where accounting is on) and `squeue -t all` (which
    /// remembers ended tasks for a few minutes) about each of the sweep's
    /// jobs; nothing when it has none or Slurm cannot be asked. One job at
    /// a time, since a query naming a job Slurm has forgotten fails whole.
    fn ask(sweep: &Sweep) -> Scheduler {
        let mut tasks = Vec::new();
        for job in &sweep.manifest.slurm_jobs {
            let id = job.id.as_str();
            tasks.extend(query(
                &["sacct", "-n", "-P", "-X", "-j", id, "-o", "JobID,State"],
                '|',
            ));
            tasks.extend(query(
                &["squeue", "-h", "-r", "-t", "all", "-j", id, "-o", "%i %T"],
                ' ',
            ));
        }
        Scheduler { tasks }
    }

    /// The newest word on run `index`: its task (`job_index`) and state.
    fn latest(&self, index: usize) -> Option<(String, String)> {
        self.tasks
            .iter()
            .rev()
            .find(|(i, _, _)| *i == index)
            .map(|(_, job, state)| (format!("{job}_{index}"), state.clone()))
    }
}

/// Run a Slurm query and read its `<job>_<task><sep><state>` lines as
/// (task, job, state); an unusable answer is no answer.
fn query(command: &[&str], sep: char) -> Vec<(usize, String, String)> {
    let Ok(out) = Command::new(command[0]).args(&command[1..]).output() else {
        return Vec::new();
    };
    if !out.status.success() {
        return Vec::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let (id, state) = line.trim().split_once(sep)?;
            let (job, task) = id.split_once('_')?;
            let state = state.split_whitespace().next()?.to_string();
            Some((task.parse().ok()?, job.to_string(), state))
        })
        .collect()
}

/// One run's line of `somnium sweep --status`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// The run's name.
    pub name: String,
    /// finished, running, queued, failed, cancelled, partial, not-started.
    pub state: String,
    /// Its newest checkpoint's environment steps (a running run's: those
    /// its metrics last logged).
    pub env_steps: Option<u64>,
    /// The Slurm task (`job_index`) behind the state, if any.
    pub task: Option<String>,
}

/// Where each run of `sweep` stands, by its directory and by the scheduler.
pub fn status(sweep: &Sweep) -> Vec<RunReport> {
    let scheduler = Scheduler::ask(sweep);
    sweep
        .statuses()
        .into_iter()
        .enumerate()
        .map(|(index, status)| {
            let name = sweep.manifest.runs[index].name.clone();
            let latest = scheduler.latest(index);
            let env_steps = match &status {
                Ok(RunStatus::Partial { env_steps } | RunStatus::Finished { env_steps, .. }) => {
                    Some(*env_steps)
                }
                // Where its metrics have got to.
                Ok(RunStatus::Running { .. }) => Some(super::local::last_step(
                    &sweep.run_dir(index).join("metrics.jsonl"),
                )),
                _ => None,
            };
            let (state, task) = match (&status, latest) {
                (Ok(RunStatus::Finished { .. }), _) => ("finished".to_string(), None),
                (_, Some((task, s))) if s == "PENDING" => ("queued".into(), Some(task)),
                (_, Some((task, s))) if ACTIVE.contains(&s.as_str()) => {
                    ("running".into(), Some(task))
                }
                (Ok(RunStatus::Running { .. }), _) => ("running".into(), None),
                (_, Some((task, s))) if s != "COMPLETED" => (s.to_lowercase(), Some(task)),
                (Ok(other), _) => (other.word().to_string(), None),
                (Err(e), _) => (format!("unreadable: {e}"), None),
            };
            RunReport {
                name,
                state,
                env_steps,
                task,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_indices_are_written_as_ranges() {
        assert_eq!(ranges(&[0, 2, 3, 4, 7]), "0,2-4,7");
        assert_eq!(ranges(&[5]), "5");
        assert_eq!(ranges(&[0, 1]), "0-1");
    }

    #[test]
    fn paths_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
    }
}

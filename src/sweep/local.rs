//! Running a sweep on this machine: each run in its own `somnium
//! sweep-task` process, a few at a time, with one progress display for
//! the whole sweep.
//!
//! Processes, not threads: a run that fails or aborts takes nothing else
//! with it, and each keeps its own thread pool, sized so the runs together
//! use the cores once. Each child reads its standard input, which this
//! process holds open, and stops when it closes: when the sweep process
//! dies, even by `kill -9`, its runs stop with it instead of training on
//! unseen, and running the command again resumes them from their
//! checkpoints.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::Sweep;
use crate::train::{RunDir, RunStatus, run_status};
use crate::{Error, Result};

/// How to run a sweep here.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// The `somnium` executable the runs start.
    pub program: PathBuf,
    /// Runs at once.
    pub jobs: usize,
    /// Threads each run's tensor backend uses (`RAYON_NUM_THREADS`,
    /// unless that is set already).
    pub threads_per_run: usize,
}

impl LocalOptions {
    /// `jobs` runs at once (all cores if `None`), the cores shared among
    /// them.
    pub fn new(program: PathBuf, jobs: Option<usize>) -> LocalOptions {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let jobs = jobs.unwrap_or(cores).max(1);
        LocalOptions {
            program,
            jobs,
            threads_per_run: (cores / jobs).max(1),
        }
    }
}

/// How one run of the sweep ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Its steps are done or its goal met (`trained` is false when it was
    /// before this sweep started).
    Finished {
        /// Whether this sweep trained it.
        trained: bool,
    },
    /// Another process was training it; left alone.
    InUse(String),
    /// It stopped without finishing: why, with the end of its log.
    Failed(String),
}

/// Run every unfinished run of `sweep` as `options` say; returns each
/// run's outcome in manifest order.
pub fn run_local(sweep: &Sweep, options: &LocalOptions) -> Result<Vec<Outcome>> {
    let total = sweep.manifest.runs.len();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; total];
    let mut queue = VecDeque::new();
    let mut held = Vec::new();
    for (index, status) in sweep.statuses().into_iter().enumerate() {
        match status {
            Ok(RunStatus::Finished { .. }) => {
                outcomes[index] = Some(Outcome::Finished { trained: false })
            }
            Ok(RunStatus::Running { .. }) => held.push(index),
            Ok(RunStatus::NotStarted | RunStatus::Partial { .. }) => queue.push_back(index),
            Err(e) => outcomes[index] = Some(Outcome::Failed(e.to_string())),
        }
    }
    let display = Display::new(total, outcomes.iter().flatten().count());
    let skipped = total - queue.len() - held.len();
    if skipped > 0 {
        display.say(format!("{skipped} of {total} runs need nothing (finished)"));
    }
    // A run held by another process is looked at again while this sweep
    // works, and for a few seconds at least: the holder may be the run of
    // a sweep just stopped, which lets go as soon as it notices.
    let grace = Instant::now() + Duration::from_secs(3);
    let mut active: Vec<Active> = Vec::new();
    while !queue.is_empty() || !active.is_empty() || (!held.is_empty() && Instant::now() < grace) {
        held.retain(|&index| match run_status(&sweep.run_dir(index)) {
            Ok(RunStatus::Running { .. }) => true,
            Ok(RunStatus::Finished { .. }) => {
                outcomes[index] = Some(Outcome::Finished { trained: false });
                display.overall.inc(1);
                false
            }
            Ok(_) => {
                queue.push_back(index);
                false
            }
            Err(e) => {
                outcomes[index] = Some(Outcome::Failed(e.to_string()));
                false
            }
        });
        while active.len() < options.jobs
            && let Some(index) = queue.pop_front()
        {
            match Active::start(sweep, index, options, &display) {
                Ok(run) => active.push(run),
                Err(e) => outcomes[index] = Some(Outcome::Failed(e.to_string())),
            }
        }
        std::thread::sleep(Duration::from_millis(250));
        let mut still = Vec::new();
        for mut run in active.drain(..) {
            run.bar
                .set_position(last_step(&run.root.join("metrics.jsonl")));
            match run.child.try_wait() {
                Ok(None) => still.push(run),
                Ok(Some(exit)) => {
                    let outcome = ended(&run.root, exit.to_string());
                    display.finished(&run, &outcome);
                    outcomes[run.index] = Some(outcome);
                }
                Err(e) => {
                    let outcome = Outcome::Failed(format!("waiting for its process: {e}"));
                    outcomes[run.index] = Some(outcome);
                }
            }
        }
        active = still;
    }
    for index in held {
        let holder = match run_status(&sweep.run_dir(index)) {
            Ok(RunStatus::Running { holder }) => holder,
            _ => "another process".into(),
        };
        outcomes[index] = Some(Outcome::InUse(holder));
    }
    display.overall.finish_and_clear();
    Ok(outcomes
        .into_iter()
        .map(|o| o.expect("every run has an outcome"))
        .collect())
}

/// How a run whose process exited with `exit` stands.
fn ended(root: &Path, exit: String) -> Outcome {
    match run_status(root) {
        Ok(RunStatus::Finished { .. }) => Outcome::Finished { trained: true },
        Ok(status) => Outcome::Failed(format!(
            "its process {exit}, leaving it {}; the end of {}:\n{}",
            status.word(),
            root.join(LOG).display(),
            log_tail(&root.join(LOG), 12)
        )),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// Each run's output, appended across attempts, inside its directory.
pub const LOG: &str = "sweep.log";

/// A run being trained by a child process.
struct Active {
    index: usize,
    name: String,
    root: PathBuf,
    child: Child,
    bar: ProgressBar,
}

impl Active {
    fn start(
        sweep: &Sweep,
        index: usize,
        options: &LocalOptions,
        display: &Display,
    ) -> Result<Active> {
        let root = sweep.run_dir(index);
        let name = sweep.manifest.runs[index].name.clone();
        let env_steps = RunDir::open(&root)?.load_config(&[])?.run.env_steps;
        let log_path = root.join(LOG);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io("opening the run's log", &log_path, e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| Error::io("opening the run's log", &log_path, e))?;
        let mut command = Command::new(&options.program);
        command
            .arg("sweep-task")
            .arg(&sweep.dir)
            .args(["--index", &index.to_string(), "--with-parent"])
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log_err);
        if std::env::var_os("RAYON_NUM_THREADS").is_none() {
            command.env("RAYON_NUM_THREADS", options.threads_per_run.to_string());
        }
        let child = command
            .spawn()
            .map_err(|e| Error::io("starting a run of the sweep", &options.program, e))?;
        let bar = display.bar(&name, env_steps, last_step(&root.join("metrics.jsonl")));
        Ok(Active {
            index,
            name,
            root,
            child,
            bar,
        })
    }
}

/// The sweep's progress: a bar of runs done, and one per run training.
struct Display {
    multi: MultiProgress,
    overall: ProgressBar,
}

impl Display {
    fn new(total: usize, done: usize) -> Display {
        let multi = MultiProgress::new();
        let overall = multi.add(ProgressBar::new(total as u64));
        overall.set_style(
            ProgressStyle::with_template(
                "sweep [{bar:30}] {pos}/{len} runs done  {elapsed_precise}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        overall.set_position(done as u64);
        Display { multi, overall }
    }

    fn bar(&self, name: &str, env_steps: u64, at: u64) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new(env_steps));
        bar.set_style(
            ProgressStyle::with_template(
                "  {prefix:<28} [{bar:30}] {pos}/{len} env steps  eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        bar.set_position(at);
        self.say(format!("started {name}"));
        bar
    }

    fn finished(&self, run: &Active, outcome: &Outcome) {
        run.bar.finish_and_clear();
        self.multi.remove(&run.bar);
        self.overall.inc(1);
        let last = crate::logging::read_curve(&run.root, "eval/return")
            .ok()
            .and_then(|c| c.points.last().copied())
            .map(|(step, value)| format!(", last eval/return {value:.1} at {step} env steps"))
            .unwrap_or_default();
        match outcome {
            Outcome::Finished { .. } => self.say(format!("finished {}{last}", run.name)),
            other => self.say(format!("{} did not finish: {other:?}", run.name)),
        }
    }

    /// A line above the bars (or alone, when they are hidden).
    fn say(&self, line: String) {
        match self.multi.is_hidden() {
            true => println!("{line}"),
            false => self.multi.suspend(|| println!("{line}")),
        }
    }
}

/// The `step` of the last complete row of a `metrics.jsonl` (0 when there
/// is none yet).
pub fn last_step(metrics: &Path) -> u64 {
    let Ok(mut file) = File::open(metrics) else {
        return 0;
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let mut tail = Vec::new();
    if file
        .seek(SeekFrom::Start(len.saturating_sub(8192)))
        .is_err()
        || file.read_to_end(&mut tail).is_err()
    {
        return 0;
    }
    let text = String::from_utf8_lossy(&tail);
    text.lines()
        .rev()
        .skip(usize::from(!text.ends_with('\n')))
        .find_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .and_then(|row| row.get("step").and_then(serde_json::Value::as_u64))
        .unwrap_or(0)
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// In a run started by a local sweep: stop this process when the sweep's
/// end of standard input closes (the sweep process has ended, however).
/// Stopping mid-checkpoint is as safe as a kill: a checkpoint becomes
/// visible only once complete.
pub fn exit_with_parent() {
    std::thread::spawn(|| {
        let mut stdin = std::io::stdin();
        let mut buffer = [0u8; 64];
        while let Ok(n) = stdin.read(&mut buffer) {
            if n == 0 {
                break;
            }
        }
        eprintln!(
            "the sweep that started this run has ended: stopping here (the sweep resumes it)"
        );
        std::process::exit(143);
    });
}

//! Sample efficiency against a target score (`somnium report --target`):
//! for each run, the first logged value of the metric at or above the
//! target, the environment steps and the training wall time it took
//! (`perf/wall_minutes` in the same row), and per method and task how many
//! runs got there and the median steps among those that did.
//!
//! "Steps to threshold" is how a task that every method eventually solves
//! (CartPole's 475) still separates them; the wall time is what a user
//! waits for it on the hardware each run records.

use super::collect::RunScore;
use super::stats::median;
use crate::logging::read_curve;

/// Where one run first reached the target.
#[derive(Debug, Clone, PartialEq)]
pub struct Reached {
    /// The environment step of the first value at or above the target.
    pub step: f64,
    /// That value.
    pub value: f64,
    /// The run's training wall time at that row, in minutes, where logged.
    pub minutes: Option<f64>,
}

/// The first point of `run`'s curve at or above `target`, with the wall
/// time logged beside it.
pub fn first_reaching(run: &RunScore, target: f64) -> Option<Reached> {
    let &(step, value) = run.curve.points.iter().find(|p| p.1 >= target)?;
    let minutes = read_curve(&run.run, "perf/wall_minutes")
        .ok()
        .and_then(|c| c.points.iter().find(|p| p.0 == step).map(|p| p.1));
    Some(Reached {
        step,
        value,
        minutes,
    })
}

/// The Markdown section: one row per run, then one summary row per method
/// and task.
pub fn target_tables(
    scores: &[RunScore],
    methods: &[String],
    tasks: &[String],
    metric: &str,
    target: f64,
) -> String {
    let mut runs_md = format!(
        "First `{metric}` ≥ {target} per run (training wall time from `perf/wall_minutes`):\n\n\
         | method | task | run | first ≥ {target} | at env steps | wall minutes | score |\n\
         |---|---|---|---:|---:|---:|---:|\n"
    );
    let mut summary_md = format!(
        "| method | task | runs reaching {target} | median env steps (min-max) of those | median wall minutes |\n\
         |---|---|---:|---|---:|\n"
    );
    for method in methods {
        for task in tasks {
            let runs: Vec<&RunScore> = scores
                .iter()
                .filter(|s| &s.method == method && &s.task == task)
                .collect();
            if runs.is_empty() {
                continue;
            }
            let reached: Vec<Option<Reached>> =
                runs.iter().map(|r| first_reaching(r, target)).collect();
            for (run, hit) in runs.iter().zip(&reached) {
                let name = run
                    .run
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let (value, step, minutes) = match hit {
                    Some(h) => (
                        format!("{:.1}", h.value),
                        format!("{:.0}", h.step),
                        h.minutes.map_or("not logged".into(), |m| format!("{m:.0}")),
                    ),
                    None => ("none".into(), "-".into(), "-".into()),
                };
                runs_md.push_str(&format!(
                    "| {method} | {task} | {name} | {value} | {step} | {minutes} | {:.1} |\n",
                    run.score
                ));
            }
            let hits: Vec<&Reached> = reached.iter().flatten().collect();
            let steps: Vec<f64> = hits.iter().map(|h| h.step).collect();
            let minutes: Vec<f64> = hits.iter().filter_map(|h| h.minutes).collect();
            let steps_md = match steps.is_empty() {
                true => "-".to_string(),
                false => format!(
                    "{:.0} ({:.0}-{:.0})",
                    median(&steps),
                    steps.iter().cloned().fold(f64::INFINITY, f64::min),
                    steps.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                ),
            };
            let minutes_md = match minutes.is_empty() {
                true => "-".to_string(),
                false => format!("{:.0}", median(&minutes)),
            };
            summary_md.push_str(&format!(
                "| {method} | {task} | {} of {} | {steps_md} | {minutes_md} |\n",
                hits.len(),
                runs.len()
            ));
        }
    }
    format!("{runs_md}\n{summary_md}\n")
}

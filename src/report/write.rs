//! Assembling a report: the tables in Markdown, the curves and the
//! performance profile as SVG files beside it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::collect::{RunScore, Scored, collect_runs, score_runs};
use super::stats::{Aggregate, Bootstrap, Estimate, mean, run_score_distribution, standard_error};
use super::target::target_tables;
use super::{ReportRequest, Suite};
use crate::logging::{Curve, write_chart};
use crate::train::provenance::{Provenance, utc_date};
use crate::{Error, Result};

/// A report as written.
#[derive(Debug, Clone)]
pub struct Report {
    /// The Markdown (also in `report.md` in the output folder).
    pub markdown: String,
    /// Every file written.
    pub files: Vec<PathBuf>,
}

/// Bootstrap replicates of each curve point's and profile point's band.
const BAND_REPS: usize = 2000;

/// Score the runs `request` names and write the report into its output
/// folder.
pub fn write_report(request: &ReportRequest) -> Result<Report> {
    let runs = collect_runs(&request.paths, &request.labels)?;
    let Scored { scores, waiting } = score_runs(&runs, &request.metric, request.last)?;
    let suite = request.suite.as_deref().map(Suite::load).transpose()?;
    let methods = in_order(scores.iter().map(|s| s.method.clone()));
    let tasks = in_order(scores.iter().map(|s| s.task.clone()));
    let boot = Bootstrap {
        reps: request.reps,
        confidence: 0.95,
        seed: request.seed,
    };
    std::fs::create_dir_all(&request.output)
        .map_err(|e| Error::io("creating the report folder", &request.output, e))?;
    let mut md = format!(
        "Each run's score: the mean of its last {} value(s) of `{}`. Intervals: 95% \
         stratified bootstrap ({} replicates, percentile method, as rliable).\n\n",
        request.last, request.metric, request.reps
    );
    let unfinished: Vec<String> = scores
        .iter()
        .filter(|s| !s.finished)
        .map(|s| format!("`{}`", s.run.display()))
        .collect();
    if !unfinished.is_empty() {
        md.push_str(&format!(
            "Not finished (scored as they stand): {}.\n\n",
            unfinished.join(", ")
        ));
    }
    if !waiting.is_empty() {
        let waiting: Vec<String> = waiting
            .iter()
            .map(|run| format!("`{}`", run.display()))
            .collect();
        md.push_str(&format!(
            "Not yet scored (no value of `{}` yet): {}.\n\n",
            request.metric,
            waiting.join(", ")
        ));
    }
    md.push_str(&provenance_table(&scores, &methods));
    md.push_str(&per_task_table(&scores, &methods, &tasks, suite.as_ref()));
    md.push_str(&aggregate_table(&scores, &methods, suite.as_ref(), &boot)?);
    if let Some(target) = request.target {
        md.push('\n');
        md.push_str(&target_tables(
            &scores,
            &methods,
            &tasks,
            &request.metric,
            target,
        ));
    }
    let mut files = Vec::new();
    md.push('\n');
    for task in &tasks {
        let curves: Vec<Curve> = methods
            .iter()
            .filter_map(|m| mean_curve(&scores, m, task, request.seed))
            .collect();
        let name = format!("{}-{}.svg", file_safe(task), file_safe(&request.metric));
        let path = request.output.join(&name);
        let title = format!("{task}: {} (mean over seeds, 95% CI)", request.metric);
        write_chart(
            &curves,
            ("environment steps", &request.metric),
            &title,
            &path,
        )?;
        md.push_str(&format!("![{task}]({name})\n"));
        files.push(path);
    }
    if let Some(suite) = &suite {
        let path = request.output.join("performance-profile.svg");
        let curves = profiles(&scores, &methods, suite, request.seed);
        write_chart(
            &curves,
            ("normalised score τ", "fraction of runs with score > τ"),
            "Performance profiles (95% CI)",
            &path,
        )?;
        md.push_str("![performance profiles](performance-profile.svg)\n");
        files.push(path);
    }
    let path = request.output.join("report.md");
    std::fs::write(&path, &md).map_err(|e| Error::io("writing the report", &path, e))?;
    files.push(path);
    Ok(Report {
        markdown: md,
        files,
    })
}

fn in_order(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

fn of<'a>(scores: &'a [RunScore], method: &str, task: &str) -> Vec<&'a RunScore> {
    scores
        .iter()
        .filter(|s| s.method == method && s.task == task)
        .collect()
}

/// Per method: the command, the commits, the dates and the hardware its
/// runs were trained with (from their `provenance.jsonl`).
fn provenance_table(scores: &[RunScore], methods: &[String]) -> String {
    let mut md = String::from(
        "| method | runs | command | commit | dates | hardware |\n|---|---:|---|---|---|---|\n",
    );
    for method in methods {
        let runs: Vec<&RunScore> = scores.iter().filter(|s| &s.method == method).collect();
        let records: Vec<&Provenance> = runs.iter().flat_map(|r| &r.provenance).collect();
        let distinct = |values: Vec<String>| match in_order(values.into_iter()) {
            v if v.is_empty() => "not recorded".to_string(),
            v => v.join("; "),
        };
        let commands = distinct(runs.iter().map(|r| format!("`{}`", r.command)).collect());
        let commits = distinct(records.iter().map(|p| p.commit.clone()).collect());
        let hardware = distinct(
            records
                .iter()
                .map(|p| format!("{} ({})", p.cpu, p.device))
                .collect(),
        );
        let first = records.iter().map(|p| p.started).min();
        let last = records.iter().map(|p| p.started).max();
        let dates = match (first, last) {
            (Some(a), Some(b)) if utc_date(a) == utc_date(b) => utc_date(a),
            (Some(a), Some(b)) => format!("{} to {}", utc_date(a), utc_date(b)),
            _ => "not recorded".into(),
        };
        md.push_str(&format!(
            "| {method} | {} | {commands} | {commits} | {dates} | {hardware} |\n",
            runs.len()
        ));
    }
    md.push('\n');
    md
}

fn per_task_table(
    scores: &[RunScore],
    methods: &[String],
    tasks: &[String],
    suite: Option<&Suite>,
) -> String {
    let mut md = String::from("| method | task | runs | mean ± s.e. | min | max |");
    md.push_str(if suite.is_some() {
        " normalised mean ± s.e. |\n"
    } else {
        "\n"
    });
    md.push_str(if suite.is_some() {
        "|---|---|---:|---:|---:|---:|---:|\n"
    } else {
        "|---|---|---:|---:|---:|---:|\n"
    });
    for method in methods {
        for task in tasks {
            let runs = of(scores, method, task);
            if runs.is_empty() {
                continue;
            }
            let values: Vec<f64> = runs.iter().map(|s| s.score).collect();
            let (min, max) = values
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            md.push_str(&format!(
                "| {method} | {task} | {} | {:.1} ± {:.1} | {min:.1} | {max:.1} |",
                values.len(),
                mean(&values),
                standard_error(&values)
            ));
            if let Some(suite) = suite {
                let normalised: Option<Vec<f64>> =
                    values.iter().map(|&v| suite.normalise(task, v)).collect();
                md.push_str(&match normalised {
                    Some(n) => format!(" {:.3} ± {:.3} |", mean(&n), standard_error(&n)),
                    None => " not in the suite |".into(),
                });
            }
            md.push('\n');
        }
    }
    md
}

/// Across tasks, per method: normalised with a suite, else only for a
/// method with a single task (raw scores of different tasks do not mix).
fn aggregate_table(
    scores: &[RunScore],
    methods: &[String],
    suite: Option<&Suite>,
    boot: &Bootstrap,
) -> Result<String> {
    let mut md = String::from(
        "\n| method | tasks | runs | mean | median | IQM | optimality gap |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut rows = 0;
    for method in methods {
        let by_task = method_scores(scores, method, suite);
        if by_task.is_empty() || (suite.is_none() && by_task.len() > 1) {
            continue;
        }
        let matrix: Vec<Vec<f64>> = by_task.into_values().collect();
        let runs: usize = matrix.iter().map(Vec::len).sum();
        let cell = |e: Estimate| match suite.is_some() {
            true => format!("{:.3} [{:.3}, {:.3}]", e.point, e.lower, e.upper),
            false => format!("{:.1} [{:.1}, {:.1}]", e.point, e.lower, e.upper),
        };
        let mut cells = Vec::new();
        for aggregate in Aggregate::all(1.0) {
            cells.push(match (aggregate, suite) {
                (Aggregate::OptimalityGap { .. }, None) => "-".to_string(),
                _ => cell(boot.aggregate(&matrix, aggregate)),
            });
        }
        md.push_str(&format!(
            "| {method} | {} | {runs} | {} |\n",
            matrix.len(),
            cells.join(" | ")
        ));
        rows += 1;
    }
    Ok(if rows == 0 { String::new() } else { md })
}

/// A method's scores by task, normalised by `suite` if given (tasks the
/// suite lacks are left out).
fn method_scores(
    scores: &[RunScore],
    method: &str,
    suite: Option<&Suite>,
) -> BTreeMap<String, Vec<f64>> {
    let mut by_task: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for s in scores.iter().filter(|s| s.method == method) {
        let value = match suite {
            Some(suite) => match suite.normalise(&s.task, s.score) {
                Some(v) => v,
                None => continue,
            },
            None => s.score,
        };
        by_task.entry(s.task.clone()).or_default().push(value);
    }
    by_task
}

/// Each method's mean curve of `metric` over its runs, per task, with a
/// 95% bootstrap band (what `somnium plot` draws for sweep directories):
/// runs found and grouped as the report finds and groups them. A label
/// gets the task appended where the runs span several.
pub fn seed_curves(paths: &[PathBuf], labels: &[String], metric: &str) -> Result<Vec<Curve>> {
    let runs = collect_runs(paths, labels)?;
    let scores = score_runs(&runs, metric, 1)?.scores;
    let methods = in_order(scores.iter().map(|s| s.method.clone()));
    let tasks = in_order(scores.iter().map(|s| s.task.clone()));
    let mut curves = Vec::new();
    for task in &tasks {
        for method in &methods {
            if let Some(mut curve) = mean_curve(&scores, method, task, 0) {
                if tasks.len() > 1 {
                    curve.label = format!("{} on {task}", curve.label);
                }
                curves.push(curve);
            }
        }
    }
    Ok(curves)
}

/// The mean over a method's runs of a task at the steps all of them
/// logged, with a bootstrap band of that mean.
fn mean_curve(scores: &[RunScore], method: &str, task: &str, seed: u64) -> Option<Curve> {
    let runs = of(scores, method, task);
    let first = runs.first()?;
    let boot = Bootstrap {
        reps: BAND_REPS,
        confidence: 0.95,
        seed,
    };
    let (mut points, mut band) = (Vec::new(), Vec::new());
    for &(step, _) in &first.curve.points {
        let at: Option<Vec<f64>> = runs
            .iter()
            .map(|r| r.curve.points.iter().find(|p| p.0 == step).map(|p| p.1))
            .collect();
        if let Some(values) = at {
            let e = boot.aggregate(&[values], Aggregate::Mean);
            points.push((step, e.point));
            band.push((step, e.lower, e.upper));
        }
    }
    Some(Curve {
        label: format!("{method} ({} runs)", runs.len()),
        points,
        band,
    })
}

/// Each method's run-score distribution over a grid of thresholds, with
/// its bootstrap band.
fn profiles(scores: &[RunScore], methods: &[String], suite: &Suite, seed: u64) -> Vec<Curve> {
    let all: Vec<Vec<Vec<f64>>> = methods
        .iter()
        .map(|m| {
            method_scores(scores, m, Some(suite))
                .into_values()
                .collect()
        })
        .collect();
    let top = all
        .iter()
        .flatten()
        .flatten()
        .fold(1.0f64, |a, &b| a.max(b));
    let taus: Vec<f64> = (0..=80).map(|i| top * i as f64 / 80.0).collect();
    let boot = Bootstrap {
        reps: BAND_REPS,
        confidence: 0.95,
        seed,
    };
    methods
        .iter()
        .zip(all)
        .filter(|(_, matrix)| !matrix.is_empty())
        .map(|(method, matrix)| {
            let estimates = boot.intervals(&matrix, |s| run_score_distribution(s, &taus));
            Curve {
                label: method.clone(),
                points: taus
                    .iter()
                    .zip(&estimates)
                    .map(|(&t, e)| (t, e.point))
                    .collect(),
                band: taus
                    .iter()
                    .zip(&estimates)
                    .map(|(&t, e)| (t, e.lower, e.upper))
                    .collect(),
            }
        })
        .collect()
}

fn file_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

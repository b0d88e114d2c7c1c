//! A report over hand-made run directories: two methods on two Atari
//! games, normalised by the suite's random and human scores, with values
//! worked out by hand.

use std::path::Path;

use super::{ReportRequest, write_report};
use crate::config::{ExperimentConfig, save_resolved};

/// A run directory named `name` on `env` whose evaluations are `returns`
/// at 1000, 2000, ... steps.
fn fake_run(root: &Path, name: &str, env: &str, returns: &[f64]) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = ExperimentConfig::default();
    config.env.id = env.to_string();
    save_resolved(&config, &dir.join("config.toml")).unwrap();
    let rows: String = returns
        .iter()
        .enumerate()
        .map(|(i, r)| format!("{{\"step\":{},\"eval/return\":{r}}}\n", (i + 1) * 1000))
        .collect();
    std::fs::write(dir.join("metrics.jsonl"), rows).unwrap();
}

/// A report of the runs under `runs`, scored by `metric`, written to `output`.
fn request(runs: std::path::PathBuf, metric: &str, output: std::path::PathBuf) -> ReportRequest {
    ReportRequest {
        paths: vec![runs],
        labels: Vec::new(),
        metric: metric.into(),
        last: 1,
        suite: None,
        output,
        reps: 500,
        seed: 0,
        target: None,
    }
}

#[test]
fn a_suite_report_normalises_scores_and_aggregates_them_by_method() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    // Pong: random -20.7, human 14.6, so -3.05 normalises to 0.5 and 14.6
    // to 1. Breakout: random 1.7, human 30.5, so 16.1 is 0.5.
    let pong = "gym:ALE/Pong-v5?atari";
    let breakout = "gym:ALE/Breakout-v5?atari";
    fake_run(&runs, "good-1765000000", pong, &[-20.0, -3.05]);
    fake_run(&runs, "good-1765000001", pong, &[-20.0, -3.05]);
    fake_run(&runs, "good-1765000002", breakout, &[0.0, 16.1]);
    fake_run(&runs, "good-1765000003", breakout, &[0.0, 16.1]);
    fake_run(&runs, "best-1765000004", pong, &[0.0, 14.6]);
    let output = tmp.path().join("report");
    let report = write_report(&ReportRequest {
        suite: Some("atari100k".into()),
        ..request(runs, "eval/return", output.clone())
    })
    .unwrap();
    let md = &report.markdown;
    assert!(
        md.contains(&format!(
            "| good | {pong} | 2 | -3.0 ± 0.0 | -3.0 | -3.0 | 0.500 ± 0.000 |"
        )),
        "{md}"
    );
    assert!(
        md.contains(&format!(
            "| best | {pong} | 1 | 14.6 ± 0.0 | 14.6 | 14.6 | 1.000 ± 0.000 |"
        )),
        "{md}"
    );
    // Every score of `good` is 0.5: each aggregate is 0.5 with a point
    // interval, and the optimality gap 1 - 0.5.
    assert!(
        md.contains("| good | 2 | 4 | 0.500 [0.500, 0.500] | 0.500 [0.500, 0.500] | 0.500 [0.500, 0.500] | 0.500 [0.500, 0.500] |"),
        "{md}"
    );
    assert!(md.contains("| best | 1 | 1 | 1.000 [1.000, 1.000]"), "{md}");
    assert!(
        md.contains("Not finished"),
        "runs without checkpoints are flagged: {md}"
    );
    assert!(
        md.contains("| good | 4 | `-` | not recorded | not recorded | not recorded |"),
        "runs without provenance say so: {md}"
    );
    for file in ["performance-profile.svg", "report.md"] {
        assert!(output.join(file).is_file(), "{file}");
    }
    assert_eq!(
        report.files.len(),
        4,
        "two curves, the profile and the Markdown"
    );
}

#[test]
fn a_target_reports_where_each_run_first_reached_it_and_how_long_it_took() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    // Evaluations at 1000, 2000, 3000, 4000 steps, 10 wall minutes apart.
    let with_minutes = |name: &str, returns: &[f64]| {
        fake_run(&runs, name, "CartPole-v1", returns);
        let rows: String = returns
            .iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "{{\"step\":{},\"eval/return\":{r},\"perf/wall_minutes\":{}}}\n",
                    (i + 1) * 1000,
                    (i + 1) * 10
                )
            })
            .collect();
        std::fs::write(runs.join(name).join("metrics.jsonl"), rows).unwrap();
    };
    with_minutes("dreamer-cartpole-1765000000", &[20.0, 480.0, 500.0, 300.0]);
    with_minutes("dreamer-cartpole-1765000001", &[20.0, 100.0, 200.0, 475.0]);
    with_minutes("dreamer-cartpole-1765000002", &[20.0, 100.0, 474.9, 400.0]);
    // A run logged before wall minutes existed.
    fake_run(
        &runs,
        "dreamer-cartpole-1765000003",
        "CartPole-v1",
        &[500.0],
    );
    // A sweep's run not yet started: a config and nothing logged.
    fake_run(&runs, "dreamer-cartpole-1765000004", "CartPole-v1", &[]);
    std::fs::remove_file(runs.join("dreamer-cartpole-1765000004/metrics.jsonl")).unwrap();
    let report = write_report(&ReportRequest {
        last: 2,
        target: Some(475.0),
        ..request(runs, "eval/return", tmp.path().join("report"))
    })
    .unwrap();
    let md = &report.markdown;
    for row in [
        "| dreamer-cartpole | CartPole-v1 | dreamer-cartpole-1765000000 | 480.0 | 2000 | 20 | 400.0 |",
        "| dreamer-cartpole | CartPole-v1 | dreamer-cartpole-1765000001 | 475.0 | 4000 | 40 | 337.5 |",
        "| dreamer-cartpole | CartPole-v1 | dreamer-cartpole-1765000002 | none | - | - | 437.4 |",
        "| dreamer-cartpole | CartPole-v1 | dreamer-cartpole-1765000003 | 500.0 | 1000 | not logged | 500.0 |",
        // Three of four reached it, at 1000, 2000 and 4000 steps; the two
        // with wall times took 20 and 40 minutes.
        "| dreamer-cartpole | CartPole-v1 | 3 of 4 | 2000 (1000-4000) | 30 |",
    ] {
        assert!(md.contains(row), "missing {row} in\n{md}");
    }
    assert!(
        md.contains("Not yet scored (no value of `eval/return` yet): `")
            && md.contains("dreamer-cartpole-1765000004`."),
        "{md}"
    );
}

#[test]
fn a_report_with_no_scored_run_names_the_metrics_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    fake_run(&runs, "dreamer-cartpole-1765000000", "CartPole-v1", &[20.0]);
    let err = write_report(&request(runs, "eval/retrun", tmp.path().join("report")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no values of `eval/retrun`") && err.contains("eval/return"),
        "{err}"
    );
}

//! The report's statistics against the `rliable` package (Agarwal et
//! al. 2021) on the score matrices `scripts/record_rliable.py` recorded in
//! `tests/data/rliable.json`: point estimates and run-score distributions
//! exactly; bootstrap intervals, drawn from another generator, within a
//! tenth of the bootstrap distribution's standard deviation (rliable's own
//! intervals moved by up to a twentieth of it between two seeds), and the
//! profiles' intervals within one step of their grid of attainable values.

use super::{Aggregate, Bootstrap, run_score_distribution};
use serde_json::Value;

fn recorded() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rliable.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

/// The recorded runs x tasks matrix as scores by task.
fn by_task(case: &Value) -> Vec<Vec<f64>> {
    let rows: Vec<Vec<f64>> = case["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    let tasks = rows[0].len();
    (0..tasks)
        .map(|t| rows.iter().map(|r| r[t]).collect())
        .collect()
}

fn aggregate(name: &str) -> Aggregate {
    match name {
        "mean" => Aggregate::Mean,
        "median" => Aggregate::Median,
        "iqm" => Aggregate::Iqm,
        "optimality_gap" => Aggregate::OptimalityGap { gamma: 1.0 },
        other => panic!("unknown aggregate {other}"),
    }
}

#[test]
fn point_estimates_match_rliable() {
    let data = recorded();
    for case in data["cases"].as_array().unwrap() {
        let scores = by_task(case);
        for (name, expected) in case["point"].as_object().unwrap() {
            let got = aggregate(name).of(&scores);
            let expected = expected.as_f64().unwrap();
            assert!(
                (got - expected).abs() < 1e-12,
                "{} {name}: {got} vs rliable {expected}",
                case["name"]
            );
        }
    }
}

#[test]
fn bootstrap_intervals_match_rliable_within_monte_carlo_error() {
    let data = recorded();
    let reps = data["settings"]["reps"].as_u64().unwrap() as usize;
    for case in data["cases"].as_array().unwrap() {
        let scores = by_task(case);
        let boot = Bootstrap {
            reps,
            confidence: 0.95,
            seed: 20211,
        };
        for (name, recorded) in case["interval"].as_object().unwrap() {
            let estimate = boot.aggregate(&scores, aggregate(name));
            let tolerance = 0.1 * recorded["bootstrap_sd"].as_f64().unwrap();
            for (got, end) in [(estimate.lower, "lower"), (estimate.upper, "upper")] {
                let expected = recorded[end].as_f64().unwrap();
                assert!(
                    (got - expected).abs() <= tolerance,
                    "{} {name} {end}: {got} vs rliable {expected} (tolerance {tolerance})",
                    case["name"]
                );
            }
        }
    }
}

#[test]
fn performance_profiles_match_rliable() {
    let data = recorded();
    let reps = data["settings"]["profile_reps"].as_u64().unwrap() as usize;
    for case in data["cases"].as_array().unwrap() {
        let scores = by_task(case);
        let profile = &case["profile"];
        let taus = floats(&profile["tau"]);
        let got = run_score_distribution(&scores, &taus);
        let expected = floats(&profile["run_score_distribution"]);
        for ((g, e), tau) in got.iter().zip(&expected).zip(&taus) {
            assert!(
                (g - e).abs() < 1e-12,
                "{} at tau {tau}: {g} vs {e}",
                case["name"]
            );
        }
        // Attainable fractions are multiples of 1 / (runs x tasks).
        let step = 1.0 / scores.iter().map(Vec::len).sum::<usize>() as f64;
        let boot = Bootstrap {
            reps,
            confidence: 0.95,
            seed: 20211,
        };
        let intervals = boot.intervals(&scores, |s| run_score_distribution(s, &taus));
        let ci = &profile["run_score_distribution_ci"];
        let (lower, upper) = (floats(&ci["lower"]), floats(&ci["upper"]));
        for (i, tau) in taus.iter().enumerate() {
            for (got, expected) in [
                (intervals[i].lower, lower[i]),
                (intervals[i].upper, upper[i]),
            ] {
                assert!(
                    (got - expected).abs() <= step + 1e-9,
                    "{} profile interval at tau {tau}: {got} vs rliable {expected}",
                    case["name"]
                );
            }
        }
    }
}

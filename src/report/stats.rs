//! The statistics of Agarwal et al. 2021 ("Deep RL at the Edge of the
//! Statistical Precipice"), as the `rliable` package computes them: the
//! mean, median and interquartile mean (IQM) of scores across tasks, the
//! optimality gap, run-score distributions (performance profiles), and
//! their stratified-bootstrap percentile confidence intervals.
//!
//! Scores are per task, one per run (seed). rliable takes a runs x tasks
//! matrix; here a task may have its own number of runs, and each task's
//! runs are resampled among themselves (the tasks are the strata), which
//! on a full matrix is exactly rliable's bootstrap. The bootstrap draws
//! from this crate's seeded generator, not numpy's, so intervals agree
//! with rliable's within Monte Carlo error (`rliable_tests.rs`), point
//! estimates exactly.

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

/// Scores by task: `tasks[t]` holds task t's score of each run.
pub type Scores = [Vec<f64>];

/// An aggregate of scores across tasks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregate {
    /// The mean over tasks of each task's mean over runs.
    Mean,
    /// The median over tasks of each task's mean over runs.
    Median,
    /// The mean of the middle half of all scores (runs x tasks pooled,
    /// `floor(n / 4)` cut from each end), as `scipy.stats.trim_mean`.
    Iqm,
    /// How far scores fall short of `gamma` on average: gamma - mean(min(score, gamma)).
    OptimalityGap {
        /// The score counted as good enough (1 for human-normalised scores).
        gamma: f64,
    },
}

impl Aggregate {
    /// The four aggregates rliable reports, the optimality gap at `gamma`.
    pub fn all(gamma: f64) -> [Aggregate; 4] {
        [
            Aggregate::Mean,
            Aggregate::Median,
            Aggregate::Iqm,
            Aggregate::OptimalityGap { gamma },
        ]
    }

    /// Its name in tables.
    pub fn name(&self) -> &'static str {
        match self {
            Aggregate::Mean => "mean",
            Aggregate::Median => "median",
            Aggregate::Iqm => "IQM",
            Aggregate::OptimalityGap { .. } => "optimality gap",
        }
    }

    /// Its value on `scores` (every task with at least one run).
    pub fn of(&self, scores: &Scores) -> f64 {
        match *self {
            Aggregate::Mean => mean(&task_means(scores)),
            Aggregate::Median => median(&task_means(scores)),
            Aggregate::Iqm => iqm(&pooled(scores)),
            Aggregate::OptimalityGap { gamma } => {
                let all = pooled(scores);
                gamma - mean(&all.iter().map(|&s| s.min(gamma)).collect::<Vec<_>>())
            }
        }
    }
}

/// The arithmetic mean (NaN when empty).
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// The standard error of the mean: sample standard deviation (n - 1) over
/// sqrt(n); 0 for a single value.
pub fn standard_error(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    if values.len() < 2 {
        return 0.0;
    }
    let m = mean(values);
    let var = values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
    (var / n).sqrt()
}

/// The median (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let sorted = sorted(values);
    let n = sorted.len();
    match n % 2 {
        1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The 25% trimmed mean: `floor(n / 4)` values cut from each end.
pub fn iqm(values: &[f64]) -> f64 {
    let sorted = sorted(values);
    let cut = sorted.len() / 4;
    mean(&sorted[cut..sorted.len() - cut])
}

/// The fraction of all scores strictly above each threshold (rliable's
/// run-score distribution, the performance profile).
pub fn run_score_distribution(scores: &Scores, taus: &[f64]) -> Vec<f64> {
    let all = pooled(scores);
    taus.iter()
        .map(|&tau| all.iter().filter(|&&s| s > tau).count() as f64 / all.len() as f64)
        .collect()
}

/// The `q`-quantile (0..=1) by linear interpolation between the sorted
/// values (numpy's default `percentile`).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let frac = position - low as f64;
    sorted[low] + (sorted[high] - sorted[low]) * frac
}

/// A statistic with its bootstrap confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The statistic on the scores themselves.
    pub point: f64,
    /// The interval's lower end.
    pub lower: f64,
    /// The interval's upper end.
    pub upper: f64,
}

/// The stratified bootstrap: each replicate resamples every task's runs
/// with replacement, `reps` replicates from `seed`.
#[derive(Debug, Clone, Copy)]
pub struct Bootstrap {
    /// Replicates (rliable: 50,000 for aggregates, 2,000 for profiles).
    pub reps: usize,
    /// Confidence, e.g. 0.95.
    pub confidence: f64,
    /// The generator's seed, so a report is the same each time.
    pub seed: u64,
}

impl Bootstrap {
    /// Percentile intervals of `statistic` (a vector of values per
    /// resample, e.g. one per threshold) on `scores`.
    pub fn intervals(
        &self,
        scores: &Scores,
        statistic: impl Fn(&Scores) -> Vec<f64>,
    ) -> Vec<Estimate> {
        let point = statistic(scores);
        let mut rng = Pcg64::seed_from_u64(self.seed);
        let mut replicates: Vec<Vec<f64>> = vec![Vec::with_capacity(self.reps); point.len()];
        let mut sample: Vec<Vec<f64>> = scores.iter().map(|t| vec![0.0; t.len()]).collect();
        for _ in 0..self.reps {
            for (task, resampled) in scores.iter().zip(sample.iter_mut()) {
                for slot in resampled.iter_mut() {
                    *slot = task[rng.random_range(0..task.len())];
                }
            }
            for (values, value) in replicates.iter_mut().zip(statistic(&sample)) {
                values.push(value);
            }
        }
        let tail = (1.0 - self.confidence) / 2.0;
        point
            .into_iter()
            .zip(replicates)
            .map(|(point, values)| {
                let values = sorted(&values);
                Estimate {
                    point,
                    lower: quantile(&values, tail),
                    upper: quantile(&values, 1.0 - tail),
                }
            })
            .collect()
    }

    /// `aggregate` on `scores` with its interval.
    pub fn aggregate(&self, scores: &Scores, aggregate: Aggregate) -> Estimate {
        self.intervals(scores, |s| vec![aggregate.of(s)])[0]
    }
}

fn task_means(scores: &Scores) -> Vec<f64> {
    scores.iter().map(|task| mean(task)).collect()
}

fn pooled(scores: &Scores) -> Vec<f64> {
    scores.iter().flatten().copied().collect()
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

#[cfg(test)]
#[path = "rliable_tests.rs"]
mod rliable_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_values() {
        // 9 values: floor(9 / 4) = 2 cut from each end, 5 kept.
        let values = [9.0, 1.0, 5.0, 3.0, 7.0, 2.0, 8.0, 4.0, 6.0];
        assert_eq!(iqm(&values), 5.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(quantile(&[0.0, 10.0, 20.0], 0.25), 5.0);
        // sd of [1, 2, 3] is 1; over sqrt(3).
        assert!((standard_error(&[1.0, 2.0, 3.0]) - 1.0 / 3f64.sqrt()).abs() < 1e-12);
        let scores = vec![vec![0.5, 1.5], vec![0.0, 2.0, 1.0]];
        assert_eq!(Aggregate::Mean.of(&scores), 1.0);
        // min(s, 1): 0.5, 1, 0, 1, 1 -> mean 0.7.
        let gap = Aggregate::OptimalityGap { gamma: 1.0 }.of(&scores);
        assert!((gap - 0.3).abs() < 1e-12);
        assert_eq!(run_score_distribution(&scores, &[1.0, -1.0]), [0.4, 1.0]);
    }

    #[test]
    fn one_run_per_task_has_a_point_interval_for_its_mean() {
        let scores = vec![vec![2.0], vec![4.0]];
        let boot = Bootstrap {
            reps: 100,
            confidence: 0.95,
            seed: 1,
        };
        let estimate = boot.aggregate(&scores, Aggregate::Mean);
        assert_eq!(
            (estimate.point, estimate.lower, estimate.upper),
            (3.0, 3.0, 3.0)
        );
    }
}

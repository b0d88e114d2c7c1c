//! A terminal progress bar: environment steps, updates per second, the
//! latest episode return and evaluation, the best evaluation so far, and
//! the time left at the pace since the bar started;
//! each evaluation also leaves a line above the bar, so the terminal keeps
//! the curve a user is watching for.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::{MetricsSink, Scalar};
use crate::Result;

/// Shows training progress on the terminal.
pub struct ProgressSink {
    bar: ProgressBar,
    total: u64,
    /// The first step reported and when, for the pace behind the ETA.
    first_step: Option<(u64, Instant)>,
    first_updates: Option<(f64, Instant)>,
    last_return: Option<f64>,
    last_eval: Option<f64>,
    /// The best evaluation return and the step it came at.
    best_eval: Option<(f64, u64)>,
}

impl ProgressSink {
    /// A bar counting up to `total` environment steps, starting at `start`.
    pub fn new(total: u64, start: u64) -> Self {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} env steps  {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_position(start);
        ProgressSink {
            bar,
            total,
            first_step: None,
            first_updates: None,
            last_return: None,
            last_eval: None,
            best_eval: None,
        }
    }
}

/// The time left for `remaining` steps at the pace of `done` steps in
/// `elapsed` seconds, as `ETA 1h 02m` (or `ETA 4m 05s` under an hour);
/// nothing until some steps are done.
fn eta(remaining: u64, done: u64, elapsed: f64) -> Option<String> {
    if done == 0 || elapsed <= 0.0 {
        return None;
    }
    let seconds = (remaining as f64 * elapsed / done as f64).round() as u64;
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    Some(match h {
        0 => format!("ETA {m}m {s:02}s"),
        h => format!("ETA {h}h {m:02}m"),
    })
}

fn find(values: &[Scalar], name: &str) -> Option<f64> {
    values.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}

impl MetricsSink for ProgressSink {
    fn scalars(&mut self, step: u64, values: &[Scalar]) -> Result<()> {
        self.bar.set_position(step);
        if let Some(r) = find(values, "episode/return") {
            self.last_return = Some(r);
        }
        if let Some(r) = find(values, "eval/return") {
            self.last_eval = Some(r);
            if self.best_eval.is_none_or(|(best, _)| r > best) {
                self.best_eval = Some((r, step));
            }
            self.bar
                .println(format!("{step:>9} env steps  evaluation return {r:.1}"));
        }
        let mut message = String::new();
        if let Some(updates) = find(values, "perf/updates") {
            let (u0, t0) = *self.first_updates.get_or_insert((updates, Instant::now()));
            let elapsed = t0.elapsed().as_secs_f64();
            if elapsed > 0.0 {
                message.push_str(&format!("{:.2} updates/s  ", (updates - u0) / elapsed));
            }
        }
        if let Some(r) = self.last_return {
            message.push_str(&format!("return {r:.1}  "));
        }
        if let Some(r) = self.last_eval {
            message.push_str(&format!("eval {r:.1}"));
        }
        if let Some((best, at)) = self.best_eval {
            message.push_str(&format!(" (best {best:.1} at {at})"));
        }
        let (step0, t0) = *self.first_step.get_or_insert((step, Instant::now()));
        let done = step.saturating_sub(step0);
        if let Some(eta) = eta(
            self.total.saturating_sub(step),
            done,
            t0.elapsed().as_secs_f64(),
        ) {
            message = format!("{eta}  {message}");
        }
        self.bar.set_message(message);
        Ok(())
    }
}

impl Drop for ProgressSink {
    fn drop(&mut self) {
        self.bar.abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eta_follows_the_pace_so_far() {
        assert_eq!(eta(1_000, 0, 10.0), None);
        // 100 steps in 10 s: 1,000 more take 100 s.
        assert_eq!(eta(1_000, 100, 10.0).as_deref(), Some("ETA 1m 40s"));
        assert_eq!(eta(45_000, 1_000, 100.0).as_deref(), Some("ETA 1h 15m"));
    }

    #[test]
    fn the_message_keeps_the_best_evaluation_and_its_step() {
        let mut sink = ProgressSink::new(6_000, 0);
        let eval = |r: f64| vec![("eval/return".to_string(), r)];
        sink.scalars(1_000, &[("episode/return".into(), 20.0)])
            .unwrap();
        assert_eq!(sink.bar.message(), "return 20.0  ");
        for (step, r) in [(3_000, 305.9), (4_000, 500.0), (5_000, 238.0)] {
            sink.scalars(step, &eval(r)).unwrap();
        }
        let message = sink.bar.message();
        assert!(
            message.starts_with("ETA ")
                && message.ends_with("  return 20.0  eval 238.0 (best 500.0 at 4000)"),
            "{message}"
        );
    }
}

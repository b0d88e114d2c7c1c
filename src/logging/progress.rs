//! A terminal progress bar: environment steps, updates per second and the
//! latest episode return.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::{MetricsSink, Scalar};
use crate::Result;

/// Shows training progress on the terminal.
pub struct ProgressSink {
    bar: ProgressBar,
    first_updates: Option<(f64, Instant)>,
    last_return: Option<f64>,
    last_eval: Option<f64>,
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
            first_updates: None,
            last_return: None,
            last_eval: None,
        }
    }
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
        self.bar.set_message(message);
        Ok(())
    }
}

impl Drop for ProgressSink {
    fn drop(&mut self) {
        self.bar.abandon();
    }
}

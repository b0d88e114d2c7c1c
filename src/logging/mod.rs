//! Where metrics go.
//!
//! Training code reports to one [`MetricsSink`]; a [`Logger`] fans out to
//! several: `metrics.jsonl` ([`JsonlSink`], one JSON object per logging
//! step, the record of truth that plots and tests read), TensorBoard event
//! files ([`TensorboardSink`], through `tensorboard-rs`, kept behind the
//! trait so it can be replaced), and a terminal progress bar
//! ([`ProgressSink`]). Metric names are grouped by prefix: `loss/`,
//! `episode/`, `eval/`, `perf/`, `model/`. [`read_curve`] and
//! [`write_svg`] turn runs' `metrics.jsonl` back into learning curves
//! (`somnium plot`).

mod jsonl;
mod plot;
mod progress;
mod tensorboard;

pub use jsonl::{Healed, JsonlSink, heal_for_resume, read_jsonl};
pub use plot::{Curve, markdown_table, read_curve, write_chart, write_svg};
pub use progress::ProgressSink;
pub use tensorboard::TensorboardSink;

use crate::Result;
use somnium_envs::Frame;

/// A named scalar metric.
pub type Scalar = (String, f64);

/// A destination for metrics.
pub trait MetricsSink {
    /// Record scalars at `step` (environment steps).
    fn scalars(&mut self, step: u64, values: &[Scalar]) -> Result<()>;
    /// Record an RGB image.
    fn image(&mut self, _step: u64, _tag: &str, _frame: &Frame) -> Result<()> {
        Ok(())
    }
    /// Record the distribution of `values`.
    fn histogram(&mut self, _step: u64, _tag: &str, _values: &[f32]) -> Result<()> {
        Ok(())
    }
    /// Make everything recorded so far durable.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Sends everything to each of its sinks.
#[derive(Default)]
pub struct Logger {
    sinks: Vec<Box<dyn MetricsSink>>,
}

impl Logger {
    /// A logger with no sinks.
    pub fn new() -> Self {
        Logger::default()
    }

    /// Add a sink.
    pub fn with(mut self, sink: impl MetricsSink + 'static) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }
}

impl MetricsSink for Logger {
    fn scalars(&mut self, step: u64, values: &[Scalar]) -> Result<()> {
        self.sinks
            .iter_mut()
            .try_for_each(|s| s.scalars(step, values))
    }
    fn image(&mut self, step: u64, tag: &str, frame: &Frame) -> Result<()> {
        self.sinks
            .iter_mut()
            .try_for_each(|s| s.image(step, tag, frame))
    }
    fn histogram(&mut self, step: u64, tag: &str, values: &[f32]) -> Result<()> {
        self.sinks
            .iter_mut()
            .try_for_each(|s| s.histogram(step, tag, values))
    }
    fn flush(&mut self) -> Result<()> {
        self.sinks.iter_mut().try_for_each(|s| s.flush())
    }
}

//! TensorBoard event files through `tensorboard-rs`.
//!
//! Its quirks are handled here and nowhere else: `add_image` wants
//! interleaved RGB bytes and reads its dimensions as `[3, width, height]`;
//! `add_histogram` is unimplemented, so histograms are bucketed here and
//! written raw.

use std::path::Path;

use tensorboard_rs::summary_writer::SummaryWriter;

use super::{MetricsSink, Scalar};
use crate::Result;
use somnium_envs::Frame;

/// Writes `events.out.tfevents.*` into a directory.
pub struct TensorboardSink {
    writer: SummaryWriter,
}

impl TensorboardSink {
    /// Write event files into `dir`.
    pub fn new(dir: &Path) -> Self {
        TensorboardSink {
            writer: SummaryWriter::new(dir),
        }
    }
}

/// Bucket `values` into `buckets` equal-width bins for a raw histogram:
/// returns (right edges, counts).
pub(crate) fn buckets(values: &[f32], buckets: usize) -> (Vec<f64>, Vec<f64>) {
    let min = values.iter().copied().fold(f32::INFINITY, f32::min) as f64;
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let width = ((max - min) / buckets as f64).max(1e-12);
    let limits: Vec<f64> = (1..=buckets).map(|i| min + width * i as f64).collect();
    let mut counts = vec![0.0; buckets];
    for &v in values {
        let i = (((v as f64 - min) / width) as usize).min(buckets - 1);
        counts[i] += 1.0;
    }
    (limits, counts)
}

impl MetricsSink for TensorboardSink {
    fn scalars(&mut self, step: u64, values: &[Scalar]) -> Result<()> {
        for (name, value) in values {
            self.writer.add_scalar(name, *value as f32, step as usize);
        }
        Ok(())
    }

    fn image(&mut self, step: u64, tag: &str, frame: &Frame) -> Result<()> {
        self.writer.add_image(
            tag,
            &frame.rgb,
            &[3, frame.width, frame.height],
            step as usize,
        );
        Ok(())
    }

    fn histogram(&mut self, step: u64, tag: &str, values: &[f32]) -> Result<()> {
        let finite: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            return Ok(());
        }
        let (limits, counts) = buckets(&finite, 30);
        let sum: f64 = finite.iter().map(|&v| v as f64).sum();
        let sum_squares: f64 = finite.iter().map(|&v| (v as f64).powi(2)).sum();
        let min = finite.iter().copied().fold(f32::INFINITY, f32::min) as f64;
        let max = finite.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        self.writer.add_histogram_raw(
            tag,
            min,
            max,
            finite.len() as f64,
            sum,
            sum_squares,
            &limits,
            &counts,
            step as usize,
        );
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.writer.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_count_every_value() {
        let (limits, counts) = buckets(&[0.0, 0.1, 0.5, 0.9, 1.0], 2);
        assert_eq!(limits, vec![0.5, 1.0]);
        assert_eq!(counts, vec![2.0, 3.0]);
    }

    #[test]
    fn writes_an_event_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = TensorboardSink::new(dir.path());
        sink.scalars(1, &[("loss/x".into(), 1.5)]).unwrap();
        sink.flush().unwrap();
        drop(sink); // the writer thread finishes the file when dropped
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            files.iter().any(|f| f.starts_with("events.out.tfevents")),
            "{files:?}"
        );
    }
}

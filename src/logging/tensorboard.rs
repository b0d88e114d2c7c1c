//! TensorBoard event files.
//!
//! `tensorboard-rs` builds the summaries (scalar, PNG image, raw
//! histogram) and frames records (length, masked CRC-32C, payload); the
//! event file itself is written here, on the calling thread, because
//! `tensorboard-rs`' `SummaryWriter` writes from a thread of its own that
//! panics on any I/O error (a full disk aborted the whole process). Here
//! every write and flush returns an [`Error::Io`] naming the file, so a
//! failing disk stops the run like any other sink's error.
//!
//! Its quirks are handled here and nowhere else: the image summary wants
//! interleaved RGB bytes and reads its dimensions as `[3, width, height]`;
//! histograms are bucketed here and written raw.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use protobuf::Message;
use tensorboard_proto::event::{Event, SessionLog, SessionLog_SessionStatus};
use tensorboard_proto::summary::Summary;
use tensorboard_rs::record_writer::RecordWriter;
use tensorboard_rs::summary::{histogram_raw, image, scalar};

use super::{MetricsSink, Scalar};
use crate::{Error, Result};
use somnium_envs::Frame;

/// Writes an `events.out.tfevents.*` file into a directory.
pub struct TensorboardSink {
    path: PathBuf,
    writer: RecordWriter<BufWriter<File>>,
}

fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl TensorboardSink {
    /// Start a new event file in `dir`, named as TensorFlow names them
    /// (time, host, process and a counter that keeps two files of one
    /// process and second apart), so a resumed run adds a file beside the
    /// first.
    pub fn new(dir: &Path) -> Result<Self> {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        let stem = format!(
            "events.out.tfevents.{:010}.{host}.{}",
            wall_time() as u64,
            std::process::id()
        );
        let mut n = 0;
        let (path, file) = loop {
            let path = dir.join(format!("{stem}.{n}"));
            match File::create_new(&path) {
                Ok(file) => break (path, file),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => return Err(Error::io("creating event file", &path, e)),
            }
        };
        let mut sink = TensorboardSink {
            path,
            writer: RecordWriter::new(BufWriter::new(file)),
        };
        let mut version = Event::new();
        version.set_wall_time(wall_time());
        version.set_file_version("brain.Event:2".into());
        sink.write(&version)?;
        sink.flush()?;
        Ok(sink)
    }

    /// Mark a restart at `step` (a resumed run): TensorBoard then drops
    /// the events at `step` and after that earlier event files of the run
    /// hold, which the continuation abandoned by the resume had logged.
    pub fn restart_at(&mut self, step: u64) -> Result<()> {
        let mut log = SessionLog::new();
        log.set_status(SessionLog_SessionStatus::START);
        let mut event = Event::new();
        event.set_wall_time(wall_time());
        event.set_step(step as i64);
        event.set_session_log(log);
        self.write(&event)?;
        self.flush()
    }

    /// The event file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, event: &Event) -> Result<()> {
        let bytes = event
            .write_to_bytes()
            .expect("an in-memory event always encodes");
        self.writer
            .write(&bytes)
            .map_err(|e| Error::io("writing TensorBoard events", &self.path, e))
    }

    fn summary(&mut self, step: u64, summary: Summary) -> Result<()> {
        let mut event = Event::new();
        event.set_wall_time(wall_time());
        event.set_step(step as i64);
        event.set_summary(summary);
        self.write(&event)
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
            self.summary(step, scalar(name, *value as f32))?;
        }
        Ok(())
    }

    fn image(&mut self, step: u64, tag: &str, frame: &Frame) -> Result<()> {
        self.summary(
            step,
            image(tag, &frame.rgb, &[3, frame.width, frame.height]),
        )
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
        let n = finite.len() as f64;
        let summary = histogram_raw(tag, min, max, n, sum, sum_squares, &limits, &counts);
        self.summary(step, summary)
    }

    fn flush(&mut self) -> Result<()> {
        self.writer
            .flush()
            .map_err(|e| Error::io("flushing TensorBoard events", &self.path, e))
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
        let mut sink = TensorboardSink::new(dir.path()).unwrap();
        sink.scalars(1, &[("loss/x".into(), 1.5)]).unwrap();
        sink.flush().unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            files.iter().any(|f| f.starts_with("events.out.tfevents")),
            "{files:?}"
        );
        // Two records: the file version, then the scalar; each is a u64
        // length, a u32 CRC, the payload and a u32 CRC.
        let bytes = std::fs::read(sink.path()).unwrap();
        let first = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let second_at = 8 + 4 + first + 4;
        let second = u64::from_le_bytes(bytes[second_at..second_at + 8].try_into().unwrap());
        assert_eq!(bytes.len(), second_at + 16 + second as usize);
    }

    /// A full disk is an error naming the event file, not a panic on a
    /// writer thread (`/dev/full` fails every write with ENOSPC).
    #[test]
    fn a_full_disk_is_an_error_naming_the_file() {
        let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
            eprintln!("skipped: no /dev/full on this system");
            return;
        };
        let mut sink = TensorboardSink {
            path: PathBuf::from("/dev/full"),
            writer: RecordWriter::new(BufWriter::new(full)),
        };
        let err = sink
            .scalars(1, &[("loss/x".into(), 1.0)])
            .and_then(|_| sink.flush())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/dev/full") && err.contains("TensorBoard"),
            "{err}"
        );
    }
}

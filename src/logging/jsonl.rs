//! `metrics.jsonl`: one JSON object per logging step, appended and flushed
//! so a killed run keeps every line it wrote.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{MetricsSink, Scalar};
use crate::{Error, Result};

/// Appends metrics to a JSON-lines file.
pub struct JsonlSink {
    path: PathBuf,
    file: File,
}

impl JsonlSink {
    /// Open `path` for appending (a resumed run continues the same file).
    pub fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io("opening metrics file", path, e))?;
        Ok(JsonlSink {
            path: path.to_path_buf(),
            file,
        })
    }
}

impl MetricsSink for JsonlSink {
    fn scalars(&mut self, step: u64, values: &[Scalar]) -> Result<()> {
        let mut object = Map::new();
        object.insert("step".into(), Value::from(step));
        for (name, value) in values {
            // JSON has no NaN: non-finite values are written as null.
            let value = serde_json::Number::from_f64(*value).map_or(Value::Null, Value::Number);
            object.insert(name.clone(), value);
        }
        let line = Value::Object(object).to_string();
        writeln!(self.file, "{line}").map_err(|e| Error::io("writing metrics", &self.path, e))
    }

    fn flush(&mut self) -> Result<()> {
        self.file
            .flush()
            .map_err(|e| Error::io("flushing metrics", &self.path, e))
    }
}

/// What [`heal_for_resume`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Healed {
    /// Bytes of a partial last line (a write cut off by a kill or a full
    /// disk) that were cut off.
    pub partial_bytes: usize,
    /// Rows logged after the checkpoint resumed from, moved to the
    /// superseded file.
    pub superseded_rows: usize,
}

/// Make `metrics.jsonl` at `path` ready for a run resumed from a checkpoint
/// at `step`: cut a partial last line, so the first row appended after it
/// starts on a line of its own, and move the rows logged after `step` (by
/// the continuation that the resume abandons) into `superseded` (appended),
/// so each step appears once. The file is replaced atomically; a file that
/// needs neither is left untouched.
pub fn heal_for_resume(path: &Path, step: u64, superseded: &Path) -> Result<Healed> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Healed::default()),
        Err(e) => return Err(Error::io("reading metrics", path, e)),
    };
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut healed = Healed {
        partial_bytes: bytes.len() - complete,
        superseded_rows: 0,
    };
    let text = String::from_utf8_lossy(&bytes[..complete]);
    let (mut kept, mut later) = (String::new(), String::new());
    for line in text.lines() {
        let row_step = serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| v.get("step").and_then(Value::as_u64));
        let target = match row_step {
            Some(s) if s > step => {
                healed.superseded_rows += 1;
                &mut later
            }
            _ => &mut kept,
        };
        target.push_str(line);
        target.push('\n');
    }
    if healed == Healed::default() {
        return Ok(healed);
    }
    if !later.is_empty() {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(superseded)
            .map_err(|e| Error::io("opening superseded metrics", superseded, e))?;
        file.write_all(later.as_bytes())
            .and_then(|_| file.flush())
            .map_err(|e| Error::io("writing superseded metrics", superseded, e))?;
    }
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, kept).map_err(|e| Error::io("writing metrics", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("replacing metrics", path, e))?;
    Ok(healed)
}

/// Read every object of a `metrics.jsonl` file.
pub fn read_jsonl(path: &Path) -> Result<Vec<Map<String, Value>>> {
    let file = File::open(path).map_err(|e| Error::io("reading metrics", path, e))?;
    let mut rows = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io("reading metrics", path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(map)) => rows.push(map),
            // A run killed mid-write may leave a partial last line; skip it.
            _ => eprintln!(
                "warning: {}: line {} is not a JSON object, skipped",
                path.display(),
                i + 1
            ),
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_object_per_step_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let mut sink = JsonlSink::open(&path).unwrap();
        sink.scalars(10, &[("loss/reward".into(), 0.5), ("bad".into(), f64::NAN)])
            .unwrap();
        drop(sink);
        let mut sink = JsonlSink::open(&path).unwrap();
        sink.scalars(20, &[("loss/reward".into(), 0.25)]).unwrap();
        sink.flush().unwrap();
        let rows = read_jsonl(&path).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["step"], 10);
        assert_eq!(rows[0]["loss/reward"], 0.5);
        assert!(rows[0]["bad"].is_null());
        assert_eq!(rows[1]["loss/reward"], 0.25);
    }

    #[test]
    fn a_resume_cuts_a_partial_line_and_sets_later_rows_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let aside = dir.path().join("metrics.superseded.jsonl");
        let rows = "{\"step\":100,\"a\":1}\n{\"step\":200,\"a\":2}\n{\"step\":300,\"a\":3}\n";
        std::fs::write(&path, format!("{rows}{{\"step\":400,\"a\"")).unwrap();
        let healed = heal_for_resume(&path, 200, &aside).unwrap();
        assert_eq!(
            healed,
            Healed {
                partial_bytes: 15,
                superseded_rows: 1
            }
        );
        // The first row appended after the resume is read back whole.
        let mut sink = JsonlSink::open(&path).unwrap();
        sink.scalars(250, &[("a".into(), 9.0)]).unwrap();
        let steps: Vec<u64> = read_jsonl(&path)
            .unwrap()
            .iter()
            .map(|r| r["step"].as_u64().unwrap())
            .collect();
        assert_eq!(steps, vec![100, 200, 250]);
        assert_eq!(
            std::fs::read_to_string(&aside).unwrap(),
            "{\"step\":300,\"a\":3}\n"
        );
        // A clean file is left alone.
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert_eq!(
            heal_for_resume(&path, 250, &aside).unwrap(),
            Healed::default()
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            before
        );
    }
}

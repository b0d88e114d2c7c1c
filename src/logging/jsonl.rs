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
}

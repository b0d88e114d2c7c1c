//! A checkpoint's `manifest.json`: what wrote it, its progress counters, the
//! config it was written for, and a checksum of every file beside it.
//!
//! The manifest is written last, so its presence marks a complete
//! checkpoint; its per-file sizes and CRC-32s let a reader tell a
//! checkpoint that was damaged after it was written (a bad disk, a stray
//! write, a truncated copy) from a good one, before any of it is loaded.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::device::Precision;
use crate::{Error, Result};

/// Bumped whenever the layout of a checkpoint changes. 3 added the file
/// checksums and the shaping config.
pub const FORMAT_VERSION: u32 = 3;
/// The oldest layout still read (2: no checksums, so not verified).
pub const OLDEST_FORMAT_VERSION: u32 = 2;

/// Progress counters saved with every checkpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Environment steps taken (summed over copies).
    pub env_steps: u64,
    /// Gradient updates made.
    pub updates: u64,
    /// Episodes finished.
    pub episodes: u64,
}

/// A file's size and CRC-32 (IEEE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    /// Its length in bytes.
    pub bytes: u64,
    /// Its CRC-32, as eight hex digits.
    #[serde(with = "hex32")]
    pub crc32: u32,
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(value: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{value:08x}"))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let text = String::deserialize(d)?;
        u32::from_str_radix(&text, 16).map_err(D::Error::custom)
    }
}

/// The description of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// Hash of the model-shaping parts of the config.
    pub config_hash: String,
    /// Progress when written.
    pub counters: Counters,
    /// The agent that wrote it (`dreamer`, `muzero`).
    pub agent: String,
    /// The run's `run.precision`. Absent in checkpoints written before it
    /// was recorded: those hold the plain optimiser state an f32 run reads
    /// (half-precision runs kept no master weights then), so it defaults to
    /// f32 whatever they trained in.
    #[serde(default)]
    pub precision: Precision,
    /// The model-shaping config that [`Manifest::config_hash`] hashes, as
    /// JSON, so that a mismatch on resume can name the keys that differ.
    /// Absent before format 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// Every other file of the checkpoint with its size and checksum
    /// (filled in by [`super::Checkpoint::write`]). Absent before format 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<BTreeMap<String, FileSum>>,
}

/// A 64-bit FNV-1a hash, hex-encoded: stable across platforms and versions.
pub fn stable_hash(text: &str) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in text.bytes() {
        hash ^= byte as u64;
        hash = hash.wrapping_mul(0x100000001b3);
    }
    format!("{hash:016x}")
}

/// The size and CRC-32 of the file at `path`.
pub fn file_sum(path: &Path) -> Result<FileSum> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io("reading", path, e))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| Error::io("reading", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok(FileSum {
        bytes,
        crc32: hasher.finalize(),
    })
}

/// The sums of every file under `dir` (recursively, by `/`-joined relative
/// name), except `skip`.
pub fn dir_sums(dir: &Path, skip: &str) -> Result<BTreeMap<String, FileSum>> {
    let mut sums = BTreeMap::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((folder, prefix)) = pending.pop() {
        let entries =
            std::fs::read_dir(&folder).map_err(|e| Error::io("listing checkpoint", &folder, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("listing checkpoint", &folder, e))?;
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let path = entry.path();
            if path.is_dir() {
                pending.push((path, format!("{name}/")));
            } else if name != skip {
                sums.insert(name, file_sum(&path)?);
            }
        }
    }
    Ok(sums)
}

/// Check every file the manifest lists against its size and checksum.
pub fn verify_files(dir: &Path, files: &BTreeMap<String, FileSum>) -> Result<()> {
    for (name, expected) in files {
        let path = dir.join(name);
        if !path.is_file() {
            return Err(Error::checkpoint(dir, format!("`{name}` is missing")));
        }
        let found = file_sum(&path)?;
        if found.bytes != expected.bytes {
            return Err(Error::checkpoint(
                dir,
                format!(
                    "`{name}` is corrupt: {} bytes where the manifest says {}",
                    found.bytes, expected.bytes
                ),
            ));
        }
        if found.crc32 != expected.crc32 {
            return Err(Error::checkpoint(
                dir,
                format!(
                    "`{name}` is corrupt: its checksum is {:08x} where the manifest says {:08x}",
                    found.crc32, expected.crc32
                ),
            ));
        }
    }
    Ok(())
}

/// The dotted keys whose values differ between two JSON configs (at most
/// `limit` of them, in key order), each as `key: old -> new`.
pub fn config_differences(old: &Value, new: &Value, limit: usize) -> Vec<String> {
    fn walk(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
        match (old, new) {
            (Value::Object(a), Value::Object(b)) => {
                let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for key in keys {
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    let (x, y) = (
                        a.get(key).unwrap_or(&Value::Null),
                        b.get(key).unwrap_or(&Value::Null),
                    );
                    walk(&child, x, y, out);
                }
            }
            (a, b) if a != b => out.push(format!("{path}: {a} -> {b}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", old, new, &mut out);
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable() {
        assert_eq!(stable_hash(""), "cbf29ce484222325");
        assert_eq!(stable_hash("a"), "af63dc4c8601ec8c");
    }

    #[test]
    fn the_crc_is_the_standard_one() {
        // CRC-32 (IEEE) of "123456789" is cbf43926 by definition.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("digits");
        std::fs::write(&path, "123456789").unwrap();
        let sum = file_sum(&path).unwrap();
        assert_eq!((sum.bytes, sum.crc32), (9, 0xcbf43926));
        let json = serde_json::to_string(&sum).unwrap();
        assert_eq!(json, r#"{"bytes":9,"crc32":"cbf43926"}"#);
        assert_eq!(serde_json::from_str::<FileSum>(&json).unwrap(), sum);
    }

    #[test]
    fn differences_name_the_dotted_keys() {
        let old =
            serde_json::json!({"dreamer": {"rssm": {"deter": 32, "stoch": 4}}, "env": {"id": "a"}});
        let new =
            serde_json::json!({"dreamer": {"rssm": {"deter": 64, "stoch": 4}}, "env": {"id": "a"}});
        assert_eq!(
            config_differences(&old, &new, 10),
            vec!["dreamer.rssm.deter: 32 -> 64".to_string()]
        );
    }
}

//! Checkpoints that survive a kill at any moment, and a damaged disk.
//!
//! A checkpoint is a directory `checkpoints/<env steps>/` holding whatever
//! files the agent writes (module weights as burnpack, optimiser states,
//! replay, RNG state) plus `manifest.json` ([`Manifest`]) with the
//! counters, the config it was written for, and the size and CRC-32 of
//! every other file. It is written into a temporary directory and renamed
//! into place only when complete, so a directory with a manifest is always
//! whole; a kill leaves at worst a temporary directory, removed on the next
//! write, and a write that fails (a full disk) removes its own.
//!
//! Readers verify the checksums before loading anything and, unless a
//! checkpoint was asked for by its steps, fall back to the newest one that
//! verifies and loads, saying which they skipped and why
//! ([`Checkpoint::load_newest_usable`]).

mod files;
mod manifest;

pub use files::{
    REPLAY_FILE, first_non_finite, load_json, load_module, load_optimizer, load_packed,
    load_replay, save_json, save_module, save_optimizer, save_packed, save_replay,
};
pub use manifest::{
    Counters, FORMAT_VERSION, FileSum, Manifest, OLDEST_FORMAT_VERSION, config_differences,
    stable_hash,
};

use std::path::{Path, PathBuf};

use crate::device::Precision;
use crate::{Error, Result};

const MANIFEST: &str = "manifest.json";

/// A complete checkpoint directory on disk.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Its directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

impl Checkpoint {
    /// Write a checkpoint under `root` (a run's `checkpoints/`): `write`
    /// fills a temporary directory, then the manifest is added with every
    /// file's checksum and the directory renamed to `<root>/<env_steps>`.
    /// Only the newest `keep` checkpoints are kept. If anything fails, the
    /// temporary directory is removed and the checkpoints already there are
    /// left as they were.
    pub fn write(
        root: &Path,
        mut manifest: Manifest,
        keep: usize,
        write: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<Checkpoint> {
        std::fs::create_dir_all(root)
            .map_err(|e| Error::io("creating checkpoint directory", root, e))?;
        let name = dir_name(manifest.counters.env_steps);
        let tmp = root.join(format!(".tmp-{name}"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)
                .map_err(|e| Error::io("removing stale temporary checkpoint", &tmp, e))?;
        }
        let filled = std::fs::create_dir_all(&tmp)
            .map_err(|e| Error::io("creating temporary checkpoint", &tmp, e))
            .and_then(|_| write(&tmp))
            .and_then(|_| {
                manifest.files = Some(manifest::dir_sums(&tmp, MANIFEST)?);
                let path = tmp.join(MANIFEST);
                let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
                std::fs::write(&path, text)
                    .map_err(|e| Error::io("writing checkpoint manifest", &path, e))
            });
        if let Err(e) = filled {
            // Best effort: the error that stopped the write is the one to report.
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let dir = root.join(&name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| Error::io("replacing checkpoint", &dir, e))?;
        }
        if let Err(e) = std::fs::rename(&tmp, &dir) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::io("moving checkpoint into place", &dir, e));
        }
        prune(root, keep.max(1))?;
        Ok(Checkpoint { dir, manifest })
    }

    /// The newest complete checkpoint under `root`, if any (not verified).
    pub fn latest(root: &Path) -> Result<Option<Checkpoint>> {
        match complete_dirs(root)?.pop() {
            None => Ok(None),
            Some(dir) => Checkpoint::open(&dir).map(Some),
        }
    }

    /// The checkpoint written at `env_steps` if given, else the newest;
    /// verified either way; an error names the directory and says there
    /// is none `to` use.
    pub fn chosen(root: &Path, env_steps: Option<u64>, to: &str) -> Result<Checkpoint> {
        Checkpoint::load_newest_usable(root, env_steps, to, |_| Ok(()), |_| Ok(()))
            .map(|(checkpoint, ())| checkpoint)
    }

    /// Open, verify and `load` the checkpoint written at `env_steps`, or,
    /// when that is `None`, the newest checkpoint under `root` that opens,
    /// verifies and loads: each one skipped is reported on stderr with its
    /// reason. `checks` runs on each before it is loaded, and its error is
    /// returned at once (a config that does not match one checkpoint does
    /// not match the older ones either). `to` completes "no usable
    /// checkpoint to ..." in the error when none is usable.
    pub fn load_newest_usable<T>(
        root: &Path,
        env_steps: Option<u64>,
        to: &str,
        checks: impl Fn(&Checkpoint) -> Result<()>,
        mut load: impl FnMut(&Checkpoint) -> Result<T>,
    ) -> Result<(Checkpoint, T)> {
        if let Some(steps) = env_steps {
            let checkpoint = Checkpoint::at_env_steps(root, steps)?;
            checks(&checkpoint)?;
            checkpoint.verify()?;
            let loaded = load(&checkpoint)?;
            return Ok((checkpoint, loaded));
        }
        let mut skipped = Vec::new();
        for dir in complete_dirs(root)?.into_iter().rev() {
            let checkpoint = match Checkpoint::open(&dir) {
                Ok(checkpoint) => checkpoint,
                Err(e) => {
                    skipped.push(e.to_string());
                    continue;
                }
            };
            checks(&checkpoint)?;
            match checkpoint.verify().and_then(|_| load(&checkpoint)) {
                Ok(loaded) => {
                    if !skipped.is_empty() {
                        eprintln!(
                            "warning: skipped {} unusable checkpoint(s): {}\n\
                             warning: using the newest that verifies, `{}` ({} env steps)",
                            skipped.len(),
                            skipped.join("; "),
                            checkpoint.dir.display(),
                            checkpoint.manifest.counters.env_steps
                        );
                    }
                    return Ok((checkpoint, loaded));
                }
                Err(e) => skipped.push(e.to_string()),
            }
        }
        let problem = match skipped.is_empty() {
            true => format!("no complete checkpoint to {to}"),
            false => format!("no usable checkpoint to {to}: {}", skipped.join("; ")),
        };
        Err(Error::checkpoint(root, problem))
    }

    /// The complete checkpoint written at `env_steps` environment steps.
    pub fn at_env_steps(root: &Path, env_steps: u64) -> Result<Checkpoint> {
        let dir = root.join(dir_name(env_steps));
        if dir.join(MANIFEST).is_file() {
            return Checkpoint::open(&dir);
        }
        let kept: Vec<String> = complete_dirs(root)?
            .iter()
            .filter_map(|d| d.file_name()?.to_str()?.parse::<u64>().ok())
            .map(|steps| steps.to_string())
            .collect();
        Err(Error::checkpoint(
            root,
            format!(
                "no complete checkpoint at {env_steps} environment steps; kept: {}",
                if kept.is_empty() {
                    "none".to_string()
                } else {
                    kept.join(", ")
                }
            ),
        ))
    }

    /// Open the checkpoint in `dir` (its manifest only; see [`Checkpoint::verify`]).
    pub fn open(dir: &Path) -> Result<Checkpoint> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path)
            .map_err(|_| Error::checkpoint(dir, "no manifest.json: not a complete checkpoint"))?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| Error::checkpoint(dir, format!("manifest.json is corrupt: {e}")))?;
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&manifest.format_version) {
            return Err(Error::checkpoint(
                dir,
                format!(
                    "format version {} is not a supported version ({OLDEST_FORMAT_VERSION} to \
                     {FORMAT_VERSION})",
                    manifest.format_version
                ),
            ));
        }
        if manifest.format_version >= 3 && manifest.files.is_none() {
            return Err(Error::checkpoint(
                dir,
                "manifest.json lists no files: it is corrupt",
            ));
        }
        Ok(Checkpoint {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// Check every file against the size and checksum in the manifest
    /// (checkpoints written before checksums pass unchecked).
    pub fn verify(&self) -> Result<()> {
        match &self.manifest.files {
            Some(files) => manifest::verify_files(&self.dir, files),
            None => Ok(()),
        }
    }

    /// Fail unless the checkpoint was written for a config with this hash;
    /// `shaping` is that config ([`crate::train::config_shaping`]), whose
    /// keys that differ from the checkpoint's the error names.
    pub fn check_config(
        &self,
        config_hash: &str,
        shaping: &serde_json::Value,
        agent: &str,
    ) -> Result<()> {
        if self.manifest.agent != agent {
            return Err(Error::checkpoint(
                &self.dir,
                format!("written by agent `{}`, not `{agent}`", self.manifest.agent),
            ));
        }
        if self.manifest.config_hash != config_hash {
            let keys = match &self.manifest.config {
                Some(saved) => {
                    let differences = config_differences(saved, shaping, 8);
                    format!(
                        "; what differs (the checkpoint's value -> now): {}",
                        differences.join(", ")
                    )
                }
                None => String::new(),
            };
            return Err(Error::checkpoint(
                &self.dir,
                format!(
                    "written for a different config (hash {} vs {config_hash}): the model, \
                     environment or agent settings changed since it was saved{keys}",
                    self.manifest.config_hash
                ),
            ));
        }
        Ok(())
    }

    /// Fail unless the checkpoint was written at `precision`: in half
    /// precision the optimisers' state holds f32 master weights
    /// ([`crate::nn::master_weights`]), which an f32 run's optimisers do not
    /// read (nor the other way round), so a resume across precisions would
    /// restart every optimiser's moments without a word.
    pub fn check_precision(&self, precision: Precision) -> Result<()> {
        if self.manifest.precision == precision {
            return Ok(());
        }
        Err(Error::checkpoint(
            &self.dir,
            format!(
                "written with run.precision = \"{}\", resumed with \"{precision}\": the optimisers' state does not carry over between f32 and half precision; resume with --set run.precision={} (or start a new run from its weights)",
                self.manifest.precision, self.manifest.precision
            ),
        ))
    }

    /// Path of a file inside the checkpoint.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Move every complete checkpoint newer than this one out of the way
    /// (renamed `<steps>.superseded`, kept on disk, no longer listed), so
    /// that a run resumed from here is not later pruned in favour of
    /// checkpoints from the abandoned continuation. Returns the new paths.
    pub fn supersede_newer(&self) -> Result<Vec<PathBuf>> {
        let root = self.dir.parent().expect("a checkpoint lives in a folder");
        let mut moved = Vec::new();
        for dir in complete_dirs(root)? {
            if dir.file_name() > self.dir.file_name() {
                let name = dir.file_name().expect("named").to_string_lossy();
                let mut aside = root.join(format!("{name}.superseded"));
                let mut n = 1;
                while aside.exists() {
                    aside = root.join(format!("{name}.superseded-{n}"));
                    n += 1;
                }
                std::fs::rename(&dir, &aside)
                    .map_err(|e| Error::io("moving a superseded checkpoint aside", &dir, e))?;
                moved.push(aside);
            }
        }
        Ok(moved)
    }
}

/// A checkpoint's directory name: its environment steps, zero-padded so
/// that names sort in the order the checkpoints were written.
fn dir_name(env_steps: u64) -> String {
    format!("{env_steps:012}")
}

/// The checkpoint directories under `root` with a manifest, oldest first:
/// only names of digits, so temporary (`.tmp-*`) and superseded
/// (`*.superseded`) directories never count.
fn complete_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    if !root.exists() {
        return Ok(Vec::new());
    }
    let entries = std::fs::read_dir(root).map_err(|e| Error::io("listing checkpoints", root, e))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.join(MANIFEST).is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn prune(root: &Path, keep: usize) -> Result<()> {
    let dirs = complete_dirs(root)?;
    for dir in dirs.iter().take(dirs.len().saturating_sub(keep)) {
        std::fs::remove_dir_all(dir).map_err(|e| Error::io("removing old checkpoint", dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;

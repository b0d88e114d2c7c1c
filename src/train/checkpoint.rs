//! Checkpoints that survive a kill at any moment.
//!
//! A checkpoint is a directory `checkpoints/<env steps>/` holding whatever
//! files the agent writes (module weights as burnpack, optimiser states,
//! replay, RNG state) plus `manifest.json` with the counters, a hash of the
//! config parts that shape the model, and the format version. It is
//! written into a temporary directory and renamed into place only when
//! complete, so a directory with a manifest is always whole; a kill leaves
//! at worst a temporary directory, removed on the next write.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use crate::device::Precision;
use crate::{Error, Result};

/// Bumped whenever the layout of a checkpoint changes.
pub const FORMAT_VERSION: u32 = 2;

const MANIFEST: &str = "manifest.json";

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
    /// fills a temporary directory, then the manifest is added and the
    /// directory renamed to `<root>/<env_steps>`. Only the newest `keep`
    /// checkpoints are kept.
    pub fn write(
        root: &Path,
        manifest: Manifest,
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
        std::fs::create_dir_all(&tmp)
            .map_err(|e| Error::io("creating temporary checkpoint", &tmp, e))?;
        write(&tmp)?;
        let manifest_path = tmp.join(MANIFEST);
        let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
        std::fs::write(&manifest_path, text)
            .map_err(|e| Error::io("writing checkpoint manifest", &manifest_path, e))?;
        let dir = root.join(&name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| Error::io("replacing checkpoint", &dir, e))?;
        }
        std::fs::rename(&tmp, &dir)
            .map_err(|e| Error::io("moving checkpoint into place", &dir, e))?;
        prune(root, keep.max(1))?;
        Ok(Checkpoint { dir, manifest })
    }

    /// The newest complete checkpoint under `root`, if any.
    pub fn latest(root: &Path) -> Result<Option<Checkpoint>> {
        match complete_dirs(root)?.pop() {
            None => Ok(None),
            Some(dir) => Checkpoint::open(&dir).map(Some),
        }
    }

    /// The checkpoint written at `env_steps` if given, else the newest; an
    /// error names the directory and says there is none `to` use.
    pub fn chosen(root: &Path, env_steps: Option<u64>, to: &str) -> Result<Checkpoint> {
        match env_steps {
            Some(steps) => Checkpoint::at_env_steps(root, steps),
            None => Checkpoint::latest(root)?
                .ok_or_else(|| Error::checkpoint(root, format!("no complete checkpoint to {to}"))),
        }
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

    /// Open the checkpoint in `dir`.
    pub fn open(dir: &Path) -> Result<Checkpoint> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path)
            .map_err(|_| Error::checkpoint(dir, "no manifest.json: not a complete checkpoint"))?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| Error::checkpoint(dir, format!("manifest.json is corrupt: {e}")))?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(Error::checkpoint(
                dir,
                format!(
                    "format version {} is not the supported version {FORMAT_VERSION}",
                    manifest.format_version
                ),
            ));
        }
        Ok(Checkpoint {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// Fail unless the checkpoint was written for a config with this hash.
    pub fn check_config(&self, config_hash: &str, agent: &str) -> Result<()> {
        if self.manifest.agent != agent {
            return Err(Error::checkpoint(
                &self.dir,
                format!("written by agent `{}`, not `{agent}`", self.manifest.agent),
            ));
        }
        if self.manifest.config_hash != config_hash {
            return Err(Error::checkpoint(
                &self.dir,
                format!(
                    "written for a different config (hash {} vs {config_hash}): the model, environment or agent settings changed since it was saved",
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
}

/// A checkpoint's directory name: its environment steps, zero-padded so
/// that names sort in the order the checkpoints were written.
fn dir_name(env_steps: u64) -> String {
    format!("{env_steps:012}")
}

fn complete_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    if !root.exists() {
        return Ok(Vec::new());
    }
    let entries = std::fs::read_dir(root).map_err(|e| Error::io("listing checkpoints", root, e))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.join(MANIFEST).is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
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

/// Save a module's weights as burnpack.
pub fn save_module<M: Module + Clone>(module: &M, path: &Path) -> Result<()> {
    module
        .clone()
        .save_file(path)
        .map_err(|e| Error::checkpoint(path, format!("saving weights failed: {e}")))
}

/// Load weights saved by [`save_module`] into `module`.
pub fn load_module<M: Module>(module: M, path: &Path) -> Result<M> {
    if !path.is_file() {
        return Err(Error::checkpoint(path, "weights file is missing"));
    }
    module.try_load_file(path).map_err(|e| {
        Error::checkpoint(
            path,
            format!("loading weights failed (does the model shape match?): {e}"),
        )
    })
}

/// Save an optimiser's state as burnpack.
pub fn save_optimizer(optimizer: &ModuleOptimizer, path: &Path) -> Result<()> {
    optimizer
        .save(path)
        .map_err(|e| Error::checkpoint(path, format!("saving optimiser state failed: {e}")))
}

/// Load optimiser state saved by [`save_optimizer`].
pub fn load_optimizer(optimizer: ModuleOptimizer, path: &Path) -> Result<ModuleOptimizer> {
    if !path.is_file() {
        return Err(Error::checkpoint(path, "optimiser state file is missing"));
    }
    optimizer
        .load(path)
        .map_err(|e| Error::checkpoint(path, format!("loading optimiser state failed: {e}")))
}

/// Write a serde value as JSON.
pub fn save_json<T: Serialize>(value: &T, path: &Path) -> Result<()> {
    let text = serde_json::to_vec(value)
        .map_err(|e| Error::checkpoint(path, format!("serialising failed: {e}")))?;
    std::fs::write(path, text).map_err(|e| Error::io("writing", path, e))
}

/// The replay buffer's file in a checkpoint, MessagePack.
pub const REPLAY_FILE: &str = "replay.msgpack";
/// The replay buffer's file in checkpoints written before MessagePack.
const REPLAY_FILE_JSON: &str = "replay.json";

/// Write a serde value to `path` as MessagePack (with field names, so a
/// later version with added fields still reads it): replay buffers, whose
/// JSON text was twice their size for MinAtar's grids (123 MB against 62.7
/// MB for 100,000 steps), and 0-255 pixels take 2-4 characters each as
/// text against one byte here.
pub fn save_packed<T: Serialize>(value: &T, path: &Path) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| Error::io("writing", path, e))?;
    let mut writer = std::io::BufWriter::new(file);
    rmp_serde::encode::write_named(&mut writer, value)
        .map_err(|e| Error::checkpoint(path, format!("serialising failed: {e}")))?;
    std::io::Write::flush(&mut writer).map_err(|e| Error::io("writing", path, e))
}

/// Read a serde value written by [`save_packed`].
pub fn load_packed<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("reading", path, e))?;
    rmp_serde::decode::from_read(std::io::BufReader::new(file))
        .map_err(|e| Error::checkpoint(path, format!("corrupt: {e}")))
}

/// Save an agent's replay buffer into checkpoint directory `dir`.
pub fn save_replay<T: Serialize>(replay: &T, dir: &Path) -> Result<()> {
    save_packed(replay, &dir.join(REPLAY_FILE))
}

/// The replay buffer saved in checkpoint directory `dir` (older
/// checkpoints' JSON too), or `None` if it has none.
pub fn load_replay<T: serde::de::DeserializeOwned>(dir: &Path) -> Result<Option<T>> {
    let (packed, json) = (dir.join(REPLAY_FILE), dir.join(REPLAY_FILE_JSON));
    if packed.exists() {
        load_packed(&packed).map(Some)
    } else if json.exists() {
        load_json(&json).map(Some)
    } else {
        Ok(None)
    }
}

/// Read a serde value written by [`save_json`].
pub fn load_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    serde_json::from_slice(&text).map_err(|e| Error::checkpoint(path, format!("corrupt: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::mlp::Mlp;
    use crate::nn::norm::NormKind;
    use crate::nn::tensor_util::{tensor_from_vec, to_vec};
    use burn::tensor::Device;

    fn manifest(steps: u64) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            config_hash: "abc".into(),
            counters: Counters {
                env_steps: steps,
                updates: 3,
                episodes: 1,
            },
            agent: "dreamer".into(),
            precision: Precision::F32,
        }
    }

    #[test]
    fn weights_and_optimizer_round_trip() {
        use burn::optim::{AdamConfig, GradientsParams};
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex().autodiff();
        let mlp = Mlp::new(2, 4, 1, NormKind::Layer, &device);
        let mut optim = AdamConfig::new().init();
        let x = tensor_from_vec(vec![1.0, 2.0], [1, 2], &device);
        let grads = GradientsParams::from_grads(mlp.forward(x.clone()).sum().backward(), &mlp);
        let mlp = optim.step(1e-2, mlp, grads);
        let ckpt = Checkpoint::write(dir.path(), manifest(100), 2, |tmp| {
            save_module(&mlp, &tmp.join("model.bpk"))?;
            save_optimizer(&optim, &tmp.join("optim.bpk"))
        })
        .unwrap();
        let fresh = Mlp::new(2, 4, 1, NormKind::Layer, &device);
        let loaded = load_module(fresh, &ckpt.file("model.bpk")).unwrap();
        assert_eq!(
            to_vec(loaded.forward(x.clone())),
            to_vec(mlp.forward(x.clone()))
        );
        // The restored optimiser continues exactly as the original would.
        let mut restored =
            load_optimizer(AdamConfig::new().init(), &ckpt.file("optim.bpk")).unwrap();
        let g1 = GradientsParams::from_grads(mlp.forward(x.clone()).sum().backward(), &mlp);
        let g2 = GradientsParams::from_grads(loaded.forward(x.clone()).sum().backward(), &loaded);
        let a = optim.step(1e-2, mlp, g1);
        let b = restored.step(1e-2, loaded, g2);
        assert_eq!(to_vec(a.forward(x.clone())), to_vec(b.forward(x)));
    }

    #[test]
    fn latest_skips_incomplete_and_prunes_old() {
        let dir = tempfile::tempdir().unwrap();
        for steps in [10, 20, 30] {
            Checkpoint::write(dir.path(), manifest(steps), 2, |_| Ok(())).unwrap();
        }
        // A kill mid-write leaves a temporary directory without a manifest.
        std::fs::create_dir_all(dir.path().join(".tmp-000000000040")).unwrap();
        let latest = Checkpoint::latest(dir.path()).unwrap().unwrap();
        assert_eq!(latest.manifest.counters.env_steps, 30);
        assert!(
            !dir.path().join("000000000010").exists(),
            "only the newest two are kept"
        );
        assert!(dir.path().join("000000000020").exists());
    }

    #[test]
    fn mismatched_config_and_missing_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let ckpt = Checkpoint::write(dir.path(), manifest(5), 1, |_| Ok(())).unwrap();
        let err = ckpt
            .check_config("other", "dreamer")
            .unwrap_err()
            .to_string();
        assert!(err.contains("different config"), "{err}");
        let err = ckpt.check_config("abc", "muzero").unwrap_err().to_string();
        assert!(err.contains("agent `dreamer`"), "{err}");
        ckpt.check_precision(Precision::F32).unwrap();
        let err = ckpt
            .check_precision(Precision::F16)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("run.precision = \"f32\", resumed with \"f16\"")
                && err.contains("--set run.precision=f32"),
            "{err}"
        );
        let device = Device::flex();
        let err = load_module(
            Mlp::new(2, 4, 1, NormKind::Layer, &device),
            &ckpt.file("model.bpk"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("missing"), "{err}");
        let err = Checkpoint::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("manifest"), "{err}");
    }

    #[test]
    fn manifests_without_a_precision_are_f32_runs() {
        let mut json = serde_json::to_value(manifest(5)).unwrap();
        json.as_object_mut().unwrap().remove("precision");
        let old: Manifest = serde_json::from_value(json).unwrap();
        assert_eq!(old.precision, Precision::F32);
    }

    #[test]
    fn hash_is_stable() {
        assert_eq!(stable_hash(""), "cbf29ce484222325");
        assert_eq!(stable_hash("a"), "af63dc4c8601ec8c");
    }
}

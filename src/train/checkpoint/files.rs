//! The files inside a checkpoint: module weights and optimiser states as
//! burnpack, agent state as JSON, replay buffers as MessagePack.
//!
//! Weights are checked as they load: a parameter holding NaN or infinity
//! means a damaged file (training stops at the first non-finite loss,
//! before any checkpoint could save one), so it is refused with the
//! parameter's path instead of acting or resuming on garbage.

use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::ModuleOptimizer;
use burn::tensor::Tensor;
use serde::Serialize;

use crate::{Error, Result};

/// Save a module's weights as burnpack.
pub fn save_module<M: Module + Clone>(module: &M, path: &Path) -> Result<()> {
    module
        .clone()
        .save_file(path)
        .map_err(|e| Error::checkpoint(path, format!("saving weights failed: {e}")))
}

/// Load weights saved by [`save_module`] into `module`.
/// Weights holding NaN or infinity are refused, naming the parameter.
pub fn load_module<M: Module>(module: M, path: &Path) -> Result<M> {
    if !path.is_file() {
        return Err(Error::checkpoint(path, "weights file is missing"));
    }
    let module = module.try_load_file(path).map_err(|e| {
        Error::checkpoint(
            path,
            format!("loading weights failed (does the model shape match?): {e}"),
        )
    })?;
    match first_non_finite(&module) {
        None => Ok(module),
        Some(name) => Err(Error::checkpoint(
            path,
            format!("weight `{name}` holds NaN or infinite values: the file is corrupt"),
        )),
    }
}

/// The path of the first float parameter of `module` holding a NaN or an
/// infinity, if any.
pub fn first_non_finite<M: Module>(module: &M) -> Option<String> {
    #[derive(Default)]
    struct Finder {
        path: Vec<String>,
        found: Option<String>,
    }
    impl ModuleVisitor for Finder {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.found.is_none() {
                let finite: bool = param.val().is_finite().all().into_scalar();
                if !finite {
                    let name = self.path.join(".");
                    self.found = Some(if name.is_empty() {
                        "<root>".into()
                    } else {
                        name
                    });
                }
            }
        }
    }
    let mut finder = Finder::default();
    module.visit(&mut finder);
    finder.found
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
    use burn::tensor::Device;

    #[test]
    fn weights_holding_nan_are_refused_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        let mlp = Mlp::new(2, 4, 1, NormKind::Layer, &device);
        assert_eq!(first_non_finite(&mlp), None);
        let path = dir.path().join("model.bpk");
        save_module(&mlp, &path).unwrap();
        load_module(Mlp::new(2, 4, 1, NormKind::Layer, &device), &path).unwrap();
        // Overwrite the last 64 bytes (weights, after the header) with 0xFF:
        // NaN as f32.
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 64..].fill(0xff);
        std::fs::write(&path, bytes).unwrap();
        let err = load_module(Mlp::new(2, 4, 1, NormKind::Layer, &device), &path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("NaN") && err.contains("model.bpk"), "{err}");
    }
}

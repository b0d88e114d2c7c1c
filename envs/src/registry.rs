//! The registry of built-in environments, looked up by id.

use crate::{Env, EnvError};

/// A registered environment: its id, where it comes from, and how to build it.
#[derive(Clone, Copy)]
pub struct EnvSpec {
    /// The id experiments use, e.g. `CartPole-v1` or `MinAtar/Breakout-v1`.
    pub id: &'static str,
    /// The reference implementation this one is faithful to.
    pub reference: &'static str,
    /// Builds a fresh copy (call `reset` before stepping it).
    pub make: fn() -> Box<dyn Env>,
}

/// Every built-in environment, in a stable order.
pub fn registry() -> Vec<EnvSpec> {
    let mut specs = Vec::new();
    // Each family module contributes its specs here.
    specs.extend(crate::classic::specs());
    specs.extend(crate::minatar::specs());
    specs
}

/// Build the environment registered under `id`. Ids starting with `gym:`
/// (e.g. `gym:ALE/Pong-v5?atari`) go to the Python bridge, which needs the
/// `python` feature.
pub fn make(id: &str) -> Result<Box<dyn Env>, EnvError> {
    if id.starts_with("gym:") {
        return make_gym(id);
    }
    registry()
        .into_iter()
        .find(|spec| spec.id == id)
        .map(|spec| (spec.make)())
        .ok_or_else(|| EnvError::UnknownId { id: id.to_string() })
}

/// A `gym:` id: run by the Python bridge.
#[cfg(feature = "python")]
fn make_gym(id: &str) -> Result<Box<dyn Env>, EnvError> {
    crate::python::make(id)
}

/// A `gym:` id in a build without the bridge.
#[cfg(not(feature = "python"))]
fn make_gym(id: &str) -> Result<Box<dyn Env>, EnvError> {
    Err(EnvError::FeatureDisabled {
        id: id.to_string(),
        feature: "python".to_string(),
    })
}

//! Applying the experiment's `[env]` wrappers to a freshly made environment.

use somnium_envs::Env;
use somnium_envs::wrappers::{ActionRepeat, PixelObservation, TimeLimit};

use crate::config::EnvConfig;

/// Wrap `env` as `config` asks: pixel observations first (they replace
/// the observation of every step), then action repeat, then the time limit
/// (counted in agent steps).
pub fn wrap(env: Box<dyn Env>, config: &EnvConfig) -> Box<dyn Env> {
    let mut env = env;
    if config.pixels {
        env = Box::new(PixelObservation::new(env, config.pixel_size));
    }
    if config.action_repeat > 1 {
        env = Box::new(ActionRepeat::new(env, config.action_repeat));
    }
    if config.time_limit > 0 {
        env = Box::new(TimeLimit::new(env, config.time_limit));
    }
    env
}

//! [`PythonEnvOptions`], and the `gym:` id syntax that carries them through
//! [`make`](crate::make).
//!
//! Experiments name environments by a string, so everything a Python
//! environment needs must fit in one: `gym:<gymnasium id>?key=value&...`.
//! The keys `atari`, `screen_size`, `grayscale`, `noop_max`,
//! `frame_stack`, `render` and `timeout` are ours; every
//! other key becomes a keyword argument of `gymnasium.make`, its value read
//! as JSON where it parses (`0.25`, `true`, `null`) and as a string
//! otherwise. A key without a value means `true`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::EnvError;

/// The id prefix that [`make`](crate::make) sends to the Python bridge.
pub const GYM_PREFIX: &str = "gym:";

/// The environment variable naming the Python interpreter (default `python3`).
pub const PYTHON_ENV_VAR: &str = "SOMNIUM_PYTHON";

/// How to run one Python Gymnasium environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PythonEnvOptions {
    /// Keyword arguments for `gymnasium.make(id, **kwargs)`, e.g.
    /// `{"repeat_action_probability": 0.0}`.
    pub kwargs: Map<String, Value>,
    /// Wrap the environment in Gymnasium's `AtariPreprocessing` with the
    /// standard settings (Machado et al. 2018; DQN): frame skip 4 (the base
    /// environment is made with `frameskip=1`), up to 30 no-op actions at
    /// reset, 84x84 grayscale frames, no termination on life loss, no
    /// scaling. Observations become `Space::Image { 84, 84, 1 }`.
    /// [`Self::atari`] changes the frames and the no-ops.
    pub atari_preprocessing: bool,
    /// The preprocessing's frame size, colour and no-ops at reset.
    pub atari: AtariFrames,
    /// Make the environment with `render_mode="rgb_array"`, so that
    /// [`Env::render`](crate::Env::render) returns frames.
    pub render: bool,
    /// Seconds a single `reset`, `step`, `render` or `get_attr` may take
    /// before the worker is killed and the call fails with
    /// [`EnvError::Timeout`].
    pub timeout_secs: f64,
    /// Seconds the start-up may take (starting Python, importing
    /// `gymnasium` and `imports`, and `gymnasium.make`), which can be slow
    /// on a loaded machine, before the worker is killed.
    pub startup_timeout_secs: f64,
    /// The Python interpreter; `None` means `$SOMNIUM_PYTHON`, else `python3`.
    pub python: Option<PathBuf>,
    /// Modules to import before `gymnasium.make`, for ids that third-party
    /// packages register on import (ALE ids import `ale_py` by themselves).
    pub imports: Vec<String>,
    /// Folders put in front of the worker's `sys.path` (for `imports`).
    pub sys_path: Vec<PathBuf>,
    /// Copy the worker's stderr (warnings, prints) to ours as it arrives;
    /// otherwise only its last few kilobytes are kept, for error messages.
    pub forward_stderr: bool,
}

/// What [`PythonEnvOptions::atari_preprocessing`] makes of the frames: the
/// DQN protocol's by default; STORM's and DreamerV3's papers use 64 x 64
/// colour (`screen_size = 64`, `grayscale = false`), STORM without no-ops
/// (`noop_max = 0`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AtariFrames {
    /// Frames are resized to `screen_size` x `screen_size` (84).
    pub screen_size: u32,
    /// Grey frames `[S, S, 1]` (true) or colour `[S, S, 3]`.
    pub grayscale: bool,
    /// Up to this many no-op actions at reset (30).
    pub noop_max: u32,
}

impl Default for AtariFrames {
    fn default() -> Self {
        Self {
            screen_size: 84,
            grayscale: true,
            noop_max: 30,
        }
    }
}

impl Default for PythonEnvOptions {
    fn default() -> Self {
        Self {
            kwargs: Map::new(),
            atari_preprocessing: false,
            atari: AtariFrames::default(),
            render: false,
            timeout_secs: 60.0,
            startup_timeout_secs: 120.0,
            python: None,
            imports: Vec::new(),
            sys_path: Vec::new(),
            forward_stderr: false,
        }
    }
}

impl PythonEnvOptions {
    /// The interpreter to run: [`Self::python`], else `$SOMNIUM_PYTHON`, else `python3`.
    pub fn interpreter(&self) -> PathBuf {
        self.python
            .clone()
            .or_else(|| std::env::var_os(PYTHON_ENV_VAR).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("python3"))
    }

    /// The per-call timeout.
    pub(crate) fn timeout(&self) -> Duration {
        seconds(self.timeout_secs)
    }

    /// The start-up timeout.
    pub(crate) fn startup_timeout(&self) -> Duration {
        seconds(self.startup_timeout_secs)
    }
}

/// A duration from seconds, saturating (negative or NaN: zero, too large: `MAX`).
fn seconds(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    }
}

/// A parsed `gym:` id: the Gymnasium id, the options, and how many frames
/// our [`FrameStack`](crate::wrappers::FrameStack) should stack (1: none).
#[derive(Debug, Clone, PartialEq)]
pub struct GymSpec {
    /// The id passed to `gymnasium.make`, e.g. `ALE/Pong-v5`.
    pub id: String,
    /// Options for [`PythonEnv::new`](super::PythonEnv::new).
    pub options: PythonEnvOptions,
    /// Frames to stack on our side (the `frame_stack` key); 1 means none.
    pub frame_stack: usize,
}

impl GymSpec {
    /// Parse `gym:<id>?key=value&...` (the `gym:` prefix is optional), e.g.
    /// `gym:ALE/Pong-v5?atari&frame_stack=4&repeat_action_probability=0.25`.
    pub fn parse(spec: &str) -> Result<Self, EnvError> {
        let bad = |problem: String| EnvError::BadCall {
            env: spec.to_string(),
            problem,
        };
        let body = spec.strip_prefix(GYM_PREFIX).unwrap_or(spec);
        let (id, query) = body.split_once('?').unwrap_or((body, ""));
        if id.is_empty() {
            return Err(bad(
                "no Gymnasium id after `gym:` (e.g. `gym:CartPole-v1`)".into()
            ));
        }
        let mut parsed = GymSpec {
            id: id.to_string(),
            options: PythonEnvOptions::default(),
            frame_stack: 1,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, "true"));
            let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::from(raw));
            let flag = || {
                value
                    .as_bool()
                    .ok_or_else(|| bad(format!("`{key}` takes true or false, not `{raw}`")))
            };
            let count = |least: u64| {
                value
                    .as_u64()
                    .filter(|&k| k >= least && k <= u32::MAX as u64)
                    .map(|k| k as u32)
                    .ok_or_else(|| bad(format!("`{key}` takes a count >= {least}, not `{raw}`")))
            };
            match key {
                "atari" | "atari_preprocessing" => parsed.options.atari_preprocessing = flag()?,
                "render" => parsed.options.render = flag()?,
                "screen_size" => parsed.options.atari.screen_size = count(1)?,
                "grayscale" => parsed.options.atari.grayscale = flag()?,
                "noop_max" => parsed.options.atari.noop_max = count(0)?,
                "frame_stack" => {
                    parsed.frame_stack = value.as_u64().filter(|&k| k >= 1).ok_or_else(|| {
                        bad(format!("`frame_stack` takes a count >= 1, not `{raw}`"))
                    })? as usize
                }
                "timeout" => {
                    parsed.options.timeout_secs = value
                        .as_f64()
                        .filter(|&s| s > 0.0)
                        .ok_or_else(|| bad(format!("`timeout` takes seconds > 0, not `{raw}`")))?
                }
                "" => return Err(bad(format!("empty key in `{pair}`"))),
                _ => {
                    parsed.options.kwargs.insert(key.to_string(), value);
                }
            }
        }
        if parsed.options.atari != AtariFrames::default() && !parsed.options.atari_preprocessing {
            return Err(bad(
                "`screen_size`, `grayscale` and `noop_max` set the Atari preprocessing: \
                 add `atari`"
                    .into(),
            ));
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_ids_take_the_defaults() {
        let spec = GymSpec::parse("gym:CartPole-v1").unwrap();
        assert_eq!(spec.id, "CartPole-v1");
        assert_eq!(spec.options, PythonEnvOptions::default());
        assert_eq!(spec.frame_stack, 1);
        assert_eq!(spec.options.timeout(), Duration::from_secs(60));
    }

    #[test]
    fn query_keys_become_options_and_kwargs() {
        let spec = GymSpec::parse(
            "gym:ALE/Pong-v5?atari&frame_stack=4&timeout=5&repeat_action_probability=0.0&mode=x",
        )
        .unwrap();
        assert_eq!(spec.id, "ALE/Pong-v5");
        assert!(spec.options.atari_preprocessing && !spec.options.render);
        assert_eq!(spec.frame_stack, 4);
        assert_eq!(spec.options.timeout_secs, 5.0);
        assert_eq!(
            Value::Object(spec.options.kwargs),
            json!({"repeat_action_probability": 0.0, "mode": "x"})
        );
    }

    #[test]
    fn atari_frames_take_their_own_keys() {
        let spec =
            GymSpec::parse("gym:ALE/Pong-v5?atari&screen_size=64&grayscale=false&noop_max=0")
                .unwrap();
        assert_eq!(
            spec.options.atari,
            AtariFrames {
                screen_size: 64,
                grayscale: false,
                noop_max: 0
            }
        );
        assert!(spec.options.kwargs.is_empty());
    }

    #[test]
    fn bad_queries_are_errors() {
        for spec in [
            "gym:",
            "gym:X?atari=maybe",
            "gym:X?frame_stack=0",
            "gym:X?timeout=-1",
            "gym:X?=3",
            "gym:X?atari&screen_size=0",
            "gym:X?atari&noop_max=-1",
            "gym:X?atari&grayscale=no",
            "gym:X?screen_size=64",
        ] {
            assert!(GymSpec::parse(spec).is_err(), "{spec}");
        }
    }

    #[test]
    fn options_load_from_toml_like_json_with_defaults() {
        let options: PythonEnvOptions =
            serde_json::from_value(json!({"atari_preprocessing": true})).unwrap();
        assert!(options.atari_preprocessing);
        assert_eq!(options.timeout_secs, 60.0);
        assert!(serde_json::from_value::<PythonEnvOptions>(json!({"atari": true})).is_err());
    }
}

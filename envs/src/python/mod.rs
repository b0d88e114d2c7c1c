//! A bridge that runs any Python Gymnasium environment (Atari through
//! `ale-py`, MuJoCo, third-party packages) as a somnium [`Env`].
//!
//! # Why a separate process
//!
//! Each [`PythonEnv`] starts its own `python3` child running a small worker
//! script embedded in this crate (`worker.py`, via `include_str!`), and talks
//! to it over the child's stdin and stdout (`protocol.rs`: a JSON header plus
//! raw little-endian bytes, so Atari frames are never JSON-encoded). We chose
//! this over embedding Python with pyo3 because:
//!
//! - a Python environment that segfaults, calls `exit` or hangs cannot take
//!   the Rust process down: it becomes an [`EnvError`] naming the
//!   environment, with the exit status and the end of the worker's stderr
//!   ([`EnvError::WorkerDied`]), or, after a per-call timeout, a killed
//!   worker and [`EnvError::Timeout`];
//! - the build needs neither pyo3 nor a Python interpreter, and so cannot
//!   clash with the pyo3 0.19 that `gymnasium-rs` links (two pyo3 versions
//!   cannot share one build);
//! - environments are spread over processes, so [`VecEnv`](crate::VecEnv)
//!   threads step them truly in parallel, without Python's GIL.
//!
//! The cost is one round trip through two pipes per call, tens of
//! microseconds; `docs/environments.md` has measured step rates.
//!
//! # Use
//!
//! ```no_run
//! use somnium_envs::python::{PythonEnv, PythonEnvOptions};
//! use somnium_envs::{Action, Env};
//!
//! let options = PythonEnvOptions { atari_preprocessing: true, ..Default::default() };
//! let mut env = PythonEnv::new("ALE/Pong-v5", options)?;
//! let obs = env.reset(Some(0))?; // 84x84x1 u8 image
//! let step = env.step(&Action::Discrete(1))?;
//! # Ok::<(), somnium_envs::EnvError>(())
//! ```
//!
//! or by id through [`make`](crate::make): `make("gym:CartPole-v1")`,
//! `make("gym:ALE/Breakout-v5?atari&frame_stack=4")` (see [`GymSpec`]).
//!
//! A Python exception becomes [`EnvError::Python`] with the traceback; a
//! missing `gymnasium` (or `ale-py`) says what to `pip install`. Stepping
//! before `reset` or after the episode ended, and actions outside the action
//! space, are caught here before Python sees them, with the same errors as
//! the native environments.

#[cfg(not(unix))]
compile_error!(
    "the `python` feature of somnium-envs needs a Unix system (Linux, macOS): \
     it uses poll(2) and process groups"
);

mod options;
mod process;
mod protocol;
mod spaces;

pub use options::{AtariFrames, GYM_PREFIX, GymSpec, PYTHON_ENV_VAR, PythonEnvOptions};

use std::sync::Mutex;

use serde_json::{Value, json};

use self::process::WorkerProcess;
use self::protocol::{Message, f32s_from_le, json_f64};
use self::spaces::{ActionLayout, ObsLayout, action_layout, observation_layout};
use crate::wrappers::FrameStack;
use crate::{Action, Env, EnvError, Frame, Observation, Space, Step};

/// Versions the worker reported when it started.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerInfo {
    /// Python's version, e.g. `3.11.7`.
    pub python: String,
    /// Gymnasium's version, e.g. `1.4.0`.
    pub gymnasium: String,
    /// NumPy's version.
    pub numpy: String,
}

/// A Python Gymnasium environment, run in a worker process of its own.
///
/// Dropping it closes the environment and ends the process (killing it if it
/// does not exit within a second).
pub struct PythonEnv {
    /// `gym:<gymnasium id>`.
    id: String,
    /// Behind a mutex because [`Env::render`] takes `&self`.
    worker: Mutex<WorkerProcess>,
    observation: ObsLayout,
    action: ActionLayout,
    info: WorkerInfo,
    max_episode_steps: Option<u64>,
    /// Whether `reset` has been called.
    started: bool,
    /// Whether `step` may be called.
    running: bool,
}

impl PythonEnv {
    /// Start a worker and call `gymnasium.make(id, **options.kwargs)` in it
    /// (with Atari preprocessing if asked), mapping its spaces onto ours.
    ///
    /// `id` is a Gymnasium id such as `CartPole-v1` or `ALE/Pong-v5`
    /// (a leading `gym:` is ignored).
    ///
    /// # Errors
    /// [`EnvError::External`] if the interpreter cannot be started or a space
    /// has no counterpart here; [`EnvError::Python`] if Python raised (a
    /// missing package, an unknown id, bad keyword arguments);
    /// [`EnvError::WorkerDied`] or [`EnvError::Timeout`] if the worker did.
    pub fn new(id: &str, options: PythonEnvOptions) -> Result<Self, EnvError> {
        let gym_id = id.strip_prefix(GYM_PREFIX).unwrap_or(id);
        let env_id = format!("{GYM_PREFIX}{gym_id}");
        let mut worker = WorkerProcess::spawn(
            &env_id,
            &options.interpreter(),
            options.startup_timeout(),
            options.forward_stderr,
        )?;
        let hello = worker.hello.clone();
        let version = |key: &str| hello[key].as_str().unwrap_or("?").to_string();
        let info = WorkerInfo {
            python: version("python"),
            gymnasium: version("gymnasium"),
            numpy: version("numpy"),
        };
        let made = worker.call(
            "make",
            &Message::new(json!({
                "cmd": "make",
                "id": gym_id,
                "kwargs": options.kwargs,
                "atari_preprocessing": options.atari_preprocessing,
                "atari": options.atari,
                "render": options.render,
                "imports": options.imports,
                "sys_path": options.sys_path,
            })),
        )?;
        let unsupported = |message: String| EnvError::External {
            env: env_id.clone(),
            message,
        };
        let observation =
            observation_layout(&made.header["observation_space"]).map_err(unsupported)?;
        let action = action_layout(&made.header["action_space"]).map_err(unsupported)?;
        let mut configure = observation.to_json();
        configure["cmd"] = json!("configure");
        worker.call("configure", &Message::new(configure))?;
        worker.set_timeout(options.timeout());
        Ok(Self {
            id: env_id,
            worker: Mutex::new(worker),
            observation,
            action,
            info,
            max_episode_steps: made.header["max_episode_steps"].as_u64(),
            started: false,
            running: false,
        })
    }

    /// Versions of Python, Gymnasium and NumPy in the worker.
    pub fn worker_info(&self) -> &WorkerInfo {
        &self.info
    }

    /// The worker's process id (to watch it, or to kill it in tests).
    pub fn worker_pid(&self) -> u32 {
        self.lock().pid()
    }

    /// The last few kilobytes the worker wrote to stderr (warnings, prints).
    pub fn stderr_tail(&self) -> String {
        self.lock().stderr_tail()
    }

    /// The `max_episode_steps` of the Gymnasium spec, where it has one.
    pub fn max_episode_steps(&self) -> Option<u64> {
        self.max_episode_steps
    }

    /// An attribute of the unwrapped Python environment, as JSON (NumPy
    /// arrays become lists; non-finite floats the strings `"inf"`, `"-inf"`,
    /// `"nan"`; other objects their `repr`). For example `"state"` of
    /// CartPole is its float64 state.
    pub fn get_attr(&self, name: &str) -> Result<Value, EnvError> {
        let reply = self.lock().call(
            "get_attr",
            &Message::new(json!({"cmd": "get_attr", "name": name})),
        )?;
        Ok(reply.header["value"].clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WorkerProcess> {
        self.worker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decode an observation payload according to the observation layout.
    fn observation(&self, payload: Vec<u8>) -> Result<Observation, EnvError> {
        if payload.len() != self.observation.payload_len() {
            return Err(EnvError::External {
                env: self.id.clone(),
                message: format!(
                    "the observation has {} bytes, expected {} for {}; the Python \
                     environment returned an observation outside its observation space",
                    payload.len(),
                    self.observation.payload_len(),
                    self.observation.space.describe()
                ),
            });
        }
        Ok(if self.observation.bytes {
            Observation::Image(payload)
        } else {
            Observation::Vector(f32s_from_le(&payload))
        })
    }

    /// The action as the worker expects it, checked against the action space.
    fn action_json(&self, action: &Action) -> Result<Value, EnvError> {
        let problem = match (&self.action, action) {
            (ActionLayout::Discrete { space, start }, Action::Discrete(a)) => {
                let n = space.discrete_n().unwrap_or(0);
                if *a < n {
                    return Ok(json!(start + *a as i64));
                }
                format!("discrete action {a} is out of range 0..{n}")
            }
            (ActionLayout::Box { space }, Action::Continuous(v)) => {
                if v.len() != space.flat_len() {
                    format!(
                        "expected {} continuous values, got {}",
                        space.flat_len(),
                        v.len()
                    )
                } else if v.iter().any(|x| x.is_nan()) {
                    "the action contains NaN".to_string()
                } else {
                    return Ok(json!(v));
                }
            }
            (layout, action) => format!(
                "action {action:?} does not belong to {}",
                layout.space().describe()
            ),
        };
        Err(EnvError::InvalidAction {
            env: self.id.clone(),
            problem,
        })
    }
}

impl Env for PythonEnv {
    fn id(&self) -> &str {
        &self.id
    }

    fn observation_space(&self) -> &Space {
        &self.observation.space
    }

    fn action_space(&self) -> &Space {
        self.action.space()
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<Observation, EnvError> {
        self.running = false;
        let reply = self.lock().call(
            "reset",
            &Message::new(json!({"cmd": "reset", "seed": seed})),
        )?;
        let obs = self.observation(reply.payload)?;
        self.started = true;
        self.running = true;
        Ok(obs)
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let action = self.action_json(action)?;
        if !self.running {
            return Err(EnvError::BadCall {
                env: self.id.clone(),
                problem: if self.started {
                    "step called after the episode ended; call reset first"
                } else {
                    "step called before reset"
                }
                .to_string(),
            });
        }
        // Until the step succeeds, the episode counts as broken.
        self.running = false;
        let reply = self.lock().call(
            "step",
            &Message::new(json!({"cmd": "step", "action": action})),
        )?;
        let header = &reply.header;
        let reward = json_f64(&header["reward"]).unwrap_or(f64::NAN) as f32;
        let terminated = header["terminated"].as_bool().unwrap_or(true);
        let truncated = header["truncated"].as_bool().unwrap_or(false);
        let obs = self.observation(reply.payload)?;
        self.running = !(terminated || truncated);
        Ok(Step {
            obs,
            reward,
            terminated,
            truncated,
        })
    }

    /// The frame of Python's `render()`, for environments made with
    /// [`PythonEnvOptions::render`]; `None` otherwise, before the first
    /// reset, or if rendering failed (the worker's error is dropped here).
    fn render(&self) -> Option<Frame> {
        if !self.started {
            return None;
        }
        let reply = self
            .lock()
            .call("render", &Message::new(json!({"cmd": "render"})))
            .ok()?;
        let shape: Vec<usize> = serde_json::from_value(reply.header["shape"].clone()).ok()?;
        frame_from(&shape, reply.payload)
    }
}

/// An RGB frame from a `uint8` array of shape `[H, W]`, `[H, W, 3]` or `[H, W, 4]`.
fn frame_from(shape: &[usize], pixels: Vec<u8>) -> Option<Frame> {
    let (height, width, channels) = match *shape {
        [h, w] => (h, w, 1),
        [h, w, c @ (1 | 3 | 4)] => (h, w, c),
        _ => return None,
    };
    if pixels.len() != height * width * channels {
        return None;
    }
    let rgb = match channels {
        3 => pixels,
        _ => pixels
            .chunks_exact(channels)
            .flat_map(|p| {
                if channels == 1 {
                    [p[0]; 3]
                } else {
                    [p[0], p[1], p[2]]
                }
            })
            .collect(),
    };
    Some(Frame { height, width, rgb })
}

/// Build the environment for a `gym:` id (see [`GymSpec`]), stacking frames
/// with our [`FrameStack`] when the id asks for it. [`crate::make`] calls
/// this for every id that starts with `gym:`.
pub fn make(spec: &str) -> Result<Box<dyn Env>, EnvError> {
    let spec = GymSpec::parse(spec)?;
    let env = PythonEnv::new(&spec.id, spec.options)?;
    Ok(if spec.frame_stack > 1 {
        Box::new(FrameStack::new(env, spec.frame_stack))
    } else {
        Box::new(env)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_become_rgb() {
        let gray = frame_from(&[1, 2], vec![7, 9]).unwrap();
        assert_eq!(gray.rgb, vec![7, 7, 7, 9, 9, 9]);
        let rgba = frame_from(&[1, 1, 4], vec![1, 2, 3, 4]).unwrap();
        assert_eq!(rgba.rgb, vec![1, 2, 3]);
        assert!(frame_from(&[2, 2, 3], vec![0; 5]).is_none());
        assert!(frame_from(&[2, 2, 2], vec![0; 8]).is_none());
    }
}

//! The Python Gymnasium bridge against real Python: agreement with our
//! native CartPole, errors with tracebacks, dead and hung workers, Atari.
//!
//! Compiled only with the `python` feature:
//! `cargo test -p somnium-envs --features python --test python_bridge`.
//! Needs `python3` (or `$SOMNIUM_PYTHON`) with `gymnasium==1.4.0`, and for
//! the Atari tests `ale-py==0.12.1` and `opencv-python-headless` (which
//! `.ci/run` installs). Without them the tests print why and pass, unless
//! `SOMNIUM_REQUIRE_PYTHON=1` is set (CI sets it after installing them):
//! then they fail, saying what to install.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use somnium_envs::classic::CartPole;
use somnium_envs::python::{PYTHON_ENV_VAR, PythonEnv, PythonEnvOptions};
use somnium_envs::{Action, Env, EnvError, Observation, Space, VecEnv, make};

const PIP: &str = "pip install gymnasium==1.4.0 ale-py==0.12.1 opencv-python-headless==5.0.0.93";

/// Whether the Python modules are missing and the test should return early.
/// Panics, saying what to install, when they are missing and
/// `SOMNIUM_REQUIRE_PYTHON=1` is set.
fn skip(modules: &'static str) -> bool {
    /// Which module lists were probed, and the outcome.
    type Probe = (&'static str, Result<(), String>);
    static PROBES: Mutex<Vec<Probe>> = Mutex::new(Vec::new());
    let mut probes = PROBES.lock().unwrap_or_else(|e| e.into_inner());
    let result = match probes.iter().find(|(m, _)| *m == modules) {
        Some((_, result)) => result.clone(),
        None => {
            let result = probe(modules);
            probes.push((modules, result.clone()));
            result
        }
    };
    match result {
        Ok(()) => false,
        Err(why) if std::env::var("SOMNIUM_REQUIRE_PYTHON").as_deref() != Ok("1") => {
            eprintln!("skipped: {why} (install them with `{PIP}`)");
            true
        }
        Err(why) => panic!(
            "SOMNIUM_REQUIRE_PYTHON=1 but the Python bridge tests' packages are missing: {why}\n\
             install them with `{PIP}`"
        ),
    }
}

/// Try `import <modules>` in the interpreter the bridge will use.
fn probe(modules: &str) -> Result<(), String> {
    let python = PythonEnvOptions::default().interpreter();
    let out = Command::new(&python)
        .arg("-c")
        .arg(format!("import {modules}"))
        .output()
        .map_err(|e| format!("cannot run `{}` ({e})", python.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "`{} -c 'import {modules}'` failed: {}",
            python.display(),
            stderr.lines().last().unwrap_or("")
        ))
    }
}

fn options() -> PythonEnvOptions {
    PythonEnvOptions::default()
}

/// A folder holding `somnium_faulty_env.py`, which registers `SomniumFaulty-v0`:
/// action 0 steps normally, 1 raises, 2 hangs, 3 exits the process with status 7.
/// One fixed folder, so runs do not pile up folders; files are replaced
/// atomically (written aside, then renamed), so concurrent runs are safe.
fn faulty_module() -> PathBuf {
    let dir = std::env::temp_dir().join("somnium-python-bridge-tests");
    std::fs::create_dir_all(&dir).unwrap();
    write_atomically(
        &dir.join("somnium_faulty_env.py"),
        r#"
import os, sys, time
import numpy as np
import gymnasium as gym

class Faulty(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float64)
    action_space = gym.spaces.Discrete(4)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2), {}

    def step(self, action):
        if action == 1:
            raise ValueError("the faulty environment refuses action 1")
        if action == 2:
            time.sleep(3600)
        if action == 3:
            print("faulty env: exiting now", file=sys.stderr, flush=True)
            os._exit(7)
        return np.full(2, 0.5), 0.25, False, False, {}

gym.register("SomniumFaulty-v0", entry_point=Faulty)
"#,
    );
    dir
}

/// Write `contents` to `path` by renaming a fully written file over it.
fn write_atomically(path: &std::path::Path, contents: &str) {
    let aside = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&aside, contents).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

fn faulty(timeout_secs: f64) -> PythonEnv {
    faulty_with(timeout_secs, PythonEnvOptions::default().interpreter())
}

fn faulty_with(timeout_secs: f64, python: PathBuf) -> PythonEnv {
    let options = PythonEnvOptions {
        imports: vec!["somnium_faulty_env".into()],
        sys_path: vec![faulty_module()],
        timeout_secs,
        python: Some(python),
        ..options()
    };
    PythonEnv::new("SomniumFaulty-v0", options).unwrap()
}

/// An executable shell script `name` (in the test folder) running `line`.
fn wrapper(name: &str, line: &str) -> PathBuf {
    let script = faulty_module().join(name);
    let aside = script.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&aside, format!("#!/bin/sh\n{line}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&aside, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::rename(&aside, &script).unwrap();
    script
}

/// Whether process `pid` is gone (or a zombie) within a few seconds. A
/// killed grandchild stays a zombie until its new parent reaps it.
fn dies_soon(pid: u32) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let dead = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the parenthesised command name.
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
            Err(_) => !Command::new("kill")
                .args(["-0", &pid.to_string()])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
        };
        if dead {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn vector(obs: &Observation) -> &[f32] {
    match obs {
        Observation::Vector(v) => v,
        Observation::Image(_) => panic!("expected a vector observation"),
    }
}

fn assert_close(python: &Observation, native: &Observation, what: &str) {
    let (p, n) = (vector(python), vector(native));
    assert_eq!(p.len(), n.len(), "{what}");
    for (i, (a, b)) in p.iter().zip(n).enumerate() {
        assert!(
            (a - b).abs() <= 1e-6,
            "{what}: element {i}: python {a}, native {b}"
        );
    }
}

#[test]
fn cartpole_agrees_with_the_native_one_step_for_step() {
    if skip("gymnasium") {
        return;
    }
    let mut python = PythonEnv::new("CartPole-v1", options()).unwrap();
    let mut native = CartPole::new();
    assert_eq!(python.id(), "gym:CartPole-v1");
    assert_eq!(python.observation_space(), native.observation_space());
    assert_eq!(python.action_space(), native.action_space());
    assert_eq!(python.max_episode_steps(), Some(500));
    eprintln!("worker: {:?}", python.worker_info());

    let mut total_steps = 0;
    let mut truncations = 0;
    for seed in 0..6u64 {
        let first = python.reset(Some(seed)).unwrap();
        // Our generator differs from numpy's: start from Python's float64 state.
        let state: [f64; 4] = serde_json::from_value(python.get_attr("state").unwrap()).unwrap();
        native.reset(Some(seed)).unwrap();
        native.set_state(state);
        let expected = Observation::Vector(state.iter().map(|&v| v as f32).collect());
        assert_close(&first, &expected, "reset");
        // Seeds 0..3 play a fixed pseudo-random sequence; 3..6 balance the
        // pole (push towards the lean) and so reach the 500-step truncation.
        let mut lcg = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut obs = first;
        for t in 0.. {
            lcg = lcg
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let a = if seed < 3 {
                (lcg >> 33) as usize % 2
            } else {
                let o = vector(&obs);
                usize::from(o[2] + 0.5 * o[3] > 0.0)
            };
            let p = python.step(&Action::Discrete(a)).unwrap();
            let n = native.step(&Action::Discrete(a)).unwrap();
            let what = format!("seed {seed}, step {t}");
            assert_close(&p.obs, &n.obs, &what);
            assert_eq!(
                (p.reward, p.terminated, p.truncated),
                (n.reward, n.terminated, n.truncated),
                "{what}"
            );
            total_steps += 1;
            obs = p.obs;
            if p.terminated || p.truncated {
                truncations += usize::from(p.truncated);
                break;
            }
        }
        // Both refuse to step a finished episode.
        assert!(matches!(
            python.step(&Action::Discrete(0)),
            Err(EnvError::BadCall { .. })
        ));
    }
    assert!(truncations >= 1, "no episode reached the time limit");
    assert!(total_steps > 500, "{total_steps}");
}

#[test]
fn calls_out_of_order_and_bad_actions_are_caught_before_python() {
    if skip("gymnasium") {
        return;
    }
    let mut env = PythonEnv::new("CartPole-v1", options()).unwrap();
    assert!(matches!(
        env.step(&Action::Discrete(0)),
        Err(EnvError::BadCall { .. })
    ));
    assert!(env.render().is_none());
    env.reset(None).unwrap();
    for bad in [Action::Discrete(2), Action::Continuous(vec![0.0])] {
        assert!(matches!(
            env.step(&bad),
            Err(EnvError::InvalidAction { .. })
        ));
    }
    assert!(env.step(&Action::Discrete(1)).is_ok());
}

#[test]
fn python_exceptions_carry_the_traceback() {
    if skip("gymnasium") {
        return;
    }
    let Err(err) = PythonEnv::new("NoSuchEnvironment-v0", options()) else {
        panic!("a bad id made an environment");
    };
    let text = err.to_string();
    assert!(matches!(err, EnvError::Python { .. }), "{text}");
    assert!(text.contains("gym:NoSuchEnvironment-v0"), "{text}");
    assert!(text.contains("NameNotFound"), "{text}");
    assert!(text.contains("Traceback (most recent call last)"), "{text}");
    assert!(matches!(
        make("gym:NoSuchEnvironment-v0"),
        Err(EnvError::Python { .. })
    ));

    let Err(EnvError::Python { message, .. }) =
        make("gym:CartPole-v1?no_such_keyword=3").map(|_| ())
    else {
        panic!("a bad keyword argument was accepted");
    };
    assert!(message.contains("TypeError"), "{message}");

    let mut env = faulty(60.0);
    env.reset(Some(1)).unwrap();
    assert_eq!(
        env.step(&Action::Discrete(0)).unwrap().obs,
        Observation::Vector(vec![0.5, 0.5])
    );
    match env.step(&Action::Discrete(1)) {
        Err(EnvError::Python {
            env: id,
            message,
            traceback,
        }) => {
            assert_eq!(id, "gym:SomniumFaulty-v0");
            assert_eq!(
                message,
                "ValueError: the faulty environment refuses action 1"
            );
            assert!(traceback.contains("somnium_faulty_env.py"), "{traceback}");
            assert!(traceback.contains("in step"), "{traceback}");
        }
        other => panic!("expected a Python error, got {other:?}"),
    }
    // The worker lives on; the broken episode must be reset.
    assert!(matches!(
        env.step(&Action::Discrete(0)),
        Err(EnvError::BadCall { .. })
    ));
    env.reset(None).unwrap();
    assert!(env.step(&Action::Discrete(0)).is_ok());
}

#[test]
fn a_killed_worker_is_an_error_not_a_hang() {
    if skip("gymnasium") {
        return;
    }
    let mut env = PythonEnv::new("CartPole-v1", options()).unwrap();
    env.reset(Some(0)).unwrap();
    env.step(&Action::Discrete(0)).unwrap();
    let pid = env.worker_pid();
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let start = Instant::now();
    let err = env.step(&Action::Discrete(1)).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(10));
    let text = err.to_string();
    assert!(matches!(err, EnvError::WorkerDied { .. }), "{text}");
    assert!(text.contains("gym:CartPole-v1"), "{text}");
    assert!(text.contains("signal 9"), "{text}");
    // Every later call fails at once with the same cause.
    let again = env.reset(None).unwrap_err().to_string();
    assert!(
        again.contains("already stopped") && again.contains("signal 9"),
        "{again}"
    );
}

#[test]
fn a_worker_that_exits_reports_its_status_and_stderr() {
    if skip("gymnasium") {
        return;
    }
    let mut env = faulty(60.0);
    env.reset(None).unwrap();
    let err = env.step(&Action::Discrete(3)).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, EnvError::WorkerDied { .. }), "{text}");
    assert!(text.contains("exited with status 7"), "{text}");
    assert!(text.contains("faulty env: exiting now"), "{text}");
}

#[test]
fn a_hung_worker_times_out_and_is_killed() {
    if skip("gymnasium") {
        return;
    }
    // Through a wrapper that forks the interpreter rather than exec-ing it,
    // so that killing the process we started is not enough.
    let python = PythonEnvOptions::default().interpreter();
    let forking = wrapper(
        "python-forking.sh",
        &format!("'{}' \"$@\"", python.display()),
    );
    let mut env = faulty_with(1.0, forking);
    env.reset(None).unwrap();
    let pid = env.worker_pid();
    let start = Instant::now();
    let err = env.step(&Action::Discrete(2)).unwrap_err();
    let waited = start.elapsed();
    assert!(
        matches!(err, EnvError::Timeout { seconds: 1.0, .. }),
        "{err}"
    );
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    // The interpreter itself is dead, not just the wrapper we started.
    assert!(dies_soon(pid), "worker {pid} still runs");
    let again = env.reset(None).unwrap_err().to_string();
    assert!(again.contains("took longer than 1 s"), "{again}");
}

#[test]
fn dropping_the_env_ends_the_worker() {
    if skip("gymnasium") {
        return;
    }
    let env = PythonEnv::new("CartPole-v1", options()).unwrap();
    let pid = env.worker_pid();
    drop(env);
    assert!(dies_soon(pid), "worker {pid} outlived its env");
}

#[test]
fn missing_python_or_gymnasium_says_what_to_install() {
    if skip("gymnasium") {
        return;
    }
    let missing = PythonEnvOptions {
        python: Some("/nonexistent/python3".into()),
        ..options()
    };
    let text = PythonEnv::new("CartPole-v1", missing)
        .err()
        .unwrap()
        .to_string();
    assert!(
        text.contains("could not start") && text.contains(PYTHON_ENV_VAR),
        "{text}"
    );

    // An interpreter without site-packages has no gymnasium.
    let python = PythonEnvOptions::default().interpreter();
    let bare = PythonEnvOptions {
        python: Some(wrapper(
            "python-without-site.sh",
            &format!("exec '{}' -S \"$@\"", python.display()),
        )),
        ..options()
    };
    let text = PythonEnv::new("CartPole-v1", bare)
        .err()
        .unwrap()
        .to_string();
    assert!(text.contains("No module named"), "{text}");
    assert!(text.contains("pip install"), "{text}");
}

#[test]
fn gym_ids_dispatch_through_make_and_vec_env() {
    if skip("gymnasium") {
        return;
    }
    let env = make("gym:CartPole-v1").unwrap();
    assert_eq!(env.id(), "gym:CartPole-v1");
    let mut envs = VecEnv::make("gym:CartPole-v1", 2, 2).unwrap();
    envs.reset(Some(0)).unwrap();
    for _ in 0..50 {
        envs.step(&[Action::Discrete(0), Action::Discrete(1)])
            .unwrap();
    }
}

#[test]
fn atari_with_preprocessing_gives_84x84_frames() {
    if skip("gymnasium, ale_py, cv2") {
        return;
    }
    let options = PythonEnvOptions {
        atari_preprocessing: true,
        render: true,
        ..options()
    };
    let mut env = PythonEnv::new("ALE/Pong-v5", options).unwrap();
    assert_eq!(
        env.observation_space(),
        &Space::Image {
            height: 84,
            width: 84,
            channels: 1
        }
    );
    assert_eq!(env.action_space(), &Space::Discrete { n: 6 });
    let first = env.reset(Some(0)).unwrap();
    let mut changed = false;
    for t in 0..60 {
        let step = env.step(&Action::Discrete(t % 6)).unwrap();
        let Observation::Image(pixels) = &step.obs else {
            panic!("expected an image");
        };
        assert_eq!(pixels.len(), 84 * 84);
        changed |= step.obs != first;
    }
    assert!(changed, "60 steps of Pong did not change the screen");
    let frame = env.render().unwrap();
    assert_eq!(
        (frame.height, frame.width, frame.rgb.len()),
        (210, 160, 210 * 160 * 3)
    );

    // By id, with our frame stack on top.
    let mut stacked = make("gym:ALE/Breakout-v5?atari&frame_stack=4").unwrap();
    assert_eq!(stacked.observation_space().shape(), vec![84, 84, 4]);
    let obs = stacked.reset(Some(1)).unwrap();
    assert_eq!(obs.len(), 84 * 84 * 4);
    let step = stacked.step(&Action::Discrete(1)).unwrap();
    assert_eq!(step.obs.len(), 84 * 84 * 4);

    // STORM's frames: 64 x 64 colour, no no-ops at reset.
    let mut colour =
        make("gym:ALE/Breakout-v5?atari&screen_size=64&grayscale=false&noop_max=0").unwrap();
    assert_eq!(
        colour.observation_space(),
        &Space::Image {
            height: 64,
            width: 64,
            channels: 3
        }
    );
    let obs = colour.reset(Some(1)).unwrap();
    assert_eq!(obs.len(), 64 * 64 * 3);
    let Observation::Image(pixels) = colour.step(&Action::Discrete(1)).unwrap().obs else {
        panic!("expected an image");
    };
    let channel = |c: usize| {
        pixels
            .iter()
            .skip(c)
            .step_by(3)
            .map(|&p| p as u64)
            .sum::<u64>()
    };
    assert!(
        channel(0) != channel(1) || channel(1) != channel(2),
        "colour frames whose three channels are the same"
    );
}

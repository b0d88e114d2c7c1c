//! Classic control against Gymnasium 1.4.0, step for step.
//!
//! `envs/scripts/record_classic.py` recorded episodes of `gymnasium.make(id)`
//! (initial internal state, then per step the action, observation, reward,
//! flags and internal state). Our RNG differs from numpy's, so each episode
//! starts with `reset` followed by `set_state(initial_state)`; then the
//! recorded actions are replayed and everything is compared.
//!
//! Tolerance: values `a` (ours) and `b` (Gymnasium) agree when
//! `|a - b| <= 1e-5 + 1e-5 |b|`; `terminated` and `truncated` must be equal.
//! The two run the same float64 arithmetic in the same order, so in practice
//! they differ only where libm's and numpy's `sin`/`cos` round differently.
//!
//! Two replays are checked: free-running from the initial state (the whole
//! trajectory must match), and teacher-forced, where the recorded state is
//! set before every step so that a one-step error cannot hide behind (or be
//! blamed on) chaos.

use std::path::PathBuf;

use serde::Deserialize;
use somnium_envs::classic::{Acrobot, CartPole, MountainCar, Pendulum};
use somnium_envs::{Action, Env, Observation};

const ATOL: f64 = 1e-5;
const RTOL: f64 = 1e-5;

#[derive(Deserialize)]
struct Recording {
    env_id: String,
    gymnasium_version: String,
    episodes: Vec<Episode>,
}

#[derive(Deserialize)]
struct Episode {
    seed: u64,
    initial_state: Vec<f64>,
    actions: Vec<f64>,
    obs: Vec<Vec<f32>>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    states: Vec<Vec<f64>>,
}

/// The concrete environments' state access, behind one interface.
trait WithState: Env {
    fn get(&self) -> Vec<f64>;
    fn set(&mut self, state: &[f64]);
    fn action(&self, recorded: f64) -> Action {
        Action::Discrete(recorded as usize)
    }
}

macro_rules! with_state {
    ($env:ty) => {
        impl WithState for $env {
            fn get(&self) -> Vec<f64> {
                self.state().to_vec()
            }
            fn set(&mut self, state: &[f64]) {
                self.set_state(state.try_into().expect("state length"));
            }
        }
    };
}
with_state!(CartPole);
with_state!(Acrobot);
with_state!(MountainCar);

impl WithState for Pendulum {
    fn get(&self) -> Vec<f64> {
        self.state().to_vec()
    }
    fn set(&mut self, state: &[f64]) {
        self.set_state(state.try_into().expect("state length"));
    }
    fn action(&self, recorded: f64) -> Action {
        Action::Continuous(vec![recorded as f32])
    }
}

fn load(name: &str) -> Recording {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/classic_{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let recording: Recording =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(recording.gymnasium_version, "1.4.0", "{}", path.display());
    recording
}

/// Largest scaled error seen, for the failure messages and the summary line.
#[derive(Default)]
struct Worst {
    error: f64,
    /// State values compared, and how many were bit-identical.
    states: usize,
    identical_states: usize,
}

impl Worst {
    fn check(&mut self, what: &str, ours: f64, theirs: f64) {
        let error = (ours - theirs).abs() / (ATOL + RTOL * theirs.abs());
        self.error = self.error.max(error);
        assert!(error <= 1.0, "{what}: ours {ours:e}, Gymnasium {theirs:e}");
    }
}

fn replay<E: WithState>(make: fn() -> E, name: &str, teacher_forced: bool) -> f64 {
    let recording = load(name);
    let mut worst = Worst::default();
    let mut steps = 0;
    for (e, episode) in recording.episodes.iter().enumerate() {
        let mut env = make();
        assert_eq!(env.id(), recording.env_id);
        env.reset(Some(episode.seed)).unwrap();
        env.set(&episode.initial_state);
        for t in 0..episode.actions.len() {
            let at = format!("{} episode {e} step {t}", recording.env_id);
            if teacher_forced && t > 0 {
                env.set(&episode.states[t - 1]);
            }
            let step = env.step(&env.action(episode.actions[t])).unwrap();
            let Observation::Vector(obs) = &step.obs else {
                panic!("{at}: expected a vector observation");
            };
            assert_eq!(obs.len(), episode.obs[t].len(), "{at}: observation length");
            for (i, (&ours, &theirs)) in obs.iter().zip(&episode.obs[t]).enumerate() {
                worst.check(&format!("{at} obs[{i}]"), ours.into(), theirs.into());
            }
            for (i, (ours, &theirs)) in env.get().into_iter().zip(&episode.states[t]).enumerate() {
                worst.check(&format!("{at} state[{i}]"), ours, theirs);
                worst.states += 1;
                worst.identical_states += usize::from(ours.to_bits() == theirs.to_bits());
            }
            worst.check(
                &format!("{at} reward"),
                step.reward.into(),
                episode.rewards[t],
            );
            assert_eq!(step.terminated, episode.terminated[t], "{at}: terminated");
            assert_eq!(step.truncated, episode.truncated[t], "{at}: truncated");
            steps += 1;
        }
        let ended = episode.terminated.last().copied().unwrap_or(false)
            || episode.truncated.last().copied().unwrap_or(false);
        if ended {
            assert!(
                env.step(&env.action(episode.actions[0])).is_err(),
                "stepping a finished episode must fail"
            );
        }
    }
    let mode = if teacher_forced {
        "teacher-forced"
    } else {
        "free-running"
    };
    println!(
        "{}: {steps} steps {mode}, worst error {:.3} of tolerance, {}/{} state values bit-identical",
        recording.env_id, worst.error, worst.identical_states, worst.states
    );
    worst.error
}

fn both<E: WithState>(make: fn() -> E, name: &str) {
    replay(make, name, false);
    replay(make, name, true);
}

#[test]
fn cartpole_matches_gymnasium() {
    both(CartPole::new, "cartpole");
}

#[test]
fn pendulum_matches_gymnasium() {
    both(Pendulum::new, "pendulum");
}

#[test]
fn acrobot_matches_gymnasium() {
    both(Acrobot::new, "acrobot");
}

#[test]
fn mountain_car_matches_gymnasium() {
    both(MountainCar::new, "mountain_car");
}

#[test]
fn recordings_cover_termination_and_truncation() {
    for name in ["cartpole", "pendulum", "acrobot", "mountain_car"] {
        let recording = load(name);
        let truncated = recording
            .episodes
            .iter()
            .any(|e| e.truncated.last() == Some(&true));
        assert!(truncated, "{name}: no truncated episode recorded");
        if name != "pendulum" {
            let terminated = recording
                .episodes
                .iter()
                .any(|e| e.terminated.last() == Some(&true));
            assert!(terminated, "{name}: no terminated episode recorded");
        }
    }
}

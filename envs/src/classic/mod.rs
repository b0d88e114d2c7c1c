//! Classic control: CartPole, Pendulum, Acrobot and MountainCar.
//!
//! Each environment is a line-by-line port of Gymnasium 1.x
//! (`gymnasium/envs/classic_control`), including the order of floating-point
//! operations, so that trajectories agree with the Python reference to
//! rounding (checked by `tests/classic_conformance.rs` against recorded
//! Gymnasium runs). Each type already contains the `TimeLimit` that
//! `gymnasium.make` adds, so `CartPole::new()` behaves like
//! `gymnasium.make("CartPole-v1")`.
//!
//! Random initial states come from our own generator ([`rand::rngs::StdRng`]
//! seeded by the `u64` given to `reset`), not numpy's, so the same seed gives
//! a different (but equally distributed) start than in Python. Tests that need
//! Gymnasium's exact start set it with each type's `set_state`.
//!
//! Unlike Gymnasium, stepping a finished episode is an error
//! ([`EnvError::BadCall`]) rather than undefined behaviour.

mod acrobot;
mod canvas;
mod cartpole;
mod mountain_car;
mod pendulum;

pub use acrobot::Acrobot;
pub use cartpole::CartPole;
pub use mountain_car::MountainCar;
pub use pendulum::Pendulum;

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::{Action, EnvError, EnvSpec};

/// The registry entries of the classic-control family.
pub fn specs() -> Vec<EnvSpec> {
    vec![
        EnvSpec {
            id: CartPole::ID,
            reference: "gymnasium 1.x classic_control/cartpole.py (CartPole-v1)",
            make: || Box::new(CartPole::new()),
        },
        EnvSpec {
            id: Pendulum::ID,
            reference: "gymnasium 1.x classic_control/pendulum.py (Pendulum-v1)",
            make: || Box::new(Pendulum::new()),
        },
        EnvSpec {
            id: Acrobot::ID,
            reference: "gymnasium 1.x classic_control/acrobot.py (Acrobot-v1, book dynamics)",
            make: || Box::new(Acrobot::new()),
        },
        EnvSpec {
            id: MountainCar::ID,
            reference: "gymnasium 1.x classic_control/mountain_car.py (MountainCar-v0)",
            make: || Box::new(MountainCar::new()),
        },
    ]
}

/// The seed used when `reset(None)` is called on a never-seeded environment,
/// so that unseeded runs are still reproducible.
const DEFAULT_SEED: u64 = 0;

/// Where an episode stands, with the step counter of the built-in time limit.
///
/// Shared by the four environments so that they agree on the order of calls:
/// `step` before the first `reset`, or after `terminated`/`truncated`, is a
/// [`EnvError::BadCall`].
#[derive(Debug)]
struct Episode {
    /// Steps taken in the current episode.
    steps: u32,
    /// Steps after which the episode is truncated.
    limit: u32,
    /// Whether `step` may be called.
    running: bool,
    /// Whether `reset` has ever been called.
    started: bool,
    /// The environment's random stream (initial states only).
    rng: StdRng,
}

impl Episode {
    fn new(limit: u32) -> Self {
        Self {
            steps: 0,
            limit,
            running: false,
            started: false,
            rng: StdRng::seed_from_u64(DEFAULT_SEED),
        }
    }

    /// Reseed if asked, and start a new episode.
    fn reset(&mut self, seed: Option<u64>) -> &mut StdRng {
        if let Some(seed) = seed {
            self.rng = StdRng::seed_from_u64(seed);
        }
        self.steps = 0;
        self.running = true;
        self.started = true;
        &mut self.rng
    }

    /// Fail unless a step is allowed now.
    fn check_step(&self, id: &str) -> Result<(), EnvError> {
        if self.running {
            return Ok(());
        }
        let problem = if self.started {
            "step called after the episode ended; call reset first"
        } else {
            "step called before reset"
        };
        Err(EnvError::BadCall {
            env: id.to_string(),
            problem: problem.to_string(),
        })
    }

    /// Count one step; returns `truncated` (Gymnasium's `TimeLimit`: true once
    /// the limit is reached, even on a terminating step).
    fn advance(&mut self, terminated: bool) -> bool {
        self.steps += 1;
        let truncated = self.steps >= self.limit;
        if terminated || truncated {
            self.running = false;
        }
        truncated
    }
}

/// The index of a discrete action, checked against `n` choices.
fn discrete_action(id: &str, action: &Action, n: usize) -> Result<usize, EnvError> {
    match action {
        Action::Discrete(a) if *a < n => Ok(*a),
        Action::Discrete(a) => Err(EnvError::InvalidAction {
            env: id.to_string(),
            problem: format!("discrete action {a} is out of range 0..{n}"),
        }),
        Action::Continuous(_) => Err(EnvError::InvalidAction {
            env: id.to_string(),
            problem: format!("expected a discrete action in 0..{n}, got a continuous one"),
        }),
    }
}

/// The single component of a one-dimensional continuous action.
fn scalar_action(id: &str, action: &Action) -> Result<f32, EnvError> {
    let problem = match action {
        Action::Continuous(v) if v.len() == 1 && !v[0].is_nan() => return Ok(v[0]),
        Action::Continuous(v) if v.len() == 1 => "the action is NaN".to_string(),
        Action::Continuous(v) => format!("expected 1 continuous value, got {}", v.len()),
        Action::Discrete(_) => "expected a continuous action, got a discrete one".to_string(),
    };
    Err(EnvError::InvalidAction {
        env: id.to_string(),
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episode_orders_calls_and_truncates_at_the_limit() {
        let mut ep = Episode::new(2);
        assert!(matches!(ep.check_step("x"), Err(EnvError::BadCall { .. })));
        ep.reset(Some(1));
        assert!(ep.check_step("x").is_ok());
        assert!(!ep.advance(false));
        assert!(ep.advance(false));
        assert!(ep.check_step("x").is_err());
        ep.reset(None);
        assert!(!ep.advance(true));
        assert!(ep.check_step("x").is_err());
    }

    #[test]
    fn actions_are_checked() {
        assert_eq!(discrete_action("x", &Action::Discrete(1), 2).unwrap(), 1);
        assert!(discrete_action("x", &Action::Discrete(2), 2).is_err());
        assert!(discrete_action("x", &Action::Continuous(vec![0.0]), 2).is_err());
        assert_eq!(
            scalar_action("x", &Action::Continuous(vec![0.5])).unwrap(),
            0.5
        );
        assert!(scalar_action("x", &Action::Continuous(vec![f32::NAN])).is_err());
        assert!(scalar_action("x", &Action::Continuous(vec![0.0, 1.0])).is_err());
    }
}

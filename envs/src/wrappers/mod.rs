//! Wrappers: environments that change another environment's interface.
//!
//! Each wrapper is a struct generic over `E: Env` that itself implements
//! [`Env`](crate::Env), so they nest (`FrameStack<ResizeGrayscale<PixelObservation<CartPole>>>`)
//! without boxing, and `inner`/`into_inner` reach the wrapped environment.
//! They follow the Gymnasium wrappers of the same names, and Machado et al.
//! (2018), "Revisiting the Arcade Learning Environment", for sticky actions.

mod action_repeat;
mod clip_reward;
mod episode_statistics;
mod frame_stack;
mod image;
mod pixel_observation;
mod resize_grayscale;
mod sticky_actions;
mod time_limit;

pub use action_repeat::ActionRepeat;
pub use clip_reward::ClipReward;
pub use episode_statistics::EpisodeStatistics;
pub use frame_stack::FrameStack;
pub use pixel_observation::PixelObservation;
pub use resize_grayscale::ResizeGrayscale;
pub use sticky_actions::StickyActions;
pub use time_limit::TimeLimit;

use crate::{Action, EnvError, Space};

/// `inner`, `inner_mut` and `into_inner` for a wrapper whose wrapped
/// environment is the field `env`.
macro_rules! inner_access {
    ($wrapper:ident) => {
        impl<E> $wrapper<E> {
            /// The wrapped environment.
            pub fn inner(&self) -> &E {
                &self.env
            }

            /// The wrapped environment, mutably (changing its episode state
            /// behind the wrapper's back voids the wrapper's guarantees).
            pub fn inner_mut(&mut self) -> &mut E {
                &mut self.env
            }

            /// Unwrap.
            pub fn into_inner(self) -> E {
                self.env
            }
        }
    };
}
use inner_access;

/// Check that `action` belongs to `space` (kind, range or length), for
/// wrappers that may not pass the agent's action on.
fn check_action(env: &str, space: &Space, action: &Action) -> Result<(), EnvError> {
    let problem = match (space, action) {
        (Space::Discrete { n }, Action::Discrete(a)) if a < n => return Ok(()),
        (Space::Discrete { n }, Action::Discrete(a)) => {
            format!("discrete action {a} is out of range 0..{n}")
        }
        (Space::Box { low, .. }, Action::Continuous(v)) if v.len() == low.len() => return Ok(()),
        (Space::Box { low, .. }, Action::Continuous(v)) => {
            format!("expected {} continuous values, got {}", low.len(), v.len())
        }
        (space, action) => format!("action {action:?} does not belong to {}", space.describe()),
    };
    Err(EnvError::InvalidAction {
        env: env.to_string(),
        problem,
    })
}

/// A tiny deterministic environment for the wrappers' unit tests.
#[cfg(test)]
pub(crate) mod test_env {
    use crate::{Action, Env, EnvError, Frame, Observation, Space, Step};

    /// Observes `[steps, last action]` (or a 4x6 RGB image filled with
    /// `steps`); reward is the action index minus 1; terminates after
    /// `episode_len` steps.
    pub(crate) struct Counter {
        pub(crate) episode_len: usize,
        pub(crate) steps: usize,
        pub(crate) last_action: usize,
        pub(crate) actions_seen: Vec<usize>,
        running: bool,
        image: bool,
        observation_space: Space,
        action_space: Space,
    }

    impl Counter {
        pub(crate) fn new(episode_len: usize) -> Self {
            Self::build(episode_len, false)
        }

        pub(crate) fn image(episode_len: usize) -> Self {
            Self::build(episode_len, true)
        }

        fn build(episode_len: usize, image: bool) -> Self {
            let observation_space = if image {
                Space::Image {
                    height: 4,
                    width: 6,
                    channels: 3,
                }
            } else {
                Space::Box {
                    shape: vec![2],
                    low: vec![0.0, 0.0],
                    high: vec![f32::INFINITY, 2.0],
                }
            };
            Self {
                episode_len,
                steps: 0,
                last_action: 0,
                actions_seen: Vec::new(),
                running: false,
                image,
                observation_space,
                action_space: Space::Discrete { n: 3 },
            }
        }

        fn obs(&self) -> Observation {
            if self.image {
                Observation::Image(
                    (0..4 * 6 * 3)
                        .map(|i| (self.steps * 10 + i % 3) as u8)
                        .collect(),
                )
            } else {
                Observation::Vector(vec![self.steps as f32, self.last_action as f32])
            }
        }
    }

    impl Env for Counter {
        fn id(&self) -> &str {
            "Counter"
        }
        fn observation_space(&self) -> &Space {
            &self.observation_space
        }
        fn action_space(&self) -> &Space {
            &self.action_space
        }
        fn reset(&mut self, _seed: Option<u64>) -> Result<Observation, EnvError> {
            self.steps = 0;
            self.last_action = 0;
            self.running = true;
            Ok(self.obs())
        }
        fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
            let Action::Discrete(a) = action else {
                panic!("Counter takes discrete actions");
            };
            if !self.running {
                return Err(EnvError::BadCall {
                    env: "Counter".into(),
                    problem: "episode over".into(),
                });
            }
            self.steps += 1;
            self.last_action = *a;
            self.actions_seen.push(*a);
            let terminated = self.steps >= self.episode_len;
            self.running = !terminated;
            Ok(Step {
                obs: self.obs(),
                reward: *a as f32 - 1.0,
                terminated,
                truncated: false,
            })
        }
        fn render(&self) -> Option<Frame> {
            Some(Frame {
                height: 2,
                width: 4,
                rgb: vec![(self.steps * 20) as u8; 2 * 4 * 3],
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_checked_against_the_space() {
        let discrete = Space::Discrete { n: 2 };
        assert!(check_action("x", &discrete, &Action::Discrete(1)).is_ok());
        assert!(check_action("x", &discrete, &Action::Discrete(2)).is_err());
        assert!(check_action("x", &discrete, &Action::Continuous(vec![0.0])).is_err());
        let boxed = Space::uniform_box(vec![2], -1.0, 1.0);
        assert!(check_action("x", &boxed, &Action::Continuous(vec![0.0, 3.0])).is_ok());
        assert!(check_action("x", &boxed, &Action::Continuous(vec![0.0])).is_err());
    }
}

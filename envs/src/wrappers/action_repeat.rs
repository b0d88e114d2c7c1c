//! [`ActionRepeat`]: apply each action for several steps ("frame skip").

use super::inner_access;
use crate::{Action, Env, EnvError, Frame, Observation, Space, Step};

/// Repeats each action `repeat` times, summing the rewards and stopping early
/// when the episode ends; the observation is the last one seen.
///
/// This is the "action repeat" of DreamerV3 and the frame skip of Mnih et al.
/// (2015), without the max-pooling over the last two frames.
pub struct ActionRepeat<E> {
    env: E,
    repeat: usize,
}

inner_access!(ActionRepeat);

impl<E: Env> ActionRepeat<E> {
    /// Wrap `env`, repeating each action `repeat` times.
    ///
    /// # Panics
    /// If `repeat` is 0.
    pub fn new(env: E, repeat: usize) -> Self {
        assert!(repeat > 0, "ActionRepeat: repeat must be positive");
        Self { env, repeat }
    }
}

impl<E: Env> Env for ActionRepeat<E> {
    fn id(&self) -> &str {
        self.env.id()
    }
    fn observation_space(&self) -> &Space {
        self.env.observation_space()
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<Observation, EnvError> {
        self.env.reset(seed)
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let mut step = self.env.step(action)?;
        for _ in 1..self.repeat {
            if step.terminated || step.truncated {
                break;
            }
            let next = self.env.step(action)?;
            step = Step {
                reward: step.reward + next.reward,
                ..next
            };
        }
        Ok(step)
    }

    fn render(&self) -> Option<Frame> {
        self.env.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrappers::test_env::Counter;

    #[test]
    fn sums_rewards_and_stops_at_the_end() {
        let mut env = ActionRepeat::new(Counter::new(5), 2);
        env.reset(None).unwrap();
        let first = env.step(&Action::Discrete(2)).unwrap();
        assert_eq!(first.reward, 2.0);
        assert_eq!(first.obs, Observation::Vector(vec![2.0, 2.0]));
        env.step(&Action::Discrete(2)).unwrap();
        let last = env.step(&Action::Discrete(0)).unwrap();
        assert_eq!(last.reward, -1.0);
        assert!(last.terminated);
        assert_eq!(env.inner().steps, 5);
    }
}

//! [`TimeLimit`]: truncate episodes after a fixed number of steps.

use super::inner_access;
use crate::{Action, Env, EnvError, Frame, Observation, Space, Step};

/// Truncates episodes after `max_steps` steps, as Gymnasium's `TimeLimit`:
/// the step that reaches the limit reports `truncated = true`, even if it
/// also terminates. Stepping a finished episode is an [`EnvError::BadCall`].
pub struct TimeLimit<E> {
    env: E,
    max_steps: usize,
    elapsed: usize,
    running: bool,
}

inner_access!(TimeLimit);

impl<E: Env> TimeLimit<E> {
    /// Wrap `env` with a limit of `max_steps` steps per episode.
    ///
    /// # Panics
    /// If `max_steps` is 0.
    pub fn new(env: E, max_steps: usize) -> Self {
        assert!(max_steps > 0, "TimeLimit: max_steps must be positive");
        Self {
            env,
            max_steps,
            elapsed: 0,
            running: false,
        }
    }

    /// Steps taken in the current episode.
    pub fn elapsed(&self) -> usize {
        self.elapsed
    }
}

impl<E: Env> Env for TimeLimit<E> {
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
        let obs = self.env.reset(seed)?;
        self.elapsed = 0;
        self.running = true;
        Ok(obs)
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        if !self.running {
            return Err(EnvError::BadCall {
                env: self.env.id().to_string(),
                problem: "step called before reset or after the episode ended".to_string(),
            });
        }
        let mut step = self.env.step(action)?;
        self.elapsed += 1;
        step.truncated |= self.elapsed >= self.max_steps;
        self.running = !(step.terminated || step.truncated);
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
    fn truncates_at_the_limit_then_refuses_to_step() {
        let mut env = TimeLimit::new(Counter::new(100), 3);
        for _ in 0..2 {
            env.reset(None).unwrap();
            let flags: Vec<bool> = (0..3)
                .map(|_| env.step(&Action::Discrete(1)).unwrap().truncated)
                .collect();
            assert_eq!(flags, [false, false, true]);
            assert!(matches!(
                env.step(&Action::Discrete(1)),
                Err(EnvError::BadCall { .. })
            ));
        }
    }

    #[test]
    fn termination_before_the_limit_passes_through() {
        let mut env = TimeLimit::new(Counter::new(2), 2);
        env.reset(None).unwrap();
        env.step(&Action::Discrete(1)).unwrap();
        let last = env.step(&Action::Discrete(1)).unwrap();
        assert!(last.terminated && last.truncated);
        assert_eq!(env.elapsed(), 2);
        assert_eq!(env.into_inner().steps, 2);
    }
}

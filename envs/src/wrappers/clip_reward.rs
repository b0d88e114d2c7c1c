//! [`ClipReward`]: replace rewards by their sign, as in DQN's Atari setup.

use super::inner_access;
use crate::{Action, Env, EnvError, Frame, Observation, Space, Step};

/// Replaces each reward by its sign: -1, 0 or +1 (Mnih et al., 2015).
pub struct ClipReward<E> {
    env: E,
}

inner_access!(ClipReward);

impl<E: Env> ClipReward<E> {
    /// Wrap `env`.
    pub fn new(env: E) -> Self {
        Self { env }
    }
}

/// The sign of `r`, with 0 (and NaN) mapped to 0.
fn sign(r: f32) -> f32 {
    if r > 0.0 {
        1.0
    } else if r < 0.0 {
        -1.0
    } else {
        0.0
    }
}

impl<E: Env> Env for ClipReward<E> {
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
        let step = self.env.step(action)?;
        Ok(Step {
            reward: sign(step.reward),
            ..step
        })
    }

    fn render(&self) -> Option<Frame> {
        self.env.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic::Pendulum;

    #[test]
    fn rewards_become_signs() {
        assert_eq!(
            [sign(3.5), sign(-0.1), sign(0.0), sign(f32::NAN)],
            [1.0, -1.0, 0.0, 0.0]
        );
        let mut env = ClipReward::new(Pendulum::new());
        env.reset(Some(0)).unwrap();
        let step = env.step(&Action::Continuous(vec![1.0])).unwrap();
        assert_eq!(step.reward, -1.0);
    }
}

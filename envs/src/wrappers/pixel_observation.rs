//! [`PixelObservation`]: learn from pixels by observing `render()` instead of
//! the state.

use super::image::resize;
use super::inner_access;
use crate::{Action, Env, EnvError, Frame, Observation, Space, Step};

/// Replaces each observation by the wrapped environment's rendered frame,
/// resized to `size x size` RGB (the 64x64 input of DreamerV3's visual
/// control tasks). The observation space becomes `Image [size, size, 3]`.
pub struct PixelObservation<E> {
    env: E,
    size: usize,
    observation_space: Space,
}

inner_access!(PixelObservation);

impl<E: Env> PixelObservation<E> {
    /// Wrap `env`, observing frames resized to `size x size`.
    ///
    /// # Panics
    /// If `size` is 0.
    pub fn new(env: E, size: usize) -> Self {
        assert!(size > 0, "PixelObservation: size must be positive");
        Self {
            env,
            size,
            observation_space: Space::Image {
                height: size,
                width: size,
                channels: 3,
            },
        }
    }

    fn pixels(&self) -> Result<Observation, EnvError> {
        let frame = self.env.render().ok_or_else(|| EnvError::BadCall {
            env: self.env.id().to_string(),
            problem: "PixelObservation needs an environment that renders, but render() gave None"
                .to_string(),
        })?;
        Ok(Observation::Image(resize(
            &frame.rgb,
            [frame.height, frame.width, 3],
            [self.size, self.size],
        )))
    }
}

impl<E: Env> Env for PixelObservation<E> {
    fn id(&self) -> &str {
        self.env.id()
    }
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<Observation, EnvError> {
        self.env.reset(seed)?;
        self.pixels()
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let step = self.env.step(action)?;
        Ok(Step {
            obs: self.pixels()?,
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
    use crate::classic::CartPole;
    use crate::wrappers::test_env::Counter;

    #[test]
    fn observes_resized_frames() {
        let mut env = PixelObservation::new(Counter::new(5), 8);
        assert_eq!(env.observation_space().shape(), vec![8, 8, 3]);
        let obs = env.reset(None).unwrap();
        assert_eq!(obs, Observation::Image(vec![0; 8 * 8 * 3]));
        let step = env.step(&Action::Discrete(1)).unwrap();
        assert_eq!(step.obs, Observation::Image(vec![20; 8 * 8 * 3]));
    }

    #[test]
    fn cartpole_from_pixels() {
        let mut env = PixelObservation::new(CartPole::new(), 64);
        let obs = env.reset(Some(0)).unwrap();
        assert_eq!(obs.len(), 64 * 64 * 3);
        assert!(matches!(obs, Observation::Image(p) if p.iter().any(|&v| v < 128)));
    }
}

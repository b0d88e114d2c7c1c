//! [`ResizeGrayscale`]: shrink image observations and optionally drop colour,
//! the standard Atari preprocessing (Mnih et al., 2015).

use super::image::{grayscale, resize};
use super::inner_access;
use crate::{Action, Env, EnvError, Frame, Observation, Space, Step};

/// Resizes image observations to `height x width` (area averaging when
/// shrinking, bilinear when enlarging) and, if asked, converts RGB to one
/// luma channel.
pub struct ResizeGrayscale<E> {
    env: E,
    input: [usize; 3],
    output: [usize; 2],
    grayscale: bool,
    observation_space: Space,
}

inner_access!(ResizeGrayscale);

impl<E: Env> ResizeGrayscale<E> {
    /// Wrap `env`, whose observation space must be an image (with 3 channels
    /// if `grayscale`); otherwise a [`EnvError::BadCall`] names the problem.
    pub fn new(env: E, height: usize, width: usize, grayscale: bool) -> Result<Self, EnvError> {
        let bad = |problem: String| EnvError::BadCall {
            env: env.id().to_string(),
            problem,
        };
        let &Space::Image {
            height: h,
            width: w,
            channels: c,
        } = env.observation_space()
        else {
            return Err(bad(format!(
                "ResizeGrayscale needs image observations, not {}",
                env.observation_space().describe()
            )));
        };
        if grayscale && c != 3 {
            return Err(bad(format!(
                "grayscale conversion needs 3 channels, not {c}"
            )));
        }
        if height == 0 || width == 0 {
            return Err(bad(format!("cannot resize to {height}x{width}")));
        }
        Ok(Self {
            input: [h, w, c],
            output: [height, width],
            grayscale,
            observation_space: Space::Image {
                height,
                width,
                channels: if grayscale { 1 } else { c },
            },
            env,
        })
    }

    fn convert(&self, obs: Observation) -> Observation {
        let Observation::Image(pixels) = obs else {
            panic!(
                "{}: an image space gave a vector observation",
                self.env.id()
            );
        };
        let [h, w, c] = self.input;
        let (pixels, c) = if self.grayscale {
            (grayscale(&pixels), 1)
        } else {
            (pixels, c)
        };
        Observation::Image(resize(&pixels, [h, w, c], self.output))
    }
}

impl<E: Env> Env for ResizeGrayscale<E> {
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
        let obs = self.env.reset(seed)?;
        Ok(self.convert(obs))
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let step = self.env.step(action)?;
        Ok(Step {
            obs: self.convert(step.obs),
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
    fn resizes_and_grays() {
        let mut env = ResizeGrayscale::new(Counter::image(5), 2, 3, true).unwrap();
        assert_eq!(env.observation_space().shape(), vec![2, 3, 1]);
        env.reset(None).unwrap();
        let obs = env.step(&Action::Discrete(0)).unwrap().obs;
        // Every pixel is (10, 11, 12): luma 0.299*10 + 0.587*11 + 0.114*12 = 10.8.
        assert_eq!(obs, Observation::Image(vec![11; 6]));
    }

    #[test]
    fn keeps_colour_when_asked() {
        let mut env = ResizeGrayscale::new(Counter::image(5), 8, 12, false).unwrap();
        assert_eq!(env.reset(None).unwrap().len(), 8 * 12 * 3);
    }

    #[test]
    fn rejects_vector_observations() {
        assert!(ResizeGrayscale::new(CartPole::new(), 8, 8, true).is_err());
    }
}

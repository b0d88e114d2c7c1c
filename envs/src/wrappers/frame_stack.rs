//! [`FrameStack`]: observe the last `k` observations at once.

use std::collections::VecDeque;

use super::inner_access;
use crate::{Action, Env, EnvError, Frame, Observation, Space, Step};

/// Stacks the last `k` observations along the last axis, oldest first:
/// an image `[H, W, C]` becomes `[H, W, k C]` and a box `[.., D]` becomes
/// `[.., k D]` (a vector `[D]` is the concatenation of the `k` vectors).
/// After a reset the stack is filled with copies of the first observation
/// (Gymnasium's `FrameStackObservation` with `padding_type="reset"`).
pub struct FrameStack<E> {
    env: E,
    k: usize,
    /// Length of the last axis of one observation.
    last_axis: usize,
    frames: VecDeque<Observation>,
    observation_space: Space,
}

inner_access!(FrameStack);

impl<E: Env> FrameStack<E> {
    /// Wrap `env`, stacking `k` observations.
    ///
    /// # Panics
    /// If `k` is 0 or the observation space is discrete.
    pub fn new(env: E, k: usize) -> Self {
        assert!(k > 0, "FrameStack: k must be positive");
        let (observation_space, last_axis) = match env.observation_space() {
            Space::Image {
                height,
                width,
                channels,
            } => (
                Space::Image {
                    height: *height,
                    width: *width,
                    channels: channels * k,
                },
                *channels,
            ),
            Space::Box { shape, low, high } => {
                let last_axis = shape.last().copied().unwrap_or(1);
                let mut stacked_shape = shape.clone();
                match stacked_shape.last_mut() {
                    Some(d) => *d *= k,
                    None => stacked_shape.push(k),
                }
                (
                    Space::Box {
                        shape: stacked_shape,
                        low: stack(&vec![low.as_slice(); k], last_axis),
                        high: stack(&vec![high.as_slice(); k], last_axis),
                    },
                    last_axis,
                )
            }
            Space::Discrete { .. } => panic!("FrameStack: cannot stack discrete observations"),
        };
        Self {
            env,
            k,
            last_axis,
            frames: VecDeque::with_capacity(k),
            observation_space,
        }
    }

    fn stacked(&self) -> Observation {
        match &self.frames[0] {
            Observation::Vector(_) => {
                let parts: Vec<&[f32]> = self
                    .frames
                    .iter()
                    .map(|f| match f {
                        Observation::Vector(v) => v.as_slice(),
                        Observation::Image(_) => unreachable!("mixed observation kinds"),
                    })
                    .collect();
                Observation::Vector(stack(&parts, self.last_axis))
            }
            Observation::Image(_) => {
                let parts: Vec<&[u8]> = self
                    .frames
                    .iter()
                    .map(|f| match f {
                        Observation::Image(p) => p.as_slice(),
                        Observation::Vector(_) => unreachable!("mixed observation kinds"),
                    })
                    .collect();
                Observation::Image(stack(&parts, self.last_axis))
            }
        }
    }
}

/// Interleave `parts` along their last axis of length `last_axis`.
fn stack<T: Copy>(parts: &[&[T]], last_axis: usize) -> Vec<T> {
    let len = parts[0].len();
    let mut out = Vec::with_capacity(len * parts.len());
    for start in (0..len).step_by(last_axis.max(1)) {
        for part in parts {
            out.extend_from_slice(&part[start..start + last_axis]);
        }
    }
    out
}

impl<E: Env> Env for FrameStack<E> {
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
        self.frames.clear();
        self.frames.extend(std::iter::repeat_n(obs, self.k));
        Ok(self.stacked())
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let step = self.env.step(action)?;
        if self.frames.len() == self.k {
            self.frames.pop_front();
        }
        self.frames.push_back(step.obs);
        Ok(Step {
            obs: self.stacked(),
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
    use crate::wrappers::test_env::Counter;

    #[test]
    fn stacks_vectors_oldest_first() {
        let mut env = FrameStack::new(Counter::new(10), 3);
        assert_eq!(env.observation_space().shape(), vec![6]);
        let first = env.reset(None).unwrap();
        assert_eq!(
            first,
            Observation::Vector(vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
        );
        env.step(&Action::Discrete(2)).unwrap();
        let obs = env.step(&Action::Discrete(1)).unwrap().obs;
        assert_eq!(obs, Observation::Vector(vec![0.0, 0.0, 1.0, 2.0, 2.0, 1.0]));
        assert_eq!(obs.len(), env.observation_space().flat_len());
    }

    #[test]
    fn stacks_images_along_channels() {
        let mut env = FrameStack::new(Counter::image(10), 2);
        assert_eq!(env.observation_space().shape(), vec![4, 6, 6]);
        env.reset(None).unwrap();
        let Observation::Image(p) = env.step(&Action::Discrete(0)).unwrap().obs else {
            panic!("expected an image");
        };
        // Pixel 0: old frame (steps 0) channels then new frame (steps 1).
        assert_eq!(&p[..6], &[0, 1, 2, 10, 11, 12]);
        assert_eq!(p.len(), 4 * 6 * 6);
    }

    #[test]
    fn stacks_box_bounds() {
        let env = FrameStack::new(Counter::new(1), 2);
        let Space::Box { high, .. } = env.observation_space() else {
            panic!("expected a box");
        };
        assert_eq!(high, &vec![f32::INFINITY, 2.0, f32::INFINITY, 2.0]);
    }
}

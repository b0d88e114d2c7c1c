//! What the run loop needs of an agent, and the conversion between
//! environment actions and the `[A]` float vectors models use.

use std::path::Path;

use somnium_envs::{Action, Observation, Space};

use crate::logging::Scalar;
use crate::replay::{SequenceReplay, Transition};
use crate::{Error, Result};

/// An agent the run loop can train, evaluate and checkpoint.
pub trait Agent {
    /// The agent's name, written into checkpoint manifests.
    fn name(&self) -> &'static str;
    /// Gradient updates made so far.
    fn updates(&self) -> u64;
    /// Choose actions for a batch of environments. `is_first[i]` marks a new
    /// episode in environment `i` (its latent state is reset). Each `slot`
    /// (0 for training collection, 1 for evaluation) keeps its own latent
    /// states, so evaluating does not disturb collection.
    fn act(
        &mut self,
        slot: usize,
        observations: &[Observation],
        is_first: &[bool],
        greedy: bool,
    ) -> Vec<Action>;
    /// Forget the latent states of `slot`.
    fn reset_acting(&mut self, slot: usize);
    /// Store one step of environment `env_index`: the observation, the
    /// action that led to it (`None` on a first step), the reward on
    /// arriving, and its flags.
    fn record(
        &mut self,
        env_index: usize,
        obs: &Observation,
        action: Option<&Action>,
        reward: f32,
        is_first: bool,
        is_terminal: bool,
    );
    /// Make the updates owed after `env_steps` environment steps (after
    /// `prefill` steps of random collection); returns the last update's metrics.
    fn train(&mut self, env_steps: u64, prefill: u64) -> Result<Vec<Scalar>>;
    /// Write weights, optimiser states, replay and counters into `dir`.
    fn save(&self, dir: &Path) -> Result<()>;
    /// Restore what [`Agent::save`] wrote.
    fn load(&mut self, dir: &Path) -> Result<()>;
    /// A copy of the current policy that acts on another thread
    /// (`run.async_actors`), for the training-collection environments;
    /// `None` when the agent cannot act apart from itself (the default).
    fn acting_policy(&self) -> Option<Box<dyn ActingPolicy>> {
        None
    }
}

/// A policy snapshot that acts away from the learner: on an actor thread
/// that steps the environments while the agent trains.
pub trait ActingPolicy: Send {
    /// Choose exploring actions for a batch of environments, as
    /// [`Agent::act`] does for slot 0 (latent states are kept between calls
    /// and reset where `is_first`).
    fn act(&mut self, observations: &[Observation], is_first: &[bool]) -> Vec<Action>;
    /// Take over the weights of `newer`, a later snapshot of the same
    /// agent, keeping the latent states of the environments acted in.
    fn refresh(&mut self, newer: Box<dyn ActingPolicy>);
    /// For [`ActingPolicy::refresh`]: the concrete snapshot.
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any>;
}

/// Store one step of environment `env_index` in a sequence replay, as
/// [`Agent::record`] describes it: the action that led to the observation
/// encoded by `codec` (zeros on a first step).
#[allow(clippy::too_many_arguments)]
pub fn record_step(
    replay: &mut SequenceReplay,
    codec: &ActionCodec,
    env_index: usize,
    obs: &Observation,
    action: Option<&Action>,
    reward: f32,
    is_first: bool,
    is_terminal: bool,
) {
    let obs = obs.to_f32();
    let action = action.map_or_else(|| vec![0.0; codec.width()], |a| codec.encode(a));
    replay.add(
        env_index,
        &Transition {
            obs: &obs,
            action: &action,
            reward,
            is_first,
            is_terminal,
        },
    );
}

/// The updates owed after `env_steps` environment steps, of which the
/// first `prefill` were random collection: `train_ratio` replayed steps
/// per environment step, `replayed` steps per update.
pub fn updates_owed(env_steps: u64, prefill: u64, train_ratio: f64, replayed: usize) -> u64 {
    (env_steps.saturating_sub(prefill) as f64 * train_ratio / replayed as f64).floor() as u64
}

/// Converts between environment actions and model action vectors: one-hot
/// for discrete spaces; [-1, 1] per dimension for boxes, rescaled to the
/// box's bounds.
#[derive(Debug, Clone)]
pub enum ActionCodec {
    /// `n` discrete actions.
    Discrete(usize),
    /// A box with these bounds.
    Continuous {
        /// Lower bounds.
        low: Vec<f32>,
        /// Upper bounds.
        high: Vec<f32>,
    },
}

impl ActionCodec {
    /// The codec of an action space.
    pub fn new(space: &Space) -> Result<Self> {
        match space {
            Space::Discrete { n } => Ok(ActionCodec::Discrete(*n)),
            Space::Box { low, high, .. } => {
                if low.iter().chain(high).any(|v| !v.is_finite()) {
                    return Err(Error::Unsupported(
                        "continuous action spaces must have finite bounds".into(),
                    ));
                }
                Ok(ActionCodec::Continuous {
                    low: low.clone(),
                    high: high.clone(),
                })
            }
            Space::Image { .. } => Err(Error::Unsupported(
                "image action spaces are not supported".into(),
            )),
        }
    }

    /// Width `A` of a model action vector.
    pub fn width(&self) -> usize {
        match self {
            ActionCodec::Discrete(n) => *n,
            ActionCodec::Continuous { low, .. } => low.len(),
        }
    }

    /// Whether actions are discrete.
    pub fn is_discrete(&self) -> bool {
        matches!(self, ActionCodec::Discrete(_))
    }

    /// Model vectors `[B * A]` to environment actions.
    pub fn decode(&self, values: &[f32], batch: usize) -> Vec<Action> {
        let a = self.width();
        values
            .chunks(a)
            .take(batch)
            .map(|row| match self {
                ActionCodec::Discrete(_) => {
                    let best = row
                        .iter()
                        .enumerate()
                        .max_by(|x, y| x.1.total_cmp(y.1))
                        .map_or(0, |(i, _)| i);
                    Action::Discrete(best)
                }
                ActionCodec::Continuous { low, high } => Action::Continuous(
                    row.iter()
                        .zip(low.iter().zip(high))
                        .map(|(&v, (&l, &h))| l + (v.clamp(-1.0, 1.0) + 1.0) * 0.5 * (h - l))
                        .collect(),
                ),
            })
            .collect()
    }

    /// An environment action to a model vector `[A]`.
    pub fn encode(&self, action: &Action) -> Vec<f32> {
        match (self, action) {
            (ActionCodec::Discrete(n), Action::Discrete(i)) => {
                (0..*n).map(|j| if j == *i { 1.0 } else { 0.0 }).collect()
            }
            (ActionCodec::Continuous { low, high }, Action::Continuous(v)) => v
                .iter()
                .zip(low.iter().zip(high))
                .map(|(&x, (&l, &h))| ((x - l) / (h - l) * 2.0 - 1.0).clamp(-1.0, 1.0))
                .collect(),
            _ => panic!("action kind does not match the action space"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discrete_and_continuous_round_trip() {
        let codec = ActionCodec::new(&Space::Discrete { n: 3 }).unwrap();
        assert_eq!(codec.encode(&Action::Discrete(2)), vec![0.0, 0.0, 1.0]);
        assert_eq!(
            codec.decode(&[0.0, 1.0, 0.0, 1.0, 0.0, 0.0], 2),
            vec![Action::Discrete(1), Action::Discrete(0)]
        );
        let codec = ActionCodec::new(&Space::uniform_box(vec![1], -2.0, 2.0)).unwrap();
        assert_eq!(codec.decode(&[0.5], 1), vec![Action::Continuous(vec![1.0])]);
        assert_eq!(codec.encode(&Action::Continuous(vec![1.0])), vec![0.5]);
        assert_eq!(
            codec.decode(&[7.0], 1),
            vec![Action::Continuous(vec![2.0])],
            "clipped to the bounds"
        );
        assert!(ActionCodec::new(&Space::uniform_box(vec![1], f32::NEG_INFINITY, 0.0)).is_err());
    }
}

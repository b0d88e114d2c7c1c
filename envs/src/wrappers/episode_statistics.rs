//! [`EpisodeStatistics`]: keep the return and length of the running and the
//! last finished episode, for logging.

use super::inner_access;
use crate::{Action, Env, EnvError, EpisodeStats, Frame, Observation, Space, Step};

/// Tracks the undiscounted return and length of the current episode and
/// exposes the last finished one (Gymnasium's `RecordEpisodeStatistics`).
pub struct EpisodeStatistics<E> {
    env: E,
    episode_return: f64,
    length: usize,
    last: Option<EpisodeStats>,
    finished: usize,
}

inner_access!(EpisodeStatistics);

impl<E: Env> EpisodeStatistics<E> {
    /// Wrap `env`.
    pub fn new(env: E) -> Self {
        Self {
            env,
            episode_return: 0.0,
            length: 0,
            last: None,
            finished: 0,
        }
    }

    /// The return so far of the current episode.
    pub fn running_return(&self) -> f64 {
        self.episode_return
    }

    /// The number of steps so far in the current episode.
    pub fn running_length(&self) -> usize {
        self.length
    }

    /// The most recently finished episode (`env_index` is 0).
    pub fn last_episode(&self) -> Option<EpisodeStats> {
        self.last
    }

    /// How many episodes have finished since the wrapper was created.
    pub fn episodes_finished(&self) -> usize {
        self.finished
    }
}

impl<E: Env> Env for EpisodeStatistics<E> {
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
        self.episode_return = 0.0;
        self.length = 0;
        Ok(obs)
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let step = self.env.step(action)?;
        self.episode_return += f64::from(step.reward);
        self.length += 1;
        if step.terminated || step.truncated {
            self.last = Some(EpisodeStats {
                env_index: 0,
                episode_return: self.episode_return,
                length: self.length,
                terminated: step.terminated,
            });
            self.finished += 1;
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
    fn records_finished_episodes() {
        let mut env = EpisodeStatistics::new(Counter::new(3));
        env.reset(None).unwrap();
        env.step(&Action::Discrete(2)).unwrap();
        assert_eq!((env.running_return(), env.running_length()), (1.0, 1));
        assert!(env.last_episode().is_none());
        env.step(&Action::Discrete(2)).unwrap();
        env.step(&Action::Discrete(0)).unwrap();
        let last = env.last_episode().unwrap();
        assert_eq!(
            (last.episode_return, last.length, last.terminated),
            (1.0, 3, true)
        );
        env.reset(None).unwrap();
        assert_eq!(env.running_length(), 0);
        assert_eq!(env.episodes_finished(), 1);
        assert!(env.last_episode().is_some());
    }
}

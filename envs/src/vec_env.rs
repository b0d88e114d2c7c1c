//! [`VecEnv`]: N copies of an environment stepped together, with automatic
//! resets.
//!
//! Autoreset is "same-step" (Gymnasium's `AutoresetMode.SAME_STEP`): when a
//! copy's episode ends, the step that ended it already returns the first
//! observation of the next episode in `obs`, keeps the last observation of
//! the finished one in `final_obs`, and marks the copy in `is_first`. Every
//! row of `obs` is therefore something to act on, which is what the
//! `is_first` input of a world model (DreamerV3) expects, and no step is
//! wasted on a dummy transition as in "next-step" autoreset.
//!
//! Copies can be stepped on several threads (`std::thread::scope`, one chunk
//! of copies per worker). Spawning costs a few microseconds per step, so this
//! only pays off for environments whose step costs far more than that
//! (external simulators, large renders); classic control and MinAtar are
//! fastest with `threads = 1`.

use crate::{Action, Env, EnvError, Observation, Space, make};

/// Return and length of one finished episode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpisodeStats {
    /// Which copy of a [`VecEnv`] finished it (0 outside a `VecEnv`).
    pub env_index: usize,
    /// The undiscounted sum of the episode's rewards.
    pub episode_return: f64,
    /// The number of steps in the episode.
    pub length: usize,
    /// Whether it ended by termination (`false`: truncated).
    pub terminated: bool,
}

/// What one call of [`VecEnv::step`] returns; every `Vec` has one entry per copy `[N]`.
#[derive(Debug, Clone, PartialEq)]
pub struct VecStep {
    /// `[N]` the observation to act on next: where an episode ended, the first
    /// observation of the new one.
    pub obs: Vec<Observation>,
    /// `[N]` the reward of the transition just taken.
    pub rewards: Vec<f32>,
    /// `[N]` the transition reached a terminal state.
    pub terminated: Vec<bool>,
    /// `[N]` the episode was cut short by a limit.
    pub truncated: Vec<bool>,
    /// `[N]` the last observation of the episode that ended on this step, if one did.
    pub final_obs: Vec<Option<Observation>>,
    /// `[N]` `obs[i]` starts a new episode (true exactly where `final_obs[i]` is `Some`).
    pub is_first: Vec<bool>,
    /// The episodes that ended on this step, in copy order.
    pub episodes: Vec<EpisodeStats>,
}

/// Running totals of one copy's current episode.
#[derive(Debug, Clone, Copy, Default)]
struct Running {
    episode_return: f64,
    length: usize,
}

/// One copy's share of a [`VecStep`].
struct CopyStep {
    obs: Observation,
    reward: f32,
    terminated: bool,
    truncated: bool,
    final_obs: Option<Observation>,
    episode: Option<EpisodeStats>,
}

/// N copies of an environment with same-step automatic resets.
pub struct VecEnv {
    envs: Vec<Box<dyn Env>>,
    running: Vec<Running>,
    threads: usize,
    started: bool,
}

impl VecEnv {
    /// Wrap `envs`, which must be non-empty and share their spaces. `threads`
    /// is the number of workers stepping them (1: sequential, in this thread).
    pub fn new(envs: Vec<Box<dyn Env>>, threads: usize) -> Result<Self, EnvError> {
        let Some(first) = envs.first() else {
            return Err(EnvError::BadCall {
                env: "VecEnv".to_string(),
                problem: "a VecEnv needs at least one environment".to_string(),
            });
        };
        if let Some(other) = envs.iter().find(|e| {
            e.observation_space() != first.observation_space()
                || e.action_space() != first.action_space()
        }) {
            return Err(EnvError::BadCall {
                env: "VecEnv".to_string(),
                problem: format!(
                    "copies must share their spaces, but `{}` and `{}` differ",
                    first.id(),
                    other.id()
                ),
            });
        }
        let running = vec![Running::default(); envs.len()];
        Ok(Self {
            envs,
            running,
            threads: threads.max(1),
            started: false,
        })
    }

    /// `n` copies of the registered environment `id`.
    pub fn make(id: &str, n: usize, threads: usize) -> Result<Self, EnvError> {
        let envs = (0..n).map(|_| make(id)).collect::<Result<Vec<_>, _>>()?;
        Self::new(envs, threads)
    }

    /// The number of copies N.
    pub fn len(&self) -> usize {
        self.envs.len()
    }

    /// Always false: a `VecEnv` holds at least one copy.
    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    /// The observation space of one copy.
    pub fn observation_space(&self) -> &Space {
        self.envs[0].observation_space()
    }

    /// The action space of one copy.
    pub fn action_space(&self) -> &Space {
        self.envs[0].action_space()
    }

    /// The copies, e.g. to render one.
    pub fn envs(&self) -> &[Box<dyn Env>] {
        &self.envs
    }

    /// Reset every copy: with `Some(seed)` copy `i` is seeded with `seed + i`
    /// (wrapping); with `None` each continues its own random stream.
    /// Returns `[N]` first observations.
    pub fn reset(&mut self, seed: Option<u64>) -> Result<Vec<Observation>, EnvError> {
        let obs = self
            .envs
            .iter_mut()
            .enumerate()
            .map(|(i, env)| env.reset(seed.map(|s| s.wrapping_add(i as u64))))
            .collect::<Result<Vec<_>, _>>()?;
        self.running.fill(Running::default());
        self.started = true;
        Ok(obs)
    }

    /// Step copy `i` with `actions[i]`, resetting copies whose episode ends.
    ///
    /// The first error of any copy (in copy order) is returned; the copies are
    /// then in an unspecified state and should be `reset`.
    pub fn step(&mut self, actions: &[Action]) -> Result<VecStep, EnvError> {
        if !self.started {
            return Err(EnvError::BadCall {
                env: self.envs[0].id().to_string(),
                problem: "VecEnv::step called before reset".to_string(),
            });
        }
        if actions.len() != self.envs.len() {
            return Err(EnvError::InvalidAction {
                env: self.envs[0].id().to_string(),
                problem: format!(
                    "expected {} actions, got {}",
                    self.envs.len(),
                    actions.len()
                ),
            });
        }
        let threads = self.threads.min(self.envs.len());
        let results: Vec<Result<CopyStep, EnvError>> = if threads <= 1 {
            step_chunk(&mut self.envs, &mut self.running, actions, 0)
        } else {
            let chunk = self.envs.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let workers: Vec<_> = self
                    .envs
                    .chunks_mut(chunk)
                    .zip(self.running.chunks_mut(chunk))
                    .zip(actions.chunks(chunk))
                    .enumerate()
                    .map(|(c, ((envs, running), actions))| {
                        scope.spawn(move || step_chunk(envs, running, actions, c * chunk))
                    })
                    .collect();
                workers
                    .into_iter()
                    .flat_map(|w| w.join().expect("a VecEnv worker thread panicked"))
                    .collect()
            })
        };
        let mut out = VecStep {
            obs: Vec::with_capacity(results.len()),
            rewards: Vec::with_capacity(results.len()),
            terminated: Vec::with_capacity(results.len()),
            truncated: Vec::with_capacity(results.len()),
            final_obs: Vec::with_capacity(results.len()),
            is_first: Vec::with_capacity(results.len()),
            episodes: Vec::new(),
        };
        for result in results {
            let step = result?;
            out.is_first.push(step.final_obs.is_some());
            out.obs.push(step.obs);
            out.rewards.push(step.reward);
            out.terminated.push(step.terminated);
            out.truncated.push(step.truncated);
            out.final_obs.push(step.final_obs);
            out.episodes.extend(step.episode);
        }
        Ok(out)
    }
}

/// Step a contiguous chunk of copies whose first copy has index `offset`.
fn step_chunk(
    envs: &mut [Box<dyn Env>],
    running: &mut [Running],
    actions: &[Action],
    offset: usize,
) -> Vec<Result<CopyStep, EnvError>> {
    envs.iter_mut()
        .zip(running)
        .zip(actions)
        .enumerate()
        .map(|(i, ((env, run), action))| step_copy(env, run, action, offset + i))
        .collect()
}

/// Step one copy and reset it if its episode ended.
fn step_copy(
    env: &mut Box<dyn Env>,
    run: &mut Running,
    action: &Action,
    index: usize,
) -> Result<CopyStep, EnvError> {
    let step = env.step(action)?;
    run.episode_return += f64::from(step.reward);
    run.length += 1;
    if !(step.terminated || step.truncated) {
        return Ok(CopyStep {
            obs: step.obs,
            reward: step.reward,
            terminated: false,
            truncated: false,
            final_obs: None,
            episode: None,
        });
    }
    let episode = EpisodeStats {
        env_index: index,
        episode_return: run.episode_return,
        length: run.length,
        terminated: step.terminated,
    };
    *run = Running::default();
    Ok(CopyStep {
        obs: env.reset(None)?,
        reward: step.reward,
        terminated: step.terminated,
        truncated: step.truncated,
        final_obs: Some(step.obs),
        episode: Some(episode),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic::{CartPole, Pendulum};

    fn cartpoles(n: usize, threads: usize) -> VecEnv {
        VecEnv::new(
            (0..n)
                .map(|_| Box::new(CartPole::new()) as Box<dyn Env>)
                .collect(),
            threads,
        )
        .unwrap()
    }

    #[test]
    fn seeds_copies_with_consecutive_seeds() {
        let mut vec = cartpoles(3, 1);
        let obs = vec.reset(Some(10)).unwrap();
        let mut single = CartPole::new();
        assert_eq!(obs[2], single.reset(Some(12)).unwrap());
        assert_ne!(obs[0], obs[1]);
    }

    #[test]
    fn autoresets_in_the_same_step_and_reports_episodes() {
        let mut vec = cartpoles(2, 1);
        vec.reset(Some(0)).unwrap();
        let mut ended = 0;
        for t in 0..200 {
            let step = vec
                .step(&[Action::Discrete(0), Action::Discrete(t % 2)])
                .unwrap();
            for i in 0..2 {
                let done = step.terminated[i] || step.truncated[i];
                assert_eq!(step.is_first[i], done);
                assert_eq!(step.final_obs[i].is_some(), done);
            }
            for ep in &step.episodes {
                assert!(ep.terminated);
                assert_eq!(ep.episode_return, ep.length as f64);
                ended += 1;
            }
        }
        assert!(ended > 2);
    }

    #[test]
    fn threaded_stepping_matches_sequential() {
        let mut seq = cartpoles(5, 1);
        let mut par = cartpoles(5, 2);
        assert_eq!(seq.reset(Some(3)).unwrap(), par.reset(Some(3)).unwrap());
        for t in 0..100 {
            let actions: Vec<Action> = (0..5)
                .map(|i| Action::Discrete((t * i + t / 3) % 2))
                .collect();
            assert_eq!(seq.step(&actions).unwrap(), par.step(&actions).unwrap());
        }
    }

    #[test]
    fn errors_propagate() {
        let mut vec = cartpoles(2, 2);
        assert!(matches!(
            vec.step(&[Action::Discrete(0), Action::Discrete(0)]),
            Err(EnvError::BadCall { .. })
        ));
        vec.reset(None).unwrap();
        assert!(matches!(
            vec.step(&[Action::Discrete(0)]),
            Err(EnvError::InvalidAction { .. })
        ));
        let bad = vec.step(&[Action::Discrete(0), Action::Discrete(7)]);
        assert!(matches!(bad, Err(EnvError::InvalidAction { .. })));
    }

    #[test]
    fn rejects_mixed_spaces_and_empty_lists() {
        let mixed: Vec<Box<dyn Env>> = vec![Box::new(CartPole::new()), Box::new(Pendulum::new())];
        assert!(VecEnv::new(mixed, 1).is_err());
        assert!(VecEnv::new(Vec::new(), 1).is_err());
        assert_eq!(VecEnv::make("CartPole-v1", 4, 1).unwrap().len(), 4);
    }
}

//! Stepping a batch of environment copies for the run loop: auto-reset,
//! episode statistics, and handing each step to the agent's replay in
//! DreamerV3's layout (a finished episode's last observation is recorded
//! before the next episode's first).

use somnium_envs::{Action, Env, Observation, Step};

use super::Agent;
use crate::Result;
use crate::config::EnvConfig;
use crate::core::Noise;

/// A finished episode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Episode {
    /// Sum of rewards.
    pub score: f64,
    /// Steps.
    pub length: u64,
}

/// One step for the agent's replay, as [`Agent::record`] takes it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Which environment copy.
    pub env: usize,
    /// The observation.
    pub obs: Observation,
    /// The action that led to it (`None` on a first step).
    pub action: Option<Action>,
    /// The reward on arriving.
    pub reward: f32,
    /// Whether it starts an episode.
    pub is_first: bool,
    /// Whether the episode ended there.
    pub is_terminal: bool,
}

impl Recorded {
    /// Hand the step to `agent`'s replay.
    pub fn record_into(&self, agent: &mut dyn Agent) {
        agent.record(
            self.env,
            &self.obs,
            self.action.as_ref(),
            self.reward,
            self.is_first,
            self.is_terminal,
        );
    }
}

/// Environment copies being stepped together.
pub struct Collector {
    envs: Vec<Box<dyn Env>>,
    /// The current observation of each copy.
    pub obs: Vec<Observation>,
    /// Whether each copy's current observation starts an episode.
    pub is_first: Vec<bool>,
    returns: Vec<f64>,
    lengths: Vec<u64>,
    threads: usize,
}

/// Build one environment copy from the config.
pub fn make_env(config: &EnvConfig) -> Result<Box<dyn Env>> {
    let env = somnium_envs::make(&config.id)?;
    Ok(crate::train::wrap::wrap(env, config))
}

impl Collector {
    /// `config.num_envs` copies, reset with seeds drawn from `noise`.
    pub fn new(config: &EnvConfig, copies: usize, noise: &mut Noise) -> Result<Self> {
        let mut envs = Vec::with_capacity(copies);
        let mut obs = Vec::with_capacity(copies);
        for _ in 0..copies {
            let mut env = make_env(config)?;
            obs.push(env.reset(Some(noise.next_u64()))?);
            envs.push(env);
        }
        Ok(Collector {
            envs,
            obs,
            is_first: vec![true; copies],
            returns: vec![0.0; copies],
            lengths: vec![0; copies],
            threads: config.threads.max(1),
        })
    }

    /// Number of copies.
    pub fn len(&self) -> usize {
        self.envs.len()
    }

    /// Whether there are no copies.
    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    /// The first environment (for spaces).
    pub fn env(&self) -> &dyn Env {
        self.envs[0].as_ref()
    }

    /// Random actions from each copy's action space.
    pub fn random_actions(&self, noise: &mut Noise) -> Vec<Action> {
        self.envs
            .iter()
            .map(|env| somnium_envs::random_action(env.action_space(), noise.rng()))
            .collect()
    }

    /// Record every copy's current (first) observation in the agent's replay.
    pub fn record_current(&self, agent: &mut dyn Agent) {
        for record in self.current() {
            record.record_into(agent);
        }
    }

    /// Every copy's current observation, as replay records.
    pub fn current(&self) -> Vec<Recorded> {
        self.obs
            .iter()
            .enumerate()
            .map(|(i, obs)| Recorded {
                env: i,
                obs: obs.clone(),
                action: None,
                reward: 0.0,
                is_first: self.is_first[i],
                is_terminal: false,
            })
            .collect()
    }

    /// Step every copy; auto-reset finished ones. When `agent` is given,
    /// every transition goes to its replay. Returns the finished episodes.
    pub fn step(
        &mut self,
        actions: &[Action],
        agent: Option<&mut dyn Agent>,
        noise: &mut Noise,
    ) -> Result<Vec<Episode>> {
        let steps = self.step_envs(actions)?;
        self.absorb(actions, steps, agent, noise)
    }

    /// The second half of [`Collector::step`]: account the steps that
    /// [`Collector::step_envs`] returned, hand them to the agent's replay,
    /// and reset finished copies.
    pub fn absorb(
        &mut self,
        actions: &[Action],
        steps: Vec<Step>,
        agent: Option<&mut dyn Agent>,
        noise: &mut Noise,
    ) -> Result<Vec<Episode>> {
        let (finished, records) = self.absorb_records(actions, steps, noise)?;
        if let Some(agent) = agent {
            for record in &records {
                record.record_into(agent);
            }
        }
        Ok(finished)
    }

    /// [`Collector::absorb`], returning the replay records instead of
    /// handing them to an agent (for actors on another thread than the
    /// agent's). A finished episode's last step comes before the next
    /// episode's first.
    pub fn absorb_records(
        &mut self,
        actions: &[Action],
        steps: Vec<Step>,
        noise: &mut Noise,
    ) -> Result<(Vec<Episode>, Vec<Recorded>)> {
        let mut finished = Vec::new();
        let mut records = Vec::with_capacity(steps.len());
        for ((i, env), step) in self.envs.iter_mut().enumerate().zip(steps) {
            self.returns[i] += step.reward as f64;
            self.lengths[i] += 1;
            records.push(Recorded {
                env: i,
                obs: step.obs.clone(),
                action: Some(actions[i].clone()),
                reward: step.reward,
                is_first: false,
                is_terminal: step.terminated,
            });
            if step.terminated || step.truncated {
                finished.push(Episode {
                    score: self.returns[i],
                    length: self.lengths[i],
                });
                self.returns[i] = 0.0;
                self.lengths[i] = 0;
                self.obs[i] = env.reset(Some(noise.next_u64()))?;
                self.is_first[i] = true;
                records.push(Recorded {
                    env: i,
                    obs: self.obs[i].clone(),
                    action: None,
                    reward: 0.0,
                    is_first: true,
                    is_terminal: false,
                });
            } else {
                self.obs[i] = step.obs;
                self.is_first[i] = false;
            }
        }
        Ok((finished, records))
    }

    /// Step every copy once, over `env.threads` threads when there are
    /// several (resets and replay writes stay on the calling thread, in
    /// copy order, so a run does not depend on the thread count). Touches
    /// only the environments, so it can run beside training.
    pub fn step_envs(&mut self, actions: &[Action]) -> Result<Vec<Step>> {
        let threads = self.threads.min(self.envs.len());
        if threads <= 1 {
            let steps = self
                .envs
                .iter_mut()
                .zip(actions)
                .map(|(env, a)| env.step(a));
            return Ok(steps.collect::<std::result::Result<_, _>>()?);
        }
        let chunk = self.envs.len().div_ceil(threads);
        let results: Vec<_> = std::thread::scope(|scope| {
            let workers: Vec<_> = self
                .envs
                .chunks_mut(chunk)
                .zip(actions.chunks(chunk))
                .map(|(envs, actions)| {
                    scope.spawn(move || {
                        envs.iter_mut()
                            .zip(actions)
                            .map(|(env, a)| env.step(a))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("an environment thread panicked"))
                .collect()
        });
        Ok(results.into_iter().collect::<std::result::Result<_, _>>()?)
    }
}

/// Record `steps` steps of uniformly random play in `env` into `agent`'s
/// replay (resetting finished episodes): a prefill for tests, benchmarks
/// and custom loops.
pub fn record_random_play(
    agent: &mut dyn Agent,
    env: &mut dyn Env,
    steps: usize,
    noise: &mut Noise,
) -> Result<()> {
    let first = env.reset(Some(noise.next_u64()))?;
    agent.record(0, &first, None, 0.0, true, false);
    for _ in 0..steps {
        let action = somnium_envs::random_action(env.action_space(), noise.rng());
        let step = env.step(&action)?;
        agent.record(
            0,
            &step.obs,
            Some(&action),
            step.reward,
            false,
            step.terminated,
        );
        if step.terminated || step.truncated {
            let first = env.reset(None)?;
            agent.record(0, &first, None, 0.0, true, false);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ending(obs: &Observation, terminated: bool, truncated: bool) -> Step {
        Step {
            obs: obs.clone(),
            reward: 1.0,
            terminated,
            truncated,
        }
    }

    /// A time limit's cut is not an ending of the task: its last step keeps
    /// a continue target of 1 (the 2023 reference's gym adapter marks it
    /// terminal, docs/architecture.md says why this does not), while a real
    /// termination gets 0. Either way the next episode's first observation
    /// follows, marked first.
    #[test]
    fn a_truncation_is_recorded_as_going_on_and_a_termination_as_terminal() {
        let mut noise = Noise::new(0);
        let mut collector = Collector::new(&EnvConfig::default(), 3, &mut noise).unwrap();
        let last = collector.obs[0].clone();
        let steps = vec![
            ending(&last, false, true),
            ending(&last, true, false),
            ending(&last, false, false),
        ];
        let actions = vec![Action::Discrete(0); 3];
        let (episodes, records) = collector
            .absorb_records(&actions, steps, &mut noise)
            .unwrap();
        assert_eq!(episodes.len(), 2);
        let flags: Vec<(usize, bool, bool)> = records
            .iter()
            .map(|r| (r.env, r.is_first, r.is_terminal))
            .collect();
        assert_eq!(
            flags,
            vec![
                (0, false, false),
                (0, true, false),
                (1, false, true),
                (1, true, false),
                (2, false, false),
            ]
        );
        assert_eq!(collector.is_first, vec![true, true, false]);
    }
}

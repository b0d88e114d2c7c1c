//! Environments across somnium and burn's own RL trait,
//! [`burn::rl::Environment`], in both directions.
//!
//! burn's trait has no seeds, spaces or errors, and reports the current
//! state through `state()` rather than from `reset`: [`FromBurnRl`] supplies
//! the spaces and the conversions, and enforces our call order;
//! [`IntoBurnRl`] keeps the latest observation for `state()` and, since
//! burn's methods cannot fail, panics with our error's message where ours
//! would return one. Environments written for burn's RL crate thus run in
//! somnium's `VecEnv`, run loop and experiments (register them with
//! [`crate::envs::register`]), and ours run wherever burn expects its trait.

use burn::rl::{Environment, StepResult};
use somnium_envs::{Action, Env, EnvError, Observation, Space, Step};

/// A burn environment as a somnium [`Env`].
pub struct FromBurnRl<E: Environment> {
    id: String,
    env: E,
    observation_space: Space,
    action_space: Space,
    to_observation: fn(&E::State) -> Observation,
    to_action: fn(&Action) -> Option<E::Action>,
    running: bool,
    started: bool,
}

impl<E: Environment> FromBurnRl<E> {
    /// Wrap `env` under `id`, with its spaces and the conversions of its
    /// states to observations and of our actions to its actions (`None`
    /// for an action it does not accept).
    pub fn new(
        id: impl Into<String>,
        env: E,
        observation_space: Space,
        action_space: Space,
        to_observation: fn(&E::State) -> Observation,
        to_action: fn(&Action) -> Option<E::Action>,
    ) -> Self {
        FromBurnRl {
            id: id.into(),
            env,
            observation_space,
            action_space,
            to_observation,
            to_action,
            running: false,
            started: false,
        }
    }

    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.env
    }
}

impl<E: Environment + Send> Env for FromBurnRl<E> {
    fn id(&self) -> &str {
        &self.id
    }

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    /// burn's environments take no seed: `seed` is ignored and the
    /// environment's own randomness, if any, continues.
    fn reset(&mut self, _seed: Option<u64>) -> Result<Observation, EnvError> {
        self.env.reset();
        self.running = true;
        self.started = true;
        Ok((self.to_observation)(&self.env.state()))
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        if !self.running {
            let problem = if self.started {
                "step called after the episode ended; call reset first"
            } else {
                "step called before reset"
            };
            return Err(EnvError::BadCall {
                env: self.id.clone(),
                problem: problem.into(),
            });
        }
        let Some(converted) = (self.to_action)(action) else {
            return Err(EnvError::InvalidAction {
                env: self.id.clone(),
                problem: format!("{action:?} does not convert to this environment's actions"),
            });
        };
        let StepResult {
            next_state,
            reward,
            done,
            truncated,
        } = self.env.step(converted);
        self.running = !(done || truncated);
        Ok(Step {
            obs: (self.to_observation)(&next_state),
            reward: reward as f32,
            terminated: done,
            truncated: truncated && !done,
        })
    }
}

/// A somnium [`Env`] as a burn environment, with states as our
/// [`Observation`]s and actions as our [`Action`]s; `MAX_STEPS` is burn's
/// episode-length constant (our environments truncate by themselves).
pub struct IntoBurnRl<const MAX_STEPS: usize> {
    env: Box<dyn Env>,
    state: Observation,
}

impl<const MAX_STEPS: usize> IntoBurnRl<MAX_STEPS> {
    /// Wrap `env`, resetting it with `seed`; panics with the error's
    /// message if that reset fails.
    pub fn new(mut env: Box<dyn Env>, seed: u64) -> Self {
        let state = env
            .reset(Some(seed))
            .unwrap_or_else(|e| panic!("IntoBurnRl: {e}"));
        IntoBurnRl { env, state }
    }
}

impl<const MAX_STEPS: usize> Environment for IntoBurnRl<MAX_STEPS> {
    type State = Observation;
    type Action = Action;

    const MAX_STEPS: usize = MAX_STEPS;

    fn state(&self) -> Observation {
        self.state.clone()
    }

    fn step(&mut self, action: Action) -> StepResult<Observation> {
        let step = self
            .env
            .step(&action)
            .unwrap_or_else(|e| panic!("IntoBurnRl: {e}"));
        self.state = step.obs.clone();
        StepResult {
            next_state: step.obs,
            reward: f64::from(step.reward),
            done: step.terminated,
            truncated: step.truncated,
        }
    }

    fn reset(&mut self) {
        self.state = self
            .env
            .reset(None)
            .unwrap_or_else(|e| panic!("IntoBurnRl: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use somnium_envs::VecEnv;

    /// A burn environment: walk from 0 to 3 by +1 (action 1) or stay
    /// (action 0); reward 1 on arrival; burn's limit of 5 steps truncates.
    #[derive(Default)]
    struct Walk {
        position: i32,
        steps: usize,
    }

    impl Environment for Walk {
        type State = i32;
        type Action = i32;
        const MAX_STEPS: usize = 5;

        fn state(&self) -> i32 {
            self.position
        }
        fn step(&mut self, action: i32) -> StepResult<i32> {
            self.position += action;
            self.steps += 1;
            let done = self.position >= 3;
            StepResult {
                next_state: self.position,
                reward: if done { 1.0 } else { 0.0 },
                done,
                truncated: self.steps >= Self::MAX_STEPS,
            }
        }
        fn reset(&mut self) {
            *self = Walk::default();
        }
    }

    fn walk() -> Box<dyn Env> {
        Box::new(FromBurnRl::new(
            "BurnWalk-v0",
            Walk::default(),
            Space::uniform_box(vec![1], 0.0, 5.0),
            Space::Discrete { n: 2 },
            |&p| Observation::Vector(vec![p as f32]),
            |a| match a {
                Action::Discrete(a @ (0 | 1)) => Some(*a as i32),
                _ => None,
            },
        ))
    }

    #[test]
    fn a_burn_environment_runs_in_a_vec_env() {
        let mut envs = VecEnv::new(vec![walk(), walk()], 1).unwrap();
        envs.reset(Some(0)).unwrap();
        let (go, stay) = (Action::Discrete(1), Action::Discrete(0));
        // Copy 0 walks (arrives on step 3); copy 1 stays (truncated on step 5).
        let mut episodes = Vec::new();
        for _ in 0..5 {
            let step = envs.step(&[go.clone(), stay.clone()]).unwrap();
            episodes.extend(step.episodes);
        }
        assert_eq!(episodes.len(), 2);
        assert_eq!((episodes[0].env_index, episodes[0].length), (0, 3));
        assert!(episodes[0].terminated && episodes[0].episode_return == 1.0);
        assert_eq!((episodes[1].env_index, episodes[1].length), (1, 5));
        assert!(!episodes[1].terminated && episodes[1].episode_return == 0.0);
    }

    #[test]
    fn call_order_and_actions_are_checked() {
        let mut env = walk();
        assert!(matches!(
            env.step(&Action::Discrete(1)),
            Err(EnvError::BadCall { .. })
        ));
        env.reset(None).unwrap();
        let bad = env.step(&Action::Discrete(7)).unwrap_err();
        assert!(matches!(bad, EnvError::InvalidAction { .. }));
    }

    #[test]
    fn our_cartpole_runs_under_burns_trait() {
        // Stepping through burn's trait gives exactly the episode that
        // stepping our environment directly gives.
        let mut theirs = IntoBurnRl::<500>::new(somnium_envs::make("CartPole-v1").unwrap(), 3);
        let mut ours = somnium_envs::make("CartPole-v1").unwrap();
        assert_eq!(theirs.state(), ours.reset(Some(3)).unwrap());
        for t in 0.. {
            let action = Action::Discrete(t % 2);
            let a = theirs.step(action.clone());
            let b = ours.step(&action).unwrap();
            assert_eq!(a.next_state, b.obs);
            assert_eq!(theirs.state(), b.obs);
            assert_eq!((a.reward, a.done), (f64::from(b.reward), b.terminated));
            if a.done || a.truncated {
                break;
            }
        }
        theirs.reset();
        assert!(matches!(theirs.state(), Observation::Vector(ref v) if v.len() == 4));
    }
}

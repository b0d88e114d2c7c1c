//! [`StickyActions`]: with probability `p` the previous action is repeated
//! instead of the agent's, the ALE's standard source of stochasticity.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{check_action, inner_access};
use crate::{Action, Env, EnvError, Frame, Observation, Space, Step};

/// Mixed into the reset seed so the stickiness stream differs from the
/// wrapped environment's own stream under the same seed.
const SEED_SALT: u64 = 0x5717_C4A5_D1CE_0001;

/// With probability `p` per step the environment receives the previously
/// executed action instead of the agent's (Machado et al., 2018, use
/// `p = 0.25`). The first step of an episode always uses the agent's action.
///
/// Put it inside [`ActionRepeat`](super::ActionRepeat) to make stickiness
/// act per frame, as in the ALE.
pub struct StickyActions<E> {
    env: E,
    p: f64,
    previous: Option<Action>,
    rng: StdRng,
}

inner_access!(StickyActions);

impl<E: Env> StickyActions<E> {
    /// Wrap `env` with repeat probability `p`.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    pub fn new(env: E, p: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&p),
            "StickyActions: p = {p} is not a probability"
        );
        Self {
            env,
            p,
            previous: None,
            rng: StdRng::seed_from_u64(SEED_SALT),
        }
    }
}

impl<E: Env> Env for StickyActions<E> {
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
        if let Some(seed) = seed {
            self.rng = StdRng::seed_from_u64(seed ^ SEED_SALT);
        }
        self.previous = None;
        self.env.reset(seed)
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        // The agent's action is checked even when it is not executed.
        check_action(self.env.id(), self.env.action_space(), action)?;
        let executed = match self.previous.take() {
            Some(previous) if self.rng.random_bool(self.p) => previous,
            _ => action.clone(),
        };
        let step = self.env.step(&executed);
        self.previous = Some(executed);
        step
    }

    fn render(&self) -> Option<Frame> {
        self.env.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrappers::test_env::Counter;

    fn run(p: f64, seed: u64) -> Vec<usize> {
        let mut env = StickyActions::new(Counter::new(1000), p);
        env.reset(Some(seed)).unwrap();
        for t in 0..400 {
            env.step(&Action::Discrete(t % 3)).unwrap();
        }
        env.into_inner().actions_seen
    }

    #[test]
    fn zero_and_one_are_never_and_always() {
        let agent: Vec<usize> = (0..400).map(|t| t % 3).collect();
        assert_eq!(run(0.0, 1), agent);
        assert!(run(1.0, 1).iter().all(|&a| a == 0));
    }

    #[test]
    fn repeats_about_p_of_the_time_and_is_seeded() {
        let seen = run(0.25, 7);
        assert_eq!(seen, run(0.25, 7));
        let sticky = seen
            .iter()
            .enumerate()
            .filter(|&(t, &a)| a != t % 3)
            .count();
        assert!((60..140).contains(&sticky), "{sticky} sticky steps of 400");
    }

    #[test]
    fn invalid_actions_are_rejected_even_when_sticky() {
        let mut env = StickyActions::new(Counter::new(10), 1.0);
        env.reset(None).unwrap();
        env.step(&Action::Discrete(0)).unwrap();
        assert!(env.step(&Action::Discrete(9)).is_err());
    }
}

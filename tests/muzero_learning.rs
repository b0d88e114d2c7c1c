//! MuZero learns a small problem whose answer is known, fast enough for CI.
//!
//! The toy environment: two actions; the rewarded action alternates with
//! the parity of the time step, which the observation shows; episodes last
//! 8 steps. Always choosing right returns 8; random play returns 4 on
//! average. A trained agent's greedy search must come close to 8, which
//! needs the representation, the reward and value heads, the policy and
//! the search to work together; once more with EfficientZero's value
//! prefix in place of the reward head.

use somnium::envs::{Action, Env, EnvError, Observation, Space, Step};
use somnium::muzero::{MuzeroAgent, MuzeroConfig};
use somnium::planners::SearchKind;
use somnium::train::Agent;

struct Alternate {
    t: usize,
    obs_space: Space,
    act_space: Space,
}

impl Alternate {
    fn new() -> Self {
        Alternate {
            t: 0,
            obs_space: Space::uniform_box(vec![2], 0.0, 1.0),
            act_space: Space::Discrete { n: 2 },
        }
    }

    fn obs(&self) -> Observation {
        Observation::Vector(vec![(self.t % 2) as f32, self.t as f32 / 8.0])
    }
}

impl Env for Alternate {
    fn id(&self) -> &str {
        "Alternate"
    }
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.act_space
    }
    fn reset(&mut self, _seed: Option<u64>) -> Result<Observation, EnvError> {
        self.t = 0;
        Ok(self.obs())
    }
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let Action::Discrete(a) = *action else {
            panic!("discrete actions only")
        };
        let reward = if a == self.t % 2 { 1.0 } else { 0.0 };
        self.t += 1;
        Ok(Step {
            obs: self.obs(),
            reward,
            terminated: self.t >= 8,
            truncated: false,
        })
    }
}

/// Episodes of random play before training, so both actions are seen in
/// every state before the policy sharpens.
const PREFILL_EPISODES: usize = 15;

fn tiny_config(kind: SearchKind) -> MuzeroConfig {
    let mut c = MuzeroConfig::tiny();
    c.search.kind = kind;
    c.search.simulations = if kind == SearchKind::Gumbel { 4 } else { 8 };
    c.search.max_considered_actions = 2;
    // With MuZero's score of 0 for unvisited actions and 8 simulations,
    // pUCT follows its own prior and never tries the other action (the test
    // fails that way); EfficientZero's parent-mean completion explores.
    c.search.unvisited_parent_mean = true;
    c.training.batch = 32;
    c.training.unroll = 3;
    c.training.td_steps = 8;
    c.training.discount = 0.97;
    c.training.target_update_every = 20;
    c.training.lr = 3e-3;
    c.updates_per_step = 1.0;
    c
}

/// Play one episode, recording it when `train`; returns its return. Random
/// episodes (the prefill) choose actions uniformly.
fn episode(agent: &mut MuzeroAgent, env: &mut Alternate, greedy: bool, train: bool) -> f32 {
    play(agent, env, greedy, train, None)
}

fn play(
    agent: &mut MuzeroAgent,
    env: &mut Alternate,
    greedy: bool,
    train: bool,
    mut random: Option<&mut somnium::core::Noise>,
) -> f32 {
    let mut obs = env.reset(None).unwrap();
    if train {
        agent.record(0, &obs, None, 0.0, true, false);
    }
    let (mut total, mut first) = (0.0, true);
    loop {
        let slot = if train { 0 } else { 1 };
        let action = match random.as_deref_mut() {
            Some(noise) => Action::Discrete(noise.below(2)),
            None => agent
                .act(slot, std::slice::from_ref(&obs), &[first], greedy)
                .remove(0),
        };
        first = false;
        let step = env.step(&action).unwrap();
        total += step.reward;
        obs = step.obs;
        if train {
            agent.record(0, &obs, Some(&action), step.reward, false, step.terminated);
        }
        if step.terminated {
            return total;
        }
    }
}

fn learns(kind: SearchKind, value_prefix: bool) {
    let mut config = tiny_config(kind);
    if value_prefix {
        // EfficientZero: the value prefix, its LSTM reset within the unroll
        // of 3, bootstrap values from a fresh search of the target network,
        // and the off-policy correction (planned updates below).
        config.efficient_zero.value_prefix = true;
        config.efficient_zero.lstm_units = 16;
        config.efficient_zero.prefix_horizon = 2;
        config.efficient_zero.off_policy_correction = true;
        config.reanalyze.root_values = true;
    }
    let mut env = Alternate::new();
    let device = somnium::device::parse_device("flex").unwrap();
    // The agent seeds burn's generator, so the networks start the same
    // whatever ran before. Seeds 1-5 all reach 8 in all three variants;
    // seed 7 reaches 7 with the value prefix (checked 2026-11-27).
    let mut agent = MuzeroAgent::new(
        &config,
        env.observation_space(),
        env.action_space(),
        1,
        1,
        &device,
    )
    .unwrap();
    agent.set_planned_updates(800);
    let before: f32 = (0..10)
        .map(|_| episode(&mut agent, &mut env, true, false))
        .sum::<f32>()
        / 10.0;
    let mut noise = somnium::core::Noise::new(3);
    for _ in 0..PREFILL_EPISODES {
        play(&mut agent, &mut env, false, true, Some(&mut noise));
    }
    let mut steps = 8 * PREFILL_EPISODES as u64;
    for _ in 0..100 {
        episode(&mut agent, &mut env, false, true);
        steps += 8;
        agent.train(steps, 8 * PREFILL_EPISODES as u64).unwrap();
    }
    assert_eq!(
        agent.updates(),
        800,
        "one update per step over 800 steps after the prefill"
    );
    let after: f32 = (0..10)
        .map(|_| episode(&mut agent, &mut env, true, false))
        .sum::<f32>()
        / 10.0;
    assert!(
        after >= 7.5,
        "{kind:?} (value prefix {value_prefix}): greedy return {after} after training \
         (was {before}); the optimum is 8"
    );
}

/// One test for both searches: tests in one binary run on parallel threads,
/// and two agents initialised at once would interleave their draws from
/// burn's global generator, making each run's networks a matter of timing.
#[test]
fn muzero_learns_the_alternating_task_with_puct_and_with_gumbel_search() {
    learns(SearchKind::Puct, false);
    learns(SearchKind::Gumbel, false);
    learns(SearchKind::Gumbel, true);
}

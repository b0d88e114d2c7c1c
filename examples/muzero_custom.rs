//! MuZero, configured in code and trained by a hand-written loop, on
//! MinAtar Breakout: what `somnium train` does, in one file you can change.
//!
//! The agent is the library's `MuzeroAgent`: a CNN representation (MinAtar
//! observations are 10x10x4 grids), an MLP dynamics with a reward head and
//! min-max scaled states, a prediction head, categorical value and reward
//! over the h(x) support, prioritised replay with n-step targets, and
//! Gumbel MuZero search with 8 simulations. EfficientZero's consistency
//! loss is switched on to show how the options are reached.
//!
//! Run with `cargo run --release --example muzero_custom -- 20000` (the
//! argument is the number of environment steps, 4,000 by default). It
//! prints the mean training return every 1,000 steps and a greedy
//! evaluation at the end. Random play scores about 0.45 per episode;
//! measured on 2026-11-27, 20,000 steps (4,750 updates, 6 minutes on two
//! CPU cores) brought the training return to 2.1 and the greedy
//! evaluation to 1.75.

use somnium::config::Validate;
use somnium::envs::{Action, VecEnv, random_action};
use somnium::muzero::{MuzeroAgent, MuzeroConfig};
use somnium::planners::SearchKind;
use somnium::train::Agent;

const ENV_ID: &str = "MinAtar/Breakout-v1";
const COPIES: usize = 8;
const PREFILL: u64 = 1_000;

fn config() -> MuzeroConfig {
    let mut c = MuzeroConfig {
        updates_per_step: 0.25,
        ..MuzeroConfig::default()
    };
    c.network.state = 64;
    c.network.units = 128;
    c.network.cnn_depth = 16;
    c.network.support = 50;
    c.search.kind = SearchKind::Gumbel;
    c.search.simulations = 8;
    c.search.max_considered_actions = 3;
    c.training.batch = 64;
    c.training.td_steps = 10;
    c.efficient_zero.consistency = 2.0;
    c
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env_steps: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse().map_err(|e| format!("steps {arg:?}: {e}"))?,
        None => 4_000,
    };
    let config = config();
    // The same range checks an experiment file gets.
    let mut checks = somnium::config::Validator::default();
    config.validate(&mut checks);
    checks.finish("examples/muzero_custom.rs")?;

    let device = somnium::device::parse_device("flex")?;
    let mut envs = VecEnv::make(ENV_ID, COPIES, 1)?;
    let mut agent = MuzeroAgent::new(
        &config,
        envs.observation_space(),
        envs.action_space(),
        COPIES,
        0,
        &device,
    )?;

    // Every copy's first observation starts an episode in the replay.
    let mut obs = envs.reset(Some(0))?;
    let mut is_first = vec![true; COPIES];
    for (i, o) in obs.iter().enumerate() {
        agent.record(i, o, None, 0.0, true, false);
    }
    let mut rng = somnium::core::Noise::new(1);
    let (mut steps, mut returns) = (0u64, Vec::new());
    while steps < env_steps {
        let actions: Vec<Action> = if steps < PREFILL {
            (0..COPIES)
                .map(|_| random_action(envs.action_space(), rng.rng()))
                .collect()
        } else {
            agent.act(0, &obs, &is_first, false)
        };
        let step = envs.step(&actions)?;
        for (i, action) in actions.iter().enumerate() {
            // Where an episode ended, the transition's observation is its
            // last one; the new episode's first is recorded after it.
            let last = step.final_obs[i].as_ref().unwrap_or(&step.obs[i]);
            let (reward, terminal) = (step.rewards[i], step.terminated[i]);
            agent.record(i, last, Some(action), reward, false, terminal);
            if step.is_first[i] {
                agent.record(i, &step.obs[i], None, 0.0, true, false);
            }
        }
        returns.extend(step.episodes.iter().map(|e| e.episode_return));
        (obs, is_first) = (step.obs, step.is_first);
        let before = steps;
        steps += COPIES as u64;
        agent.train(steps, PREFILL)?;
        if steps / 1_000 != before / 1_000 && !returns.is_empty() {
            let mean = returns.iter().sum::<f64>() / returns.len() as f64;
            println!(
                "{steps:>7} steps  {:>5} updates  train return {mean:5.2} over {} episodes",
                agent.updates(),
                returns.len()
            );
            returns.clear();
        }
    }

    // Greedy evaluation on fresh copies, acting through slot 1 so the
    // collection slot's latent states are left alone.
    let mut eval = VecEnv::make(ENV_ID, COPIES, 1)?;
    let mut obs = eval.reset(Some(1_000))?;
    let mut is_first = vec![true; COPIES];
    let mut finished = Vec::new();
    while finished.len() < 16 {
        let actions = agent.act(1, &obs, &is_first, true);
        let step = eval.step(&actions)?;
        finished.extend(step.episodes.iter().map(|e| e.episode_return));
        (obs, is_first) = (step.obs, step.is_first);
    }
    let mean = finished.iter().sum::<f64>() / finished.len() as f64;
    println!(
        "greedy evaluation: mean return {mean:.2} over {} episodes",
        finished.len()
    );
    Ok(())
}

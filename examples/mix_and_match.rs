//! One world model, every planner: train a small DreamerV3 (or STORM) on
//! CartPole, then act in its world model with each of somnium's planners
//! (the actor alone, pUCT and Gumbel tree search, CEM and MPPI) and
//! compare.
//!
//! The planners know nothing of the RSSM or the transformer: they step
//! states with `Dynamics::imagine` and score them with
//! `WorldModel::reward` and `continuation`, with the actor-critic's critic
//! as value and its actor as prior. Swap in `MuzeroNet` (or your own
//! model, see `custom_world_model.rs`) and the same code plans with it.
//! See `docs/composing.md`.
//!
//! ```text
//! cargo run --release --example mix_and_match [env steps, default 6000] [dreamer | storm]
//! ```

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use somnium::core::{Dynamics, Encoder, Noise, ObsBatch, ObsKind, Planner, WorldModel};
use somnium::dreamer::{ActorCritic, DreamerAgent, DreamerConfig};
use somnium::envs::{Action, Env, Observation};
use somnium::nn::tensor_util::{tensor_from_vec, to_vec};
use somnium::planners::{AnyPlanner, PlannerConfig, PlannerKind};
use somnium::storm::{StormAgent, StormConfig};
use somnium::train::Agent;

/// A DreamerV3 small enough to learn CartPole on a CPU in minutes.
fn small_dreamer() -> DreamerConfig {
    let mut c = DreamerConfig::default();
    c.rssm.deter = 128;
    c.rssm.hidden = 128;
    c.rssm.stoch = 8;
    c.rssm.classes = 8;
    c.encoder.mlp_units = 128;
    c.heads.units = 128;
    c.replay.batch = 16;
    c.replay.length = 32;
    c.train_ratio = 256.0;
    c.optimizer.model_lr = 3e-4;
    c.optimizer.actor_lr = 1e-4;
    c.optimizer.critic_lr = 1e-4;
    c
}

/// A STORM sized as `experiments/storm/cartpole.toml`.
fn small_storm() -> StormConfig {
    let mut c = StormConfig::default();
    c.model.width = 128;
    c.model.heads = 4;
    c.model.feed_forward = 256;
    c.model.stoch = 16;
    c.model.classes = 16;
    c.model.head_units = 128;
    c.model.encoder.mlp_units = 128;
    c.actor_critic.heads.units = 128;
    c.train_ratio = 512.0;
    c
}

/// Settings for each planner: modest budgets, greedy acting.
fn planner(kind: PlannerKind, actions: usize, discount: f32) -> AnyPlanner {
    let mut config = PlannerConfig {
        kind,
        ..PlannerConfig::default()
    };
    config.search.simulations = 16;
    config.search.max_considered_actions = actions;
    config.sampling.horizon = 10;
    config.sampling.samples = 128;
    config.sampling.policy_samples = 16;
    config.sampling.elites = 16;
    config.sampling.iterations = 3;
    let mut planner = AnyPlanner::new(&config, actions, true, discount).expect("discrete actions");
    planner.set_explore(false);
    planner
}

/// One episode acting with `planner` over `model`: the latent state is
/// filtered from the observations by the model's encoder and `observe`.
fn episode<M: WorldModel>(
    env: &mut dyn Env,
    seed: u64,
    model: &M,
    encoder: &dyn Encoder,
    actor_critic: &ActorCritic,
    planner: &mut AnyPlanner,
) -> f32 {
    let device = Device::flex();
    let kind = ObsKind::of(env.observation_space());
    let (actor, critic) = (actor_critic.actor.valid(), actor_critic.critic.valid());
    let mut noise = Noise::new(seed);
    let mut obs: Observation = env.reset(Some(seed)).expect("reset");
    let mut state = model.dynamics().initial(1, &device);
    let mut previous = Tensor::<2>::zeros([1, 2], &device);
    let (mut total, mut first) = (0.0, 1.0);
    loop {
        let embed = encoder.encode(&ObsBatch::from_observations(
            std::slice::from_ref(&obs),
            kind,
            &device,
        ));
        let is_first = tensor_from_vec(vec![first], [1], &device);
        state = model
            .dynamics()
            .observe(&state, previous, embed, is_first, &mut noise)
            .posterior;
        let action = planner
            .plan(model, &critic, &actor, &state, &mut noise)
            .actions;
        let row = to_vec(action.clone());
        let step = env
            .step(&Action::Discrete(usize::from(row[1] > row[0])))
            .expect("step");
        total += step.reward;
        if step.terminated || step.truncated {
            return total;
        }
        (obs, previous, first) = (step.obs, action, 0.0);
    }
}

/// Train `agent` on `env` for `steps` as `somnium train` would: act,
/// record, update (after 500 steps of prefill).
fn train(agent: &mut dyn Agent, env: &mut dyn Env, steps: u64) {
    let start = std::time::Instant::now();
    let mut obs = env.reset(Some(0)).expect("reset");
    agent.record(0, &obs, None, 0.0, true, false);
    let (mut first, mut episode_return, mut episodes) = (true, 0.0, 0);
    for step in 1..=steps {
        let action = agent
            .act(0, std::slice::from_ref(&obs), &[first], false)
            .remove(0);
        let outcome = env.step(&action).expect("step");
        episode_return += outcome.reward;
        agent.record(
            0,
            &outcome.obs,
            Some(&action),
            outcome.reward,
            false,
            outcome.terminated,
        );
        agent.train(step, 500).expect("update");
        first = outcome.terminated || outcome.truncated;
        obs = if first {
            episodes += 1;
            if episodes % 20 == 0 {
                println!("step {step}: episode {episodes} returned {episode_return}");
            }
            episode_return = 0.0;
            let obs = env.reset(None).expect("reset");
            agent.record(0, &obs, None, 0.0, true, false);
            obs
        } else {
            outcome.obs
        };
    }
    println!(
        "trained {steps} steps ({} updates) in {:.0} s",
        agent.updates(),
        start.elapsed().as_secs_f32()
    );
}

/// Five episodes with each planner over `model`.
fn every_planner<M: WorldModel>(
    env: &mut dyn Env,
    model: &M,
    encoder: &dyn Encoder,
    actor_critic: &ActorCritic,
    discount: f32,
) {
    for kind in PlannerKind::ALL {
        let mut planner = planner(kind, 2, discount);
        let start = std::time::Instant::now();
        let returns: Vec<f32> = (0..5)
            .map(|i| episode(env, 100 + i, model, encoder, actor_critic, &mut planner))
            .collect();
        let mean = returns.iter().sum::<f32>() / returns.len() as f32;
        println!(
            "{kind:?}: mean return {mean:.1} over 5 episodes {returns:?} ({:.1} s)",
            start.elapsed().as_secs_f32()
        );
    }
}

fn main() {
    let steps: u64 = std::env::args()
        .nth(1)
        .map_or(6000, |s| s.parse().expect("env steps"));
    let family = std::env::args().nth(2).unwrap_or_else(|| "dreamer".into());
    let mut env = somnium::envs::make("CartPole-v1").expect("CartPole");
    let (obs_space, act_space) = (env.observation_space().clone(), env.action_space().clone());
    let device = Device::flex();
    match family.as_str() {
        "dreamer" => {
            let config = small_dreamer();
            let mut agent =
                DreamerAgent::new(&config, &obs_space, &act_space, 1, 0, &device).expect("agent");
            train(&mut agent, env.as_mut(), steps);
            // The same world model, every planner.
            let model = agent.world_model().valid();
            let discount = config.behaviour.discount;
            every_planner(
                env.as_mut(),
                &model,
                &model.encoder,
                agent.actor_critic(),
                discount,
            );
        }
        "storm" => {
            let config = small_storm();
            let mut agent =
                StormAgent::new(&config, &obs_space, &act_space, 1, 0, &device).expect("agent");
            train(&mut agent, env.as_mut(), steps);
            let model = agent.world_model().valid();
            let discount = config.actor_critic.behaviour.discount;
            every_planner(env.as_mut(), &model, &model, agent.actor_critic(), discount);
        }
        other => panic!("unknown family `{other}`: dreamer or storm"),
    }
}

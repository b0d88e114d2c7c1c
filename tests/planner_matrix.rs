//! The matrix: every planner with every world model, through the same
//! traits, on one small deterministic environment, each required to beat a
//! random policy clearly.
//!
//! Columns are [`PlannerKind::ALL`] (acting by the policy alone, pUCT,
//! Gumbel, CEM, MPPI), built by [`AnyPlanner`]; a new planner kind adds a
//! column. Rows are world models fitted to the environment from random
//! play, each with DreamerV3's actor-critic trained in imagination inside
//! it (the actor is the planners' prior, the critic their value): the
//! DreamerV3 RSSM, MuZero's networks (with per-step rewards and with
//! EfficientZero's value prefix), the deterministic MLP model of
//! `examples/custom_world_model.rs`, and STORM's transformer model (whose
//! state carries its history). A new model adds a row with one call
//! of [`check_row`].
//!
//! The environment, `Cycle`: a target among 2 actions is shown one-hot;
//! reward 1 for choosing it; the target then moves on by one; 8 steps per
//! episode. Random play scores 4; the optimum is 8.

#[allow(dead_code)]
#[path = "../examples/custom_world_model.rs"]
mod custom_world_model;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use somnium::core::{
    Dynamics, Encoder, LatentState, Noise, ObsBatch, ObsKind, Planner, VectorState, WorldModel,
};
use somnium::dreamer::world_model::DeviceBatch;
use somnium::dreamer::{ActorCritic, DreamerAgent, DreamerConfig};
use somnium::envs::{Action, Env, EnvError, Observation, Space, Step};
use somnium::muzero::{MuzeroActing, MuzeroAgent, MuzeroConfig};
use somnium::nn::tensor_util::{tensor_from_vec, to_vec};
use somnium::planners::{AnyPlanner, PlannerConfig, PlannerKind};
use somnium::replay::SequenceBatch;
use somnium::storm::{StormModelConfig, StormWorldModel};
use somnium::train::Agent;

const ACTIONS: usize = 2;
const LENGTH: usize = 8;
/// Seeds burn's initialisers per row, so a row's result does not depend on
/// which rows ran before it.
const SEED: u64 = 0;
const RANDOM_RETURN: f32 = LENGTH as f32 / ACTIONS as f32;

struct Cycle {
    target: usize,
    t: usize,
    obs_space: Space,
    act_space: Space,
}

impl Cycle {
    fn new() -> Self {
        Cycle {
            target: 0,
            t: 0,
            obs_space: Space::uniform_box(vec![ACTIONS + 1], 0.0, 1.0),
            act_space: Space::Discrete { n: ACTIONS },
        }
    }
    fn obs(&self) -> Observation {
        let mut v = vec![0.0; ACTIONS + 1];
        v[self.target] = 1.0;
        v[ACTIONS] = self.t as f32 / LENGTH as f32;
        Observation::Vector(v)
    }
}

impl Env for Cycle {
    fn id(&self) -> &str {
        "Cycle"
    }
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.act_space
    }
    fn reset(&mut self, seed: Option<u64>) -> Result<Observation, EnvError> {
        self.t = 0;
        self.target = seed.unwrap_or(0) as usize % ACTIONS;
        Ok(self.obs())
    }
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let Action::Discrete(a) = *action else {
            panic!("discrete actions")
        };
        let reward = if a == self.target { 1.0 } else { 0.0 };
        self.t += 1;
        self.target = (self.target + 1) % ACTIONS;
        Ok(Step {
            obs: self.obs(),
            reward,
            terminated: self.t >= LENGTH,
            truncated: false,
        })
    }
}

fn one_hot(a: usize) -> Vec<f32> {
    (0..ACTIONS)
        .map(|i| if i == a { 1.0 } else { 0.0 })
        .collect()
}

/// Random play: calls `record(obs, action, reward, is_first, terminal)` for
/// every observation, with the action and reward that led to it.
fn random_play(
    episodes: u64,
    noise: &mut Noise,
    mut record: impl FnMut(&Observation, Option<usize>, f32, bool, bool),
) {
    let mut env = Cycle::new();
    for seed in 0..episodes {
        let obs = env.reset(Some(seed)).unwrap();
        record(&obs, None, 0.0, true, false);
        loop {
            let a = noise.below(ACTIONS);
            let step = env.step(&Action::Discrete(a)).unwrap();
            record(&step.obs, Some(a), step.reward, false, step.terminated);
            if step.terminated {
                break;
            }
        }
    }
}

fn planner_config(kind: PlannerKind) -> PlannerConfig {
    let mut config = PlannerConfig {
        kind,
        ..PlannerConfig::default()
    };
    config.search.simulations = 8;
    config.search.max_considered_actions = ACTIONS;
    config.sampling.horizon = 3;
    config.sampling.samples = 32;
    config.sampling.policy_samples = 8;
    config.sampling.elites = 6;
    config.sampling.iterations = 3;
    config
}

/// Mean return of `episodes` greedy episodes (played side by side) with
/// `planner` over `model`, whose latent state is filtered from the
/// observations by `encoder` and `Dynamics::observe`.
fn play<M: WorldModel>(
    model: &M,
    encoder: &dyn Encoder,
    actor_critic: &ActorCritic,
    planner: &mut AnyPlanner,
    episodes: usize,
) -> f32 {
    let device = Device::flex();
    let (actor, critic) = (actor_critic.actor.valid(), actor_critic.critic.valid());
    let kind = ObsKind::Vector { width: ACTIONS + 1 };
    let mut envs: Vec<Cycle> = (0..episodes).map(|_| Cycle::new()).collect();
    let mut obs: Vec<Observation> = envs
        .iter_mut()
        .enumerate()
        .map(|(i, env)| env.reset(Some(100 + i as u64)).unwrap())
        .collect();
    let mut noise = Noise::new(7);
    let mut state = model.dynamics().initial(episodes, &device);
    let mut previous = Tensor::<2>::zeros([episodes, ACTIONS], &device);
    let mut total = 0.0;
    planner.set_explore(false);
    for t in 0..LENGTH {
        let embed = encoder.encode(&ObsBatch::from_observations(&obs, kind, &device));
        let is_first = tensor_from_vec(
            vec![if t == 0 { 1.0 } else { 0.0 }; episodes],
            [episodes],
            &device,
        );
        state = model
            .dynamics()
            .observe(&state, previous, embed, is_first, &mut noise)
            .posterior
            .detach();
        let actions = planner
            .plan(model, &critic, &actor, &state, &mut noise)
            .actions;
        let rows = to_vec(actions.clone());
        for (i, env) in envs.iter_mut().enumerate() {
            let row = &rows[i * ACTIONS..(i + 1) * ACTIONS];
            let a = row.iter().position(|&x| x > 0.5).expect("one-hot");
            let step = env.step(&Action::Discrete(a)).unwrap();
            total += step.reward;
            obs[i] = step.obs;
        }
        previous = actions;
    }
    total / episodes as f32
}

/// Play every planner kind on `model`; returns `(planner, return)` per column.
fn check_row<M: WorldModel>(
    model: &M,
    encoder: &dyn Encoder,
    actor_critic: &ActorCritic,
) -> Vec<(PlannerKind, f32)> {
    PlannerKind::ALL
        .iter()
        .map(|&kind| {
            let mut planner = AnyPlanner::new(&planner_config(kind), ACTIONS, true, 0.9).unwrap();
            (kind, play(model, encoder, actor_critic, &mut planner, 12))
        })
        .collect()
}

fn dreamer_row() -> Vec<(PlannerKind, f32)> {
    let mut c = DreamerConfig::tiny();
    c.behaviour.discount = 0.9;
    // A slow actor with more entropy, so it does not settle on one action
    // before the reward model has learnt which action pays where.
    c.optimizer.actor_lr = 2e-4;
    c.optimizer.critic_lr = 2e-4;
    c.behaviour.entropy = 3e-3;
    let env = Cycle::new();
    let device = Device::flex();
    let mut agent = DreamerAgent::new(
        &c,
        env.observation_space(),
        env.action_space(),
        1,
        SEED,
        &device,
    )
    .unwrap();
    random_play(40, &mut Noise::new(1), |obs, a, r, first, terminal| {
        agent.record(0, obs, a.map(Action::Discrete).as_ref(), r, first, terminal)
    });
    for _ in 0..400 {
        agent.train_step().unwrap();
    }
    let model = agent.world_model().valid();
    check_row(&model, &model.encoder, agent.actor_critic())
}

fn muzero_row(value_prefix: bool) -> Vec<(PlannerKind, f32)> {
    let mut c = MuzeroConfig::default();
    // EfficientZero's value prefix: rewards reach every planner as
    // differences of the LSTM's prefixes, carried in the state.
    c.efficient_zero.value_prefix = value_prefix;
    c.efficient_zero.lstm_units = 32;
    c.network.state = 32;
    c.network.units = 64;
    c.network.support = 10;
    c.training.batch = 64;
    c.training.unroll = 5;
    c.training.td_steps = 3;
    c.training.lr = 3e-3;
    // Uniform replay: on 320 steps of random play, prioritised sampling's
    // importance weights shrink most updates to a tenth.
    c.replay.alpha = 0.0;
    c.acting = MuzeroActing::ActorCritic;
    c.actor_critic.heads.layers = 1;
    c.actor_critic.heads.units = 64;
    // Imagine no further than the model was unrolled in training.
    c.actor_critic.behaviour.horizon = 4;
    c.actor_critic.behaviour.discount = 0.9;
    c.actor_critic.lr = 2e-4;
    c.actor_critic.behaviour.entropy = 3e-3;
    let env = Cycle::new();
    let device = Device::flex();
    let mut agent = MuzeroAgent::new(
        &c,
        env.observation_space(),
        env.action_space(),
        1,
        SEED,
        &device,
    )
    .unwrap();
    random_play(40, &mut Noise::new(2), |obs, a, r, first, terminal| {
        agent.record(0, obs, a.map(Action::Discrete).as_ref(), r, first, terminal)
    });
    // MuZero's reward loss sits on a plateau for 600 to 1,000 updates here
    // (depending on the random stream) before it separates the target's
    // action from the other.
    for _ in 0..1600 {
        agent.train_step().unwrap();
    }
    let net = agent.net().valid();
    check_row(
        &net,
        &net,
        agent.actor_critic().expect("acting by actor-critic"),
    )
}

fn custom_row() -> Vec<(PlannerKind, f32)> {
    use custom_world_model::{MlpWorldModel, Transitions, fit};
    let device = Device::flex().autodiff();
    device.seed(SEED);
    let kind = ObsKind::Vector { width: ACTIONS + 1 };
    let mut noise = Noise::new(3);
    let mut data = Transitions::default();
    let mut last: Option<Observation> = None;
    random_play(40, &mut Noise::new(4), |obs, a, r, _first, terminal| {
        if let (Some(prev), Some(a)) = (&last, a) {
            data.push(prev, one_hot(a), r, terminal, obs);
        }
        last = Some(obs.clone());
    });
    let model = MlpWorldModel::new(kind, ACTIONS, 32, 64, &device);
    let (model, _) = fit(model, &data, kind, 400, 64, &mut noise);
    let mut settings = somnium::dreamer::ActorCriticSettings::default();
    settings.heads.layers = 1;
    settings.heads.units = 64;
    settings.behaviour.horizon = 5;
    settings.behaviour.discount = 0.9;
    settings.lr = 1e-3;
    let mut ac = ActorCritic::new(32, ACTIONS, true, &settings.dreamer(), &device);
    // The fitted model stays fixed while the actor-critic learns in it.
    let frozen = model.clone().no_grad();
    for _ in 0..300 {
        let batch: Vec<Observation> = (0..64)
            .map(|_| {
                let mut env = Cycle::new();
                let mut obs = env.reset(Some(noise.below(ACTIONS) as u64)).unwrap();
                for _ in 0..noise.below(LENGTH) {
                    obs = env.step(&Action::Discrete(0)).unwrap().obs;
                }
                obs
            })
            .collect();
        // Encode with the inference copy: a graph built on the model's
        // parameters and never differentiated would be kept alive by them.
        let obs = ObsBatch::from_observations(&batch, kind, &device.clone().inner());
        let starts = VectorState::new(Tensor::from_inner(model.valid().encode(&obs)));
        let continues = Tensor::ones([starts.batch()], &device);
        ac.update(&frozen, starts, continues, &mut noise);
    }
    let model = model.valid();
    check_row(&model, &model, &ac)
}

/// One step of a recorded episode: observation, the action before it
/// (one-hot; zeros at the start), the reward into it, first and terminal
/// flags.
type Row = (Vec<f32>, Vec<f32>, f32, f32, f32);

/// `batch` random episodes of `episodes`, whole, as a replay batch.
fn episode_batch(episodes: &[Vec<Row>], batch: usize, noise: &mut Noise) -> SequenceBatch {
    let t = LENGTH + 1;
    let picks: Vec<usize> = (0..batch).map(|_| noise.below(episodes.len())).collect();
    let mut out = SequenceBatch {
        batch,
        length: t,
        obs: vec![],
        actions: vec![],
        rewards: vec![],
        is_first: vec![],
        is_terminal: vec![],
        positions: vec![(0, 0); t * batch],
        start: None,
    };
    let picked: Vec<&Vec<Row>> = picks.iter().map(|&e| &episodes[e]).collect();
    for step in 0..t {
        for episode in &picked {
            let (obs, action, reward, first, terminal) = &episode[step];
            out.obs.extend(obs);
            out.actions.extend(action);
            out.rewards.push(*reward);
            out.is_first.push(*first);
            out.is_terminal.push(*terminal);
        }
    }
    out
}

fn storm_row() -> Vec<(PlannerKind, f32)> {
    use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
    let device = Device::flex().autodiff();
    device.seed(SEED);
    let kind = ObsKind::Vector { width: ACTIONS + 1 };
    let mut episodes: Vec<Vec<Row>> = vec![];
    random_play(40, &mut Noise::new(5), |obs, a, r, first, terminal| {
        if first {
            episodes.push(vec![]);
        }
        let Observation::Vector(v) = obs else {
            panic!("vector observations")
        };
        let action = a.map(one_hot).unwrap_or(vec![0.0; ACTIONS]);
        let row = (
            v.clone(),
            action,
            r,
            first as u8 as f32,
            terminal as u8 as f32,
        );
        episodes.last_mut().expect("a first step").push(row);
    });
    let mut noise = Noise::new(6);
    let config = StormModelConfig::tiny();
    let mut model = StormWorldModel::new(&config, kind, ACTIONS, &device);
    let mut optim: ModuleOptimizer = AdamConfig::new().init();
    for _ in 0..300 {
        let data = DeviceBatch::new(episode_batch(&episodes, 16, &mut noise), kind, &device);
        let losses = model
            .observe_sequences(&data, config.free_nats, &mut noise)
            .losses;
        let grads =
            GradientsParams::from_grads(losses.total(&config.loss_scales()).backward(), &model);
        model = optim.step(1e-3, model, grads);
    }
    let mut settings = somnium::dreamer::ActorCriticSettings::default();
    settings.heads.layers = 1;
    settings.heads.units = 64;
    settings.behaviour.horizon = 5;
    settings.behaviour.discount = 0.9;
    settings.lr = 1e-3;
    let features = model.dynamics().feature_width();
    let mut ac = ActorCritic::new(features, ACTIONS, true, &settings.dreamer(), &device);
    // Imagination in the fitted model, fixed and without dropout.
    let frozen = model.clone().freeze();
    for _ in 0..300 {
        let data = DeviceBatch::new(episode_batch(&episodes, 4, &mut noise), kind, &device);
        let (starts, continues) = frozen.imagination_starts(&data, config.context, &mut noise);
        ac.update(&frozen, starts, continues, &mut noise);
    }
    let model = model.valid();
    check_row(&model, &model, &ac)
}

#[test]
fn every_planner_beats_random_play_with_every_world_model() {
    let rows = [
        ("dreamer-rssm", dreamer_row()),
        ("muzero", muzero_row(false)),
        ("muzero-prefix", muzero_row(true)),
        ("custom-mlp", custom_row()),
        ("storm", storm_row()),
    ];
    let mut failures = Vec::new();
    for (model, row) in &rows {
        for (planner, score) in row {
            eprintln!(
                "{model:>13} x {planner:?}: {score:.2} (random {RANDOM_RETURN:.2}, best {LENGTH})"
            );
            if *score < RANDOM_RETURN + 2.0 {
                failures.push(format!("{model} x {planner:?}: {score:.2}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "planning should beat random play ({RANDOM_RETURN:.2}) by 2: {failures:?}"
    );
}

//! Bring your own world model: a deterministic MLP dynamics model, written
//! here in one file, planned with somnium's existing CEM planner.
//!
//! A model joins the core by implementing four traits: `Encoder`
//! (observation -> embedding), `Dynamics` (how the latent state moves; this
//! one keeps the state as a plain vector, `VectorState`), and `WorldModel`
//! (reward and continuation of imagined steps). Then every planner
//! (`policy` with an actor-critic, `puct`, `gumbel`, `cem`, `mppi`) runs on
//! it unchanged. Training is the model's own business: here, one-step
//! reward, continuation and latent-consistency losses (TD-MPC style) on
//! transitions from random play.
//!
//! ```text
//! cargo run --release --example custom_world_model
//! ```
//! CartPole: random play, fit the model, then plan with CEM (reward 1 per
//! step, so the planner maximises the predicted chance of staying up).

use burn::module::Module;
use burn::nn::Linear;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::log_sigmoid;
use burn::tensor::{Device, Tensor};
use somnium::core::{
    Dynamics, Encoder, Noise, ObsBatch, ObsKind, Observed, Planner, VectorState, WorldModel,
};
use somnium::envs::{Action, Env, Observation};
use somnium::nn::dist::{Bernoulli, BinSpace, BinnedScalar, ScalarTransform};
use somnium::nn::mlp::{Mlp, linear};
use somnium::nn::norm::NormKind;
use somnium::nn::symlog::symlog;
use somnium::nn::tensor_util::{tensor_from_vec, to_vec};

/// Rewards are plain scalars here; planners read them through a point-mass
/// [`BinnedScalar`] on a fine linear grid.
const REWARD_BINS: BinSpace = BinSpace {
    low: -10.0,
    high: 10.0,
    bins: 201,
    transform: ScalarTransform::Identity,
};

/// A deterministic world model of MLPs. The latent state is `tanh` of a
/// linear layer, so it stays bounded however far it is unrolled.
#[derive(Module, Debug)]
pub struct MlpWorldModel {
    encoder: Mlp,
    encoder_out: Linear,
    dynamics: Mlp,
    dynamics_out: Linear,
    reward: Mlp,
    reward_out: Linear,
    continuation: Mlp,
    continuation_out: Linear,
    state: usize,
}

impl MlpWorldModel {
    /// A model for `obs` observations and `actions` action components, with a
    /// `state`-wide latent and MLPs of `units`.
    pub fn new(obs: ObsKind, actions: usize, state: usize, units: usize, device: &Device) -> Self {
        let norm = NormKind::Layer;
        MlpWorldModel {
            encoder: Mlp::new(obs.flat_len(), units, 2, norm, device),
            encoder_out: linear(units, state, true, device),
            dynamics: Mlp::new(state + actions, units, 2, norm, device),
            dynamics_out: linear(units, state, true, device),
            reward: Mlp::new(state, units, 1, norm, device),
            reward_out: linear(units, 1, true, device),
            continuation: Mlp::new(state, units, 1, norm, device),
            continuation_out: linear(units, 1, true, device),
            state,
        }
    }

    fn predicted_reward(&self, features: Tensor<2>) -> Tensor<1> {
        self.reward_out
            .forward(self.reward.forward(features))
            .squeeze_dim(1)
    }

    fn continue_logit(&self, features: Tensor<2>) -> Tensor<1> {
        self.continuation_out
            .forward(self.continuation.forward(features))
            .squeeze_dim(1)
    }

    /// One-step losses on a batch of transitions, averaged `[1]`: squared
    /// reward error, continuation cross-entropy, and the distance of the
    /// predicted next state from the encoding of the real next observation.
    pub fn loss(&self, batch: &TransitionBatch) -> Tensor<1> {
        let state = VectorState::new(self.encode(&batch.obs));
        let next = self.imagine(&state, batch.actions.clone(), &mut Noise::new(0));
        let target = self.encode(&batch.next_obs).detach();
        let reward =
            (self.predicted_reward(next.hidden.clone()) - batch.rewards.clone()).powi_scalar(2);
        let logit = self.continue_logit(next.hidden.clone());
        let cont = batch.continues.clone();
        let bce = (cont.clone() * log_sigmoid(logit.clone())
            + (cont.neg() + 1.0) * log_sigmoid(logit.neg()))
        .neg();
        let latent = (next.hidden - target)
            .powi_scalar(2)
            .sum_dim(1)
            .squeeze_dim(1);
        (reward + bce + latent).mean()
    }
}

impl Encoder for MlpWorldModel {
    fn embed_width(&self) -> usize {
        self.state
    }
    fn encode(&self, obs: &ObsBatch) -> Tensor<2> {
        let x = symlog(obs.flat());
        self.encoder_out.forward(self.encoder.forward(x)).tanh()
    }
}

impl Dynamics for MlpWorldModel {
    type State = VectorState;

    fn feature_width(&self) -> usize {
        self.state
    }
    fn initial(&self, batch: usize, device: &Device) -> VectorState {
        VectorState::new(Tensor::zeros([batch, self.state], device))
    }
    /// The model is Markovian: the state is the encoded observation.
    fn observe(
        &self,
        _state: &VectorState,
        _action: Tensor<2>,
        embed: Tensor<2>,
        _is_first: Tensor<1>,
        _noise: &mut Noise,
    ) -> Observed<VectorState> {
        let state = VectorState::new(embed);
        Observed {
            posterior: state.clone(),
            prior: state,
        }
    }
    fn imagine(&self, state: &VectorState, action: Tensor<2>, _noise: &mut Noise) -> VectorState {
        let input = Tensor::cat(vec![state.hidden.clone(), action], 1);
        VectorState::new(
            self.dynamics_out
                .forward(self.dynamics.forward(input))
                .tanh(),
        )
    }
}

impl WorldModel for MlpWorldModel {
    type Dynamics = Self;
    fn dynamics(&self) -> &Self {
        self
    }
    fn reward(&self, features: Tensor<2>) -> BinnedScalar {
        BinnedScalar::point(self.predicted_reward(features), REWARD_BINS)
    }
    fn continuation(&self, features: Tensor<2>) -> Option<Bernoulli> {
        Some(Bernoulli::new(self.continue_logit(features)))
    }
}

/// Transitions of random or planned play.
#[derive(Default)]
pub struct Transitions {
    obs: Vec<Vec<f32>>,
    actions: Vec<Vec<f32>>,
    rewards: Vec<f32>,
    continues: Vec<f32>,
    next_obs: Vec<Vec<f32>>,
}

/// A sampled batch on a device.
pub struct TransitionBatch {
    obs: ObsBatch,
    actions: Tensor<2>,
    rewards: Tensor<1>,
    continues: Tensor<1>,
    next_obs: ObsBatch,
}

impl Transitions {
    /// Record one step: `action` as the model's `[A]` vector, `terminal` if
    /// the episode ended by termination (truncation is not an ending).
    pub fn push(
        &mut self,
        obs: &Observation,
        action: Vec<f32>,
        reward: f32,
        terminal: bool,
        next: &Observation,
    ) {
        self.obs.push(obs.to_f32());
        self.actions.push(action);
        self.rewards.push(reward);
        self.continues.push(if terminal { 0.0 } else { 1.0 });
        self.next_obs.push(next.to_f32());
    }

    /// How many transitions are stored.
    pub fn len(&self) -> usize {
        self.rewards.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.rewards.is_empty()
    }

    /// `n` transitions drawn uniformly.
    pub fn sample(
        &self,
        n: usize,
        kind: ObsKind,
        noise: &mut Noise,
        device: &Device,
    ) -> TransitionBatch {
        let picks: Vec<usize> = (0..n).map(|_| noise.below(self.len())).collect();
        let gather = |rows: &Vec<Vec<f32>>| picks.iter().flat_map(|&i| rows[i].clone()).collect();
        let a = self.actions[0].len();
        TransitionBatch {
            obs: ObsBatch::from_flat(gather(&self.obs), n, kind, device),
            actions: tensor_from_vec(gather(&self.actions), [n, a], device),
            rewards: tensor_from_vec(
                picks.iter().map(|&i| self.rewards[i]).collect(),
                [n],
                device,
            ),
            continues: tensor_from_vec(
                picks.iter().map(|&i| self.continues[i]).collect(),
                [n],
                device,
            ),
            next_obs: ObsBatch::from_flat(gather(&self.next_obs), n, kind, device),
        }
    }
}

/// Fit `model` to `data` for `steps` Adam steps of `batch` transitions; returns the last loss.
pub fn fit(
    model: MlpWorldModel,
    data: &Transitions,
    kind: ObsKind,
    steps: usize,
    batch: usize,
    noise: &mut Noise,
) -> (MlpWorldModel, f32) {
    let device = model.devices()[0].clone();
    let mut optim: ModuleOptimizer = AdamConfig::new().init();
    let mut model = model;
    let mut last = f32::NAN;
    for _ in 0..steps {
        let loss = model.loss(&data.sample(batch, kind, noise, &device));
        last = to_vec(loss.clone().detach())[0];
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
    }
    (model, last)
}

/// One episode of `env`, acting by `choose`; returns the return.
pub fn episode(
    env: &mut dyn Env,
    seed: u64,
    mut choose: impl FnMut(&Observation) -> Action,
) -> f32 {
    let mut obs = env.reset(Some(seed)).expect("reset");
    let mut total = 0.0;
    loop {
        let step = env.step(&choose(&obs)).expect("step");
        total += step.reward;
        if step.terminated || step.truncated {
            return total;
        }
        obs = step.obs;
    }
}

fn main() {
    let device = Device::flex().autodiff();
    let mut env = somnium::envs::make("CartPole-v1").expect("CartPole");
    let kind = ObsKind::of(env.observation_space());
    let mut noise = Noise::new(0);

    // Random play.
    let mut data = Transitions::default();
    let mut random_returns = Vec::new();
    for seed in 0..300 {
        let mut total = 0.0;
        let mut obs = env.reset(Some(seed)).expect("reset");
        loop {
            let a = noise.below(2);
            let step = env.step(&Action::Discrete(a)).expect("step");
            let one_hot = if a == 0 {
                vec![1.0, 0.0]
            } else {
                vec![0.0, 1.0]
            };
            data.push(&obs, one_hot, step.reward, step.terminated, &step.obs);
            total += step.reward;
            if step.terminated || step.truncated {
                break;
            }
            obs = step.obs;
        }
        random_returns.push(total);
    }
    let random = random_returns.iter().sum::<f32>() / random_returns.len() as f32;
    println!(
        "random play: {} transitions, mean return {random:.1}",
        data.len()
    );

    let model = MlpWorldModel::new(kind, 2, 64, 128, &device);
    let (model, loss) = fit(model, &data, kind, 3000, 256, &mut noise);
    println!("fitted: last one-step loss {loss:.4}");
    // Plan without gradient tracking: the model's inference copy, on the plain device.
    let model = model.valid();
    let device = device.inner();

    // Plan with CEM over the fitted model: no value function (zero), no prior policy samples.
    let config = somnium::planners::SamplingConfig {
        kind: somnium::planners::SamplingKind::Cem,
        horizon: 15,
        samples: 256,
        policy_samples: 0,
        elites: 32,
        iterations: 4,
        ..Default::default()
    };
    let mut planner = somnium::planners::SamplingPlanner::new(config, 2, true, 0.99);
    planner.explore = false;
    let zero = somnium::planners::ZeroValue;
    let uniform = somnium::planners::UniformPolicy { actions: 2 };
    let mut returns = Vec::new();
    for seed in 1000..1005 {
        let score = episode(env.as_mut(), seed, |obs| {
            let obs = ObsBatch::from_observations(std::slice::from_ref(obs), kind, &device);
            let state = VectorState::new(model.encode(&obs).detach());
            let plan = planner.plan(&model, &zero, &uniform, &state, &mut noise);
            let row = to_vec(plan.actions);
            Action::Discrete(if row[1] > row[0] { 1 } else { 0 })
        });
        println!("CEM episode (seed {seed}): return {score}");
        returns.push(score);
    }
    let planned = returns.iter().sum::<f32>() / returns.len() as f32;
    println!("random {random:.1} -> CEM on the custom model {planned:.1}");
}

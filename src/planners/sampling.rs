//! Sampling-based planning over any world model: the cross-entropy method
//! (CEM, as in PlaNet, Hafner et al. 2019) and model-predictive path
//! integral control (MPPI, as in TD-MPC, Hansen et al. 2022, and its
//! successor TD-MPC2).
//!
//! Both keep a distribution over action *sequences* of `horizon` steps for
//! every root state: a Gaussian per step and action dimension for
//! continuous actions, a categorical per step for discrete ones. Each
//! iteration samples `samples` sequences from it (plus `policy_samples`
//! sequences drawn once from the policy prior, as TD-MPC does), rolls them
//! out with `Dynamics::imagine`, scores them by their discounted predicted
//! rewards plus the discounted value of the last state (both weighted by
//! the predicted probability of the episode still running), and refits the
//! distribution to the best `elites`: uniformly (CEM) or with weights
//! `exp(temperature * (G - max G))` (MPPI; TD-MPC's `temperature`
//! multiplies the returns), its standard deviations clamped to
//! `[min_std, max_std]`. A `momentum` share of the old mean is kept.
//! CEM acts on the first step of the fitted mean (PlaNet); continuous MPPI,
//! as TD-MPC does, draws one elite by its weight and acts on its first
//! action, plus the fitted first-step spread when exploring. Discrete
//! actions (an extension of both: a categorical per step) act on the
//! fitted first step's probabilities.
//!
//! With `warm_start`, as TD-MPC, each step's Gaussian starts from the
//! previous step's fitted mean shifted by one step ([`SamplingPlanner::shifted`];
//! the agent keeps it per environment with its latent state and clears it
//! where an episode starts). Not carried over from TD-MPC: the schedule
//! that lowers the smallest spread from 0.5 to `min_std` over 25,000
//! steps. TD-MPC2 dropped it for a fixed 0.05, which `min_std` is, and a
//! planner here never sees the training step.
//!
//! Only `Dynamics`, `WorldModel::reward`/`continuation`, `ValueModel` and
//! (for the prior samples) `PolicyModel` are used, so this planner runs on
//! DreamerV3's RSSM, MuZero's networks or a user's model alike. Everything
//! stays on the device except one read of the `[B * N]` returns per
//! iteration, which the elite selection needs.

use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::{Validate, Validator};
use crate::core::{
    Dynamics, LatentState, Noise, PlanOutput, Planner, PolicyModel, ValueModel, WorldModel,
};
use crate::nn::dist::sample_one_hot;
use crate::nn::tensor_util::{int_tensor_from_vec, tensor_from_vec, to_vec};

/// How the sequence distribution is refitted to the elites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplingKind {
    /// The elites' mean and spread, each elite counting equally (PlaNet).
    Cem,
    /// Elites weighted by their exponentiated returns (TD-MPC).
    Mppi,
}

/// Hyperparameters of the sampling planner. Defaults are TD-MPC's
/// (horizon 5, 512 samples, 64 elites, 6 iterations, temperature 0.5,
/// momentum 0.1, spread within [0.05, 2], starting at 2), with TD-MPC2's
/// 24 sequences from the policy (TD-MPC's share of 0.05 makes 25).
/// TD-MPC2's own are horizon 3, 488 samples plus 24 from the policy,
/// momentum 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingConfig {
    /// `cem` or `mppi`.
    pub kind: SamplingKind,
    /// Steps of each action sequence.
    pub horizon: usize,
    /// Sequences sampled from the fitted distribution per iteration.
    pub samples: usize,
    /// Sequences sampled once from the policy prior and kept as candidates.
    pub policy_samples: usize,
    /// Best sequences the distribution is refitted to.
    pub elites: usize,
    /// Refitting rounds.
    pub iterations: usize,
    /// MPPI: the elites' weights are `exp(temperature * (G - max G))`
    /// (TD-MPC's name; larger is sharper).
    pub temperature: f32,
    /// Share of the previous mean (or probabilities) kept at each refit.
    pub momentum: f32,
    /// Smallest standard deviation of the Gaussian (continuous actions).
    pub min_std: f32,
    /// Largest standard deviation of the Gaussian (continuous actions).
    pub max_std: f32,
    /// Standard deviation of the first iteration (continuous actions).
    pub init_std: f32,
    /// Start each step's Gaussian from the previous step's fitted mean
    /// shifted by one step (zeros after it and at episode starts), as
    /// TD-MPC does; `false` starts every step from zeros, as PlaNet's CEM.
    pub warm_start: bool,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            kind: SamplingKind::Mppi,
            horizon: 5,
            samples: 512,
            policy_samples: 24,
            elites: 64,
            iterations: 6,
            temperature: 0.5,
            momentum: 0.1,
            min_std: 0.05,
            max_std: 2.0,
            init_std: 2.0,
            warm_start: false,
        }
    }
}

impl Validate for SamplingConfig {
    fn validate(&self, v: &mut Validator) {
        v.in_range("horizon", self.horizon, 1, 1000);
        v.in_range("samples", self.samples, 1, 1_000_000);
        v.in_range("policy_samples", self.policy_samples, 0, 1_000_000);
        v.check(
            self.elites >= 1 && self.elites <= self.samples + self.policy_samples,
            "elites",
            format!(
                "must lie in [1, samples + policy_samples = {}], got {}",
                self.samples + self.policy_samples,
                self.elites
            ),
        );
        v.in_range("iterations", self.iterations, 1, 1000);
        v.positive("temperature", self.temperature);
        v.in_range("momentum", self.momentum, 0.0, 0.999);
        v.positive("min_std", self.min_std);
        v.check(
            self.max_std >= self.min_std,
            "max_std",
            format!("must be at least min_std = {}", self.min_std),
        );
        v.check(
            self.init_std >= self.min_std,
            "init_std",
            format!("must be at least min_std = {}", self.min_std),
        );
    }
}

/// The distribution over action sequences of `B` roots.
// One exists per `plan` call and is moved, never stored in bulk.
#[allow(clippy::large_enum_variant)]
enum SequenceDistribution {
    /// Means and standard deviations `[B, H, A]` of actions in [-1, 1].
    Gaussian { mean: Tensor<3>, std: Tensor<3> },
    /// Probabilities `[B, H, A]` of each discrete action per step.
    Categorical { probs: Tensor<3> },
}

/// CEM or MPPI as a [`Planner`] over any world model.
pub struct SamplingPlanner {
    config: SamplingConfig,
    /// The number of actions (discrete) or action dimensions (continuous) `A`.
    actions: usize,
    discrete: bool,
    /// Discount per step.
    pub discount: f32,
    /// Whether the chosen action is explored (collecting): sampled from
    /// the fitted first-step distribution, or for continuous MPPI the
    /// drawn elite's first action plus the fitted spread; otherwise
    /// (evaluating) the first step's mode, or the drawn elite's action.
    pub explore: bool,
}

impl SamplingPlanner {
    /// A planner over `actions` discrete actions or continuous dimensions.
    pub fn new(config: SamplingConfig, actions: usize, discrete: bool, discount: f32) -> Self {
        SamplingPlanner {
            config,
            actions,
            discrete,
            discount,
            explore: true,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SamplingConfig {
        &self.config
    }

    fn initial_distribution(
        &self,
        batch: usize,
        device: &burn::tensor::Device,
        warm: Option<Tensor<3>>,
    ) -> SequenceDistribution {
        let shape = [batch, self.config.horizon, self.actions];
        if self.discrete {
            SequenceDistribution::Categorical {
                probs: Tensor::ones(shape, device) / self.actions as f32,
            }
        } else {
            SequenceDistribution::Gaussian {
                mean: warm
                    .filter(|m| m.dims() == shape)
                    .unwrap_or_else(|| Tensor::zeros(shape, device)),
                std: Tensor::ones(shape, device) * self.config.init_std,
            }
        }
    }

    /// TD-MPC's warm start: the previous step's fitted means `[B, H, A]`
    /// shifted one step earlier, zeros in the last step and in every row
    /// whose episode starts now (`restart`).
    ///
    /// # Shapes
    /// `previous [B, H, A]`, `restart` `B` -> `[B, H, A]`
    pub fn shifted(previous: Tensor<3>, restart: &[bool]) -> Tensor<3> {
        let [b, h, a] = previous.dims();
        let device = previous.device();
        let later = previous.slice([0..b, 1..h, 0..a]);
        let shifted = Tensor::cat(vec![later, Tensor::zeros([b, 1, a], &device)], 1);
        let keep: Vec<f32> = restart.iter().map(|&r| if r { 0.0 } else { 1.0 }).collect();
        shifted * tensor_from_vec(keep, [b, 1, 1], &device)
    }

    /// `n` sequences per root from `dist`, `[B, n, H, A]`.
    fn sample(&self, dist: &SequenceDistribution, n: usize, noise: &mut Noise) -> Tensor<4> {
        let [b, h, a] = match dist {
            SequenceDistribution::Gaussian { mean, .. } => mean.dims(),
            SequenceDistribution::Categorical { probs } => probs.dims(),
        };
        match dist {
            SequenceDistribution::Gaussian { mean, std } => {
                let eps = noise.normal_tensor([b, n, h, a], &mean.device());
                (mean.clone().unsqueeze_dim::<4>(1) + std.clone().unsqueeze_dim::<4>(1) * eps)
                    .clamp(-1.0, 1.0)
            }
            SequenceDistribution::Categorical { probs } => {
                let probs = probs
                    .clone()
                    .unsqueeze_dim::<4>(1)
                    .repeat_dim(1, n)
                    .reshape([b * n * h, a]);
                let uniform = noise.uniform_tensor([b * n * h, 1], &probs.device());
                sample_one_hot(probs, uniform).reshape([b, n, h, a])
            }
        }
    }

    /// Refit `dist` to `elites [B, K, H, A]` weighted by `weights [B, K]`
    /// (rows summing to one).
    fn refit(
        &self,
        dist: SequenceDistribution,
        elites: Tensor<4>,
        weights: Tensor<2>,
    ) -> SequenceDistribution {
        let w = weights.unsqueeze_dim::<3>(2).unsqueeze_dim::<4>(3); // [B, K, 1, 1]
        let new_mean: Tensor<3> = (elites.clone() * w.clone()).sum_dim(1).squeeze_dim(1);
        let keep = self.config.momentum;
        match dist {
            SequenceDistribution::Gaussian { mean, .. } => {
                let spread = (elites - new_mean.clone().unsqueeze_dim::<4>(1)).powi_scalar(2);
                let std = (spread * w)
                    .sum_dim(1)
                    .squeeze_dim::<3>(1)
                    .sqrt()
                    .clamp(self.config.min_std, self.config.max_std);
                SequenceDistribution::Gaussian {
                    mean: mean * keep + new_mean * (1.0 - keep),
                    std,
                }
            }
            SequenceDistribution::Categorical { probs } => SequenceDistribution::Categorical {
                probs: probs * keep + new_mean * (1.0 - keep),
            },
        }
    }

    /// Weights of the `K` elites of each root, from their returns `[B][K]`.
    fn elite_weights(&self, returns: &[Vec<f32>]) -> Vec<f32> {
        let mut weights = Vec::with_capacity(returns.len() * self.config.elites);
        for row in returns {
            match self.config.kind {
                SamplingKind::Cem => {
                    weights.extend(std::iter::repeat_n(1.0 / row.len() as f32, row.len()))
                }
                SamplingKind::Mppi => {
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let exp: Vec<f32> = row
                        .iter()
                        .map(|g| (self.config.temperature * (g - max)).exp())
                        .collect();
                    let total: f32 = exp.iter().sum();
                    weights.extend(exp.iter().map(|e| e / total));
                }
            }
        }
        weights
    }
}

/// Rows `b * n + j` for every root `b` and copy `j`: root indices repeated `n` times.
fn repeat_rows(batch: usize, n: usize, device: &burn::tensor::Device) -> Tensor<1, Int> {
    let rows: Vec<i64> = (0..batch as i64)
        .flat_map(|b| std::iter::repeat_n(b, n))
        .collect();
    int_tensor_from_vec(rows, [batch * n], device)
}

/// Scores action sequences in a world model: discounted predicted rewards,
/// then the discounted value of the last state, each weighted by the
/// predicted probability that the episode is still running.
struct Scorer<'a, M: WorldModel> {
    model: &'a M,
    value: &'a dyn ValueModel,
    discount: f32,
}

impl<M: WorldModel> Scorer<'_, M> {
    /// One imagined step from `state [M]`: the next state, its reward `[M]`
    /// and its continuation probability `[M]`.
    fn step(
        &self,
        state: &<M::Dynamics as Dynamics>::State,
        action: Tensor<2>,
        noise: &mut Noise,
    ) -> (<M::Dynamics as Dynamics>::State, Tensor<1>, Tensor<1>) {
        let next = self.model.dynamics().imagine(state, action, noise).detach();
        let features = next.features();
        let reward = self.model.transition_reward(&next);
        let cont = match self.model.continuation(features) {
            Some(cont) => cont.mean(),
            None => reward.ones_like(),
        };
        (next, reward.detach(), cont.detach())
    }

    /// The return so far after a step: adds `weight * reward` and updates
    /// `weight` (the running product of discount and continuation).
    fn accumulate(
        &self,
        total: Tensor<1>,
        weight: Tensor<1>,
        reward: Tensor<1>,
        cont: Tensor<1>,
    ) -> (Tensor<1>, Tensor<1>) {
        let total = total + weight.clone() * reward;
        (total, weight * cont * self.discount)
    }

    /// Returns `[M]` of `actions [M, H, A]` from `states [M]`.
    fn score(
        &self,
        states: &<M::Dynamics as Dynamics>::State,
        actions: Tensor<3>,
        noise: &mut Noise,
    ) -> Tensor<1> {
        let [m, h, a] = actions.dims();
        let mut state = states.clone();
        let mut total = Tensor::<1>::zeros([m], &actions.device());
        let mut weight = total.ones_like();
        for t in 0..h {
            let action = actions
                .clone()
                .slice([0..m, t..t + 1, 0..a])
                .reshape([m, a]);
            let (next, reward, cont) = self.step(&state, action, noise);
            (total, weight) = self.accumulate(total, weight, reward, cont);
            state = next;
        }
        self.bootstrap(total, weight, &state)
    }

    /// Sequences `[M, H, A]` sampled from `policy` from `states [M]`, and their returns `[M]`.
    fn policy_rollouts(
        &self,
        policy: &dyn PolicyModel,
        states: &<M::Dynamics as Dynamics>::State,
        horizon: usize,
        noise: &mut Noise,
    ) -> (Tensor<3>, Tensor<1>) {
        let mut state = states.clone();
        let m = state.batch();
        let mut total = Tensor::<1>::zeros([m], &state.features().device());
        let mut weight = total.ones_like();
        let mut actions = Vec::with_capacity(horizon);
        for _ in 0..horizon {
            // Continuous samples are kept inside the action box, as the
            // sampled sequences are; one-hot samples are unchanged.
            let action = policy
                .policy(state.features())
                .sample(noise)
                .clamp(-1.0, 1.0)
                .detach();
            let (next, reward, cont) = self.step(&state, action.clone(), noise);
            (total, weight) = self.accumulate(total, weight, reward, cont);
            actions.push(action.unsqueeze_dim::<3>(1));
            state = next;
        }
        let returns = self.bootstrap(total, weight, &state);
        (Tensor::cat(actions, 1), returns)
    }

    fn bootstrap(
        &self,
        total: Tensor<1>,
        weight: Tensor<1>,
        last: &<M::Dynamics as Dynamics>::State,
    ) -> Tensor<1> {
        let value = self.value.value(last.features()).mean().detach();
        total + weight * value
    }
}

impl<M: WorldModel> Planner<M> for SamplingPlanner {
    fn plan(
        &mut self,
        model: &M,
        value: &dyn ValueModel,
        policy: &dyn PolicyModel,
        states: &<M::Dynamics as Dynamics>::State,
        noise: &mut Noise,
    ) -> PlanOutput {
        self.plan_from(model, value, policy, states, None, noise).0
    }
}

impl SamplingPlanner {
    /// [`Planner::plan`] from a warm-start mean (see
    /// [`SamplingPlanner::shifted`]; ignored for discrete actions or when
    /// its shape does not fit), also returning the fitted means `[B, H, A]`
    /// to start the next step from (continuous actions only).
    pub fn plan_from<M: WorldModel>(
        &mut self,
        model: &M,
        value: &dyn ValueModel,
        policy: &dyn PolicyModel,
        states: &<M::Dynamics as Dynamics>::State,
        warm: Option<Tensor<3>>,
        noise: &mut Noise,
    ) -> (PlanOutput, Option<Tensor<3>>) {
        let c = &self.config;
        let (batch, h, a) = (states.batch(), c.horizon, self.actions);
        let device = states.features().device();
        let states = states.clone().detach();
        let scorer = Scorer {
            model,
            value,
            discount: self.discount,
        };
        let (n, p) = (c.samples, c.policy_samples);
        let sampled_starts = states.select(repeat_rows(batch, n, &device));
        let prior = (p > 0).then(|| {
            let starts = states.select(repeat_rows(batch, p, &device));
            let (actions, returns) = scorer.policy_rollouts(policy, &starts, h, noise);
            (actions.reshape([batch, p, h, a]), to_vec(returns))
        });

        let mut dist = self.initial_distribution(batch, &device, warm);
        let mut value_target = vec![0.0; batch];
        let mut last_elites = None;
        for _ in 0..c.iterations {
            let sampled = self.sample(&dist, n, noise); // [B, N, H, A]
            let sampled_returns = to_vec(scorer.score(
                &sampled_starts,
                sampled.clone().reshape([batch * n, h, a]),
                noise,
            ));
            let (candidates, per_root) = match &prior {
                Some((actions, _)) => (Tensor::cat(vec![sampled, actions.clone()], 1), n + p),
                None => (sampled, n),
            };
            // Elites of each root, chosen on the host from the returns.
            let mut elite_rows = Vec::with_capacity(batch * c.elites);
            let mut elite_returns = Vec::with_capacity(batch);
            for b in 0..batch {
                let mut scored: Vec<(f32, usize)> = (0..per_root)
                    .map(|j| {
                        let g = if j < n {
                            sampled_returns[b * n + j]
                        } else {
                            prior.as_ref().expect("policy samples").1[b * p + j - n]
                        };
                        (g, j)
                    })
                    .collect();
                scored.sort_by(|x, y| y.0.total_cmp(&x.0));
                scored.truncate(c.elites);
                elite_rows.extend(scored.iter().map(|&(_, j)| (b * per_root + j) as i64));
                elite_returns.push(scored.iter().map(|&(g, _)| g).collect::<Vec<f32>>());
            }
            let weights = self.elite_weights(&elite_returns);
            for (b, row) in elite_returns.iter().enumerate() {
                let w = &weights[b * c.elites..(b + 1) * c.elites];
                value_target[b] = row.iter().zip(w).map(|(g, w)| g * w).sum();
            }
            let k = c.elites;
            let elites = candidates
                .reshape([batch * per_root, h, a])
                .select(0, int_tensor_from_vec(elite_rows, [batch * k], &device))
                .reshape([batch, k, h, a]);
            dist = self.refit(
                dist,
                elites.clone(),
                tensor_from_vec(weights.clone(), [batch, k], &device),
            );
            last_elites = Some((elites, weights));
        }
        let (elites, weights) = last_elites.expect("at least one iteration");
        let fitted = match &dist {
            SequenceDistribution::Gaussian { mean, .. } => Some(mean.clone()),
            SequenceDistribution::Categorical { .. } => None,
        };
        let (actions, policy_target) = match (&dist, c.kind) {
            (SequenceDistribution::Gaussian { std, .. }, SamplingKind::Mppi) => (
                self.weighted_elite_action(elites, &weights, std, noise),
                None,
            ),
            _ => self.first_action(&dist, noise),
        };
        let out = PlanOutput {
            actions,
            policy_target,
            value_target: Some(tensor_from_vec(value_target, [batch], &device)),
        };
        (out, fitted)
    }
}

mod acting;
#[cfg(test)]
use acting::{draw_index, first_max_per_row};

#[cfg(test)]
mod tests;

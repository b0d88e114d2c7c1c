//! Behaviour learning in imagination (Hafner et al. 2023, sec. 3).
//!
//! From every replayed posterior state the actor imagines `horizon` steps
//! with the RSSM prior. Rewards and continuation come from the world
//! model's heads, values from the critic; lambda-returns combine them.
//! The critic regresses the returns (twohot cross-entropy) plus a pull
//! towards its slow EMA copy. The actor maximises normalised advantages:
//! by REINFORCE for discrete actions (the trajectory is detached) and by
//! backpropagating through the dynamics for continuous ones (the returns
//! then stay differentiable through the rewards, the continuations and the
//! critic's values of the imagined states, as in the reference); an
//! entropy bonus keeps it exploring. Every term at step `t` is weighted by
//! `gamma^t prod c`, the discounted chance of still being in the episode,
//! where `c` is the continue head's mode (2023) or probability (2025;
//! `behaviour.continuation`).
//!
//! Nothing here is specific to the RSSM: the rollout uses `Dynamics::imagine`
//! and the scores `WorldModel::transition_reward`/`continuation`, so the same behaviour
//! learning runs inside MuZero's model or a user's (a model without a
//! continue head is taken never to end an episode).

use burn::module::Module;
use burn::tensor::Tensor;

use super::config::{BehaviourConfig, ContinuationEstimate, LossScales};
use super::networks::{Actor, Critic};
use super::returns::{ReturnScaling, lambda_returns};
use crate::core::{
    Dynamics, LatentState, Noise, PolicyDistribution, PolicyModel, ValueModel, WorldModel,
};
use crate::nn::dist::BinnedScalar;
use crate::nn::tensor_util::to_vec;

/// An imagined trajectory.
#[derive(Debug, Clone)]
pub struct Imagination {
    /// Features of `s_0 .. s_H`, stacked time-major `[(H + 1) * N, F]`.
    pub features: Tensor<2>,
    /// Actions `a_0 .. a_{H-1}`, time-major `[H * N, A]`.
    pub actions: Tensor<2>,
    /// The actor's distributions at `s_0 .. s_{H-1}` that the actions were
    /// drawn from, time-major over `[H * N]`, differentiable with respect to
    /// the actor: the actor loss reuses them rather than running the actor
    /// a second time on the same states.
    pub policy: PolicyDistribution,
    /// The model's expected reward for entering `s_0 .. s_H`, time-major
    /// `[(H + 1) * N]` (0 for the starts, whose reward is never used).
    pub rewards: Tensor<1>,
    /// Starts `N`.
    pub starts: usize,
    /// Horizon `H`.
    pub horizon: usize,
}

/// Roll the actor forward in the model from `starts` (detached posterior states).
/// With `backprop`, actions keep their reparameterised gradients and states
/// stay attached, so returns can be differentiated through the dynamics.
pub fn imagine<M: WorldModel>(
    model: &M,
    actor: &Actor,
    starts: <M::Dynamics as Dynamics>::State,
    horizon: usize,
    backprop: bool,
    noise: &mut Noise,
) -> Imagination {
    let n = starts.batch();
    let mut state = starts;
    let mut features = vec![state.features()];
    let mut states = Vec::with_capacity(horizon);
    let mut actions = Vec::with_capacity(horizon);
    let mut policies = Vec::with_capacity(horizon);
    for _ in 0..horizon {
        let current = features.last().expect("the start's features").clone();
        let policy = actor.policy(current.detach());
        let action = policy.sample(noise);
        policies.push(policy);
        state = model.dynamics().imagine(&state, action.clone(), noise);
        if !backprop {
            state = state.detach();
        }
        features.push(state.features());
        states.push(state.clone());
        actions.push(action);
    }
    // Rewards read no state the loop carries: one pass over all steps
    // (the horizon is at least one, as the config requires).
    let rewards = Tensor::cat(
        vec![
            Tensor::zeros([n], &features[0].device()),
            model.transition_reward(&LatentState::cat(states)),
        ],
        0,
    );
    Imagination {
        features: Tensor::cat(features, 0),
        actions: Tensor::cat(actions, 0),
        policy: PolicyDistribution::cat(policies),
        rewards,
        starts: n,
        horizon,
    }
}

/// The actor's and critic's losses and what to log about them.
#[derive(Debug, Clone)]
pub struct BehaviourLosses {
    /// Actor loss `[1]`.
    pub actor: Tensor<1>,
    /// Critic loss (imagined returns plus slow-critic regulariser) `[1]`.
    pub critic: Tensor<1>,
    /// Mean policy entropy.
    pub entropy: f32,
    /// Mean lambda-return.
    pub return_mean: f32,
    /// Mean imagined reward and continuation over the imagined steps
    /// (not the starts): how often imagined episodes end, and what they
    /// earn, as the world model sees it.
    pub imagined_reward: f32,
    /// See `imagined_reward`.
    pub imagined_continue: f32,
    /// The return scale after this update.
    pub return_scale: f32,
    /// The lambda-return of each start state `[N]`, detached: the
    /// bootstrap of the critic loss on replay states.
    pub start_returns: Tensor<1>,
}

/// Reshape time-major `[(H + 1) * N]` to `[N, H + 1]`.
fn by_start(x: Tensor<1>, steps: usize, n: usize) -> Tensor<2> {
    x.reshape([steps, n]).swap_dims(0, 1)
}

/// Compute the actor and critic losses on an imagined trajectory.
///
/// `first_continues [N]` is `1 - is_terminal` of each start state.
#[allow(clippy::too_many_arguments)]
pub fn behaviour_losses<M: WorldModel>(
    model: &M,
    critic: &Critic,
    slow_critic: &Critic,
    imagined: &Imagination,
    first_continues: Tensor<1>,
    scaling: &mut ReturnScaling<'_>,
    config: &BehaviourConfig,
    scales: &LossScales,
    backprop: bool,
) -> BehaviourLosses {
    let (n, h) = (imagined.starts, imagined.horizon);
    let steps = h + 1;
    let features = imagined.features.clone();
    let device = features.device();
    let rewards = by_start(imagined.rewards.clone(), steps, n); // [N, H+1]
    let predicted_continues = match model.continuation(features.clone()) {
        Some(cont) => by_start(
            match config.continuation {
                ContinuationEstimate::Mode => cont.mode(),
                ContinuationEstimate::Probability => cont.mean(),
            },
            steps,
            n,
        ),
        None => Tensor::ones([n, steps], &device),
    };
    let continues = Tensor::cat(
        vec![
            first_continues.unsqueeze_dim::<2>(1),
            predicted_continues.slice([0..n, 1..steps]),
        ],
        1,
    );
    // One critic pass over detached s_0 .. s_H: its first H * N rows are
    // what the critic loss trains.
    let critic_dist = critic.value(features.clone().detach());
    let values = if backprop {
        // The returns and the baseline differentiate through the imagined
        // states into the actions, as the reference's do, but not into the
        // critic, which learns from its own loss alone.
        by_start(
            critic.clone().no_grad().value(features.clone()).mean(),
            steps,
            n,
        )
    } else {
        by_start(critic_dist.mean(), steps, n).detach()
    }; // [N, H+1]
    let imagined_mean =
        |x: &Tensor<2>| to_vec(x.clone().detach().slice([0..n, 1..steps]).mean())[0];
    let (imagined_reward, imagined_continue) = (imagined_mean(&rewards), imagined_mean(&continues));
    let (rewards, continues) = if backprop {
        (rewards, continues)
    } else {
        (rewards.detach(), continues.detach())
    };
    let returns = lambda_returns(
        rewards,
        continues.clone(),
        values.clone(),
        config.discount,
        config.lambda,
    ); // [N, H]
    let weights = trajectory_weights(continues.detach(), config.discount).slice([0..n, 0..h]); // [N, H]

    let scale = scaling.update(&to_vec(returns.clone().detach()));
    let base = values.slice([0..n, 0..h]);
    let advantage = (returns.clone() - base) / scale; // [N, H]

    let policy = &imagined.policy;
    let entropy = by_start(policy.entropy(), h, n);
    let log_prob =
        (!backprop).then(|| by_start(policy.log_prob(imagined.actions.clone().detach()), h, n));
    let actor_loss = actor_loss(
        advantage,
        log_prob,
        entropy.clone(),
        weights.clone(),
        config.entropy,
        scales.actor,
    );

    let critic_dist = critic_dist.rows(0..h * n);
    let slow_mean = slow_critic
        .value(policy_features_all(&features, h, n))
        .mean()
        .detach();
    let target = returns.clone().detach().swap_dims(0, 1).reshape([h * n]);
    let critic_loss = critic_loss(&critic_dist, target, slow_mean, weights, scales);
    BehaviourLosses {
        actor: actor_loss,
        critic: critic_loss,
        entropy: to_vec(entropy.mean())[0],
        return_mean: to_vec(returns.clone().detach().mean())[0],
        imagined_reward,
        imagined_continue,
        return_scale: scale,
        start_returns: returns.detach().slice([0..n, 0..1]).reshape([n]),
    }
}

/// The critic's loss, as the reference's `VFunction.loss` with the 2023
/// config's `critic_slowreg: logprob`: at every imagined step the twohot
/// cross-entropy against the lambda-return plus `slow_critic` times that
/// against the slow critic's mean, weighted by the trajectory weights,
/// averaged, times `critic`.
///
/// # Shapes
/// - `critic`: `[H * N]` rows, time-major; `targets`, `slow_means`: `[H * N]`
/// - `weights`: `[N, H]`; returns `[1]`
pub fn critic_loss(
    critic: &BinnedScalar,
    targets: Tensor<1>,
    slow_means: Tensor<1>,
    weights: Tensor<2>,
    scales: &LossScales,
) -> Tensor<1> {
    let [n, h] = weights.dims();
    let terms = critic.loss(targets) + critic.loss(slow_means.detach()) * scales.slow_critic;
    (by_start(terms, h, n) * weights.detach()).mean() * scales.critic
}

/// The weight of each imagined step in the losses, as the reference's
/// `imagine`: `w_t = prod_{i <= t} (gamma c_i) / gamma`, so `w_0 = c_0`
/// and a step after a predicted ending counts for little. Detached.
///
/// # Shapes
/// - `continues`: `[N, T]`; returns `[N, T]`
pub fn trajectory_weights(continues: Tensor<2>, discount: f32) -> Tensor<2> {
    ((continues.detach() * discount).log().cumsum(1).exp() / discount).detach()
}

/// The actor's loss, as the reference's `ImagActorCritic.loss`: the mean
/// over steps of `-(objective + entropy_scale * entropy) * weight`, times
/// `actor_scale`, where the objective is `log_prob * sg(advantage)`
/// (reinforce, with `log_prob`) or the advantage itself (backprop, whose
/// gradient flows through the returns into the actions).
///
/// # Shapes
/// - `advantage`, `log_prob`, `entropy`, `weights`: `[N, H]`; returns `[1]`
pub fn actor_loss(
    advantage: Tensor<2>,
    log_prob: Option<Tensor<2>>,
    entropy: Tensor<2>,
    weights: Tensor<2>,
    entropy_scale: f32,
    actor_scale: f32,
) -> Tensor<1> {
    let objective = match log_prob {
        Some(log_prob) => log_prob * advantage.detach(),
        None => advantage,
    };
    ((objective + entropy * entropy_scale).neg() * weights).mean() * actor_scale
}

/// Detached features of `s_0 .. s_{H-1}`, time-major `[H * N, F]`.
fn policy_features_all(features: &Tensor<2>, h: usize, n: usize) -> Tensor<2> {
    let width = features.dims()[1];
    features.clone().slice([0..h * n, 0..width]).detach()
}

#[cfg(test)]
mod tests;

//! One MuZero update: unroll the model `K` steps from replayed positions
//! and fit value, reward and policy to their targets (MuZero appendix G).
//!
//! - Value targets are n-step returns bootstrapped with the target network
//!   (MuZero Reanalyze: its value head; EfficientZero's paper: the root
//!   value of a fresh search with it) or with the stored search values.
//! - A share of the batch gets fresh policy targets from a search with the
//!   latest network (reanalyse).
//! - The gradient entering each dynamics step is halved, and the losses of
//!   the unrolled steps are scaled by `1 / K`, so the total gradient does
//!   not grow with the unroll length.
//! - Each position's loss is weighted by its importance weight, and its new
//!   priority is `|v_0 - z_0|`.

use burn::tensor::{Device, Tensor};

use super::config::MuzeroConfig;
use super::consistency::ConsistencyHeads;
use super::networks::{MuzeroNet, MuzeroState};
use crate::core::{LatentState, Noise, ObsBatch, ObsKind, ValueModel};
use crate::nn::tensor_util::{int_tensor_from_vec, tensor_from_vec, to_vec};
use crate::planners::MctsPlanner;
use crate::planners::latent::one_hot;
use crate::replay::UnrollTargets;

/// The loss of a batch and what the update reports.
pub struct UnrollLoss {
    /// The weighted total, to differentiate.
    pub total: Tensor<1>,
    /// New priorities `|v_0 - z_0|` `[B]`.
    pub priorities: Vec<f32>,
    /// Named loss terms (batch means).
    pub metrics: Vec<(String, f64)>,
}

/// Keep `scale` of the gradient flowing into `x` (the value is unchanged).
pub fn scale_gradient(x: Tensor<2>, scale: f32) -> Tensor<2> {
    x.clone() * scale + x.detach() * (1.0 - scale)
}

/// Where the bootstrap values of the value targets come from.
pub enum Bootstrap<'a> {
    /// The root values the acting search stored.
    Stored,
    /// The target network's value head on the bootstrap observations
    /// (MuZero Reanalyze).
    Predicted(&'a MuzeroNet),
    /// The root values of a fresh search of the target network, with the
    /// acting search's root noise (EfficientZero's `use_root_value`).
    Searched(&'a MuzeroNet, &'a mut MctsPlanner, &'a mut Noise),
}

/// Value targets `z [B * (K + 1)]`: the reward part plus the discounted
/// bootstrap value from `bootstrap`.
pub fn value_targets(
    targets: &UnrollTargets,
    bootstrap: Bootstrap<'_>,
    obs_kind: ObsKind,
    device: &Device,
) -> Vec<f32> {
    let observations = |net: &MuzeroNet| {
        let rows = targets.extra_obs.len() / obs_kind.flat_len();
        let obs = ObsBatch::from_flat(targets.extra_obs.clone(), rows, obs_kind, device);
        net.represent(&obs).detach()
    };
    let stored = matches!(bootstrap, Bootstrap::Stored);
    let values: Option<Vec<f32>> = match bootstrap {
        Bootstrap::Stored => None,
        // No observation to evaluate: nothing is bootstrapped.
        _ if targets.extra_obs.is_empty() => Some(Vec::new()),
        Bootstrap::Predicted(net) => {
            let state = observations(net);
            Some(to_vec(net.value(state.hidden).mean().detach()))
        }
        Bootstrap::Searched(net, planner, noise) => {
            let states = observations(net);
            Some(planner.search(net, net, net, &states, noise).value)
        }
    };
    let bootstrap: Vec<f32> = match values {
        Some(values) if values.is_empty() => vec![0.0; targets.bootstrap_row.len()],
        Some(values) => targets.bootstrap_row.iter().map(|&r| values[r]).collect(),
        None => {
            debug_assert!(stored);
            targets.stored_bootstrap.clone()
        }
    };
    targets
        .value_rewards
        .iter()
        .zip(&targets.bootstrap_discount)
        .zip(bootstrap)
        .map(|((r, d), v)| r + d * v)
        .collect()
}

/// Replace the policy targets of the first `count` positions by a fresh
/// search with `net` at every unrolled step inside the trajectory.
pub fn reanalyse_policies(
    targets: &mut UnrollTargets,
    count: usize,
    net: &MuzeroNet,
    planner: &mut MctsPlanner,
    obs_kind: ObsKind,
    device: &Device,
    noise: &mut Noise,
) {
    let k1 = targets.unroll + 1;
    let len = obs_kind.flat_len();
    let rows: Vec<usize> = (0..count * k1)
        .filter(|&i| targets.acted[i] > 0.0)
        .collect();
    if rows.is_empty() {
        return;
    }
    let mut obs = Vec::with_capacity(rows.len() * len);
    for &i in &rows {
        let r = targets.unroll_row[i];
        obs.extend_from_slice(&targets.extra_obs[r * len..(r + 1) * len]);
    }
    let batch = ObsBatch::from_flat(obs, rows.len(), obs_kind, device);
    let states = net.represent(&batch).detach();
    let out = planner.search(net, net, net, &states, noise);
    let a = net.actions();
    for (j, &i) in rows.iter().enumerate() {
        targets.policies[i * a..(i + 1) * a].copy_from_slice(&out.policy[j * a..(j + 1) * a]);
        targets.policy_mask[i] = 1.0;
    }
}

/// EfficientZero's value-prefix targets `[B * K]` from the unroll's
/// rewards `[B * K]` (row-major, `K` per position): after step `k` the sum
/// of the rewards since the prefix LSTM was last reset, which happens at
/// the root and every `horizon` steps.
pub fn value_prefix_targets(rewards: &[f32], b: usize, k: usize, horizon: usize) -> Vec<f32> {
    let horizon = horizon.max(1);
    let mut out = vec![0.0; b * k];
    for i in 0..b {
        let mut sum = 0.0;
        for step in 0..k {
            if step % horizon == 0 {
                sum = 0.0;
            }
            sum += rewards[i * k + step];
            out[i * k + step] = sum;
        }
    }
    out
}

/// The unrolled loss of a batch.
pub fn unroll_loss(
    net: &MuzeroNet,
    heads: Option<&ConsistencyHeads>,
    targets: &UnrollTargets,
    values: &[f32],
    config: &MuzeroConfig,
    obs_kind: ObsKind,
    device: &Device,
) -> UnrollLoss {
    let t = &config.training;
    let (b, k) = (targets.batch, targets.unroll);
    let a = net.actions();
    let k1 = k + 1;
    let column = |values: &[f32], step: usize, every: usize| -> Vec<f32> {
        (0..b).map(|i| values[i * every + step]).collect()
    };
    let weights = tensor_from_vec(
        targets.positions.iter().map(|p| p.weight).collect(),
        [b],
        device,
    );
    let prefix_targets = net
        .prefix_horizon()
        .map(|horizon| value_prefix_targets(&targets.rewards, b, k, horizon));
    let root_obs = ObsBatch::from_flat(targets.root_obs.clone(), b, obs_kind, device);
    let mut state = net.represent(&root_obs);
    let extra = (heads.is_some() && config.efficient_zero.consistency > 0.0).then(|| {
        let rows = targets.extra_obs.len() / obs_kind.flat_len();
        net.represent(&ObsBatch::from_flat(
            targets.extra_obs.clone(),
            rows,
            obs_kind,
            device,
        ))
        .hidden
        .detach()
    });
    let mut total = Tensor::<1>::zeros([b], device);
    let (mut value_sum, mut policy_sum, mut reward_sum, mut consistency_sum) = (0.0, 0.0, 0.0, 0.0);
    let mut priorities = vec![0.0; b];
    for step in 0..k1 {
        let scale = if step == 0 { 1.0 } else { 1.0 / k as f32 };
        let features = state.hidden.clone();
        let value = net.value(features.clone());
        let z = column(values, step, k1);
        if step == 0 {
            let predicted = to_vec(value.mean().detach());
            for i in 0..b {
                priorities[i] = (predicted[i] - z[i]).abs();
            }
        }
        let value_loss = value.loss(tensor_from_vec(z, [b], device));
        let policy_target = tensor_from_vec(
            (0..b)
                .flat_map(|i| {
                    targets.policies[(i * k1 + step) * a..(i * k1 + step + 1) * a].to_vec()
                })
                .collect(),
            [b, a],
            device,
        );
        let mask = tensor_from_vec(column(&targets.policy_mask, step, k1), [b], device);
        let log_probs = burn::tensor::activation::log_softmax(net.policy_logits(features), 1);
        let policy_loss = (policy_target * log_probs)
            .sum_dim(1)
            .squeeze_dim::<1>(1)
            .neg()
            * mask;
        value_sum += mean(&value_loss);
        policy_sum += mean(&policy_loss);
        let mut step_loss = value_loss * t.value_loss_scale + policy_loss;
        if step > 0 {
            // Consistency of the predicted state with the real observation's.
            if let (Some(heads), Some(extra)) = (heads, &extra) {
                let rows: Vec<i64> = (0..b)
                    .map(|i| targets.unroll_row[i * k1 + step] as i64)
                    .collect();
                let observed = extra
                    .clone()
                    .select(0, int_tensor_from_vec(rows, [b], device));
                let inside = tensor_from_vec(column(&targets.unroll_mask, step, k1), [b], device);
                let loss = heads.loss(state.hidden.clone(), observed) * inside;
                consistency_sum += mean(&loss);
                step_loss = step_loss + loss * config.efficient_zero.consistency;
            }
        }
        total = total + step_loss * scale;
        if step < k {
            let actions: Vec<usize> = (0..b).map(|i| targets.actions[i * k + step]).collect();
            let scaled = MuzeroState {
                hidden: scale_gradient(state.hidden, t.dynamics_grad_scale),
                prefix: state.prefix,
            };
            let (next, prefix) = net.step_predicting(&scaled, one_hot(&actions, a, device));
            state = next;
            // The step's reward, or with a value prefix the reward sum since
            // the prefix LSTM's last reset.
            let (predicted, target) = match prefix {
                Some(prefix) => (prefix, column(prefix_targets.as_ref().unwrap(), step, k)),
                None => (
                    crate::core::RewardModel::reward(net, state.hidden.clone()),
                    column(&targets.rewards, step, k),
                ),
            };
            let reward_loss = predicted.loss(tensor_from_vec(target, [b], device));
            reward_sum += mean(&reward_loss);
            total = total + reward_loss * (1.0 / k as f32);
        }
    }
    let total = (total * weights).mean();
    let mut metrics = vec![
        ("loss/value".to_string(), value_sum / k1 as f64),
        ("loss/policy".to_string(), policy_sum / k1 as f64),
        (
            if net.predicts_value_prefix() {
                "loss/value_prefix"
            } else {
                "loss/reward"
            }
            .to_string(),
            reward_sum / k as f64,
        ),
        (
            "loss/total".to_string(),
            to_vec(total.clone().detach())[0] as f64,
        ),
    ];
    if extra.is_some() {
        metrics.push(("loss/consistency".to_string(), consistency_sum / k as f64));
    }
    UnrollLoss {
        total,
        priorities,
        metrics,
    }
}

fn mean(x: &Tensor<1>) -> f64 {
    to_vec(x.clone().detach().mean())[0] as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor_util::to_vec;
    use burn::module::Param;

    #[test]
    fn value_prefixes_sum_rewards_since_each_reset() {
        // Two positions, unroll 5, reset every 2 steps.
        let rewards = [1.0, 2.0, 3.0, 4.0, 5.0, 0.0, 1.0, 0.0, 0.0, 1.0];
        let prefixes = value_prefix_targets(&rewards, 2, 5, 2);
        assert_eq!(
            prefixes,
            vec![1.0, 3.0, 3.0, 7.0, 5.0, 0.0, 1.0, 0.0, 0.0, 1.0]
        );
        // EfficientZero's setting, horizon = unroll: plain running sums.
        assert_eq!(
            value_prefix_targets(&rewards[..5], 1, 5, 5),
            vec![1.0, 3.0, 6.0, 10.0, 15.0]
        );
    }

    #[test]
    fn scale_gradient_keeps_the_value_and_scales_the_gradient() {
        let device = Device::flex().autodiff();
        let x = Param::from_tensor(tensor_from_vec(vec![1.0, -2.0], [1, 2], &device));
        let y = scale_gradient(x.val(), 0.5);
        assert_eq!(to_vec(y.clone().detach()), vec![1.0, -2.0]);
        let grads = (y * 3.0).sum().backward();
        let g = to_vec(x.val().grad(&grads).expect("x has a gradient"));
        assert_eq!(g, vec![1.5, 1.5], "d(3 y)/dx = 3 * 0.5");
    }

    fn reanalysis_inputs(rows: usize, width: usize, actions: usize) -> UnrollTargets {
        UnrollTargets {
            batch: rows,
            unroll: 0,
            policies: vec![0.5 / actions as f32; rows * actions],
            policy_mask: vec![0.0; rows],
            acted: (0..rows).map(|r| if r == 0 { 0.0 } else { 1.0 }).collect(),
            unroll_row: (0..rows).collect(),
            extra_obs: (0..rows * width).map(|i| (i as f32 * 0.37).sin()).collect(),
            ..UnrollTargets::default()
        }
    }

    /// Reanalysis without root noise gives the same policy targets whatever
    /// the generator (the search is the network's alone), for pUCT and for
    /// Gumbel search; with pUCT's Dirichlet noise they depend on it. A row
    /// where no action was taken keeps its target.
    #[test]
    fn reanalysed_policies_carry_root_noise_only_when_asked() {
        use crate::planners::{SearchConfig, SearchKind};
        let device = Device::flex();
        let (rows, width, actions) = (6, 4, 4);
        let kind = ObsKind::Vector { width };
        let net = MuzeroNet::new(&MuzeroConfig::tiny().network, kind, actions, &device);
        for search_kind in [SearchKind::Puct, SearchKind::Gumbel] {
            let noisy = SearchConfig {
                kind: search_kind,
                simulations: 16,
                ..SearchConfig::default()
            };
            let clean = SearchConfig {
                dirichlet_fraction: 0.0,
                gumbel_scale: 0.0,
                ..noisy.clone()
            };
            let reanalyse = |config: &SearchConfig, seed: u64| {
                let mut planner = MctsPlanner::new(config.clone(), actions, 0.997);
                let mut targets = reanalysis_inputs(rows, width, actions);
                let mut noise = Noise::new(seed);
                reanalyse_policies(
                    &mut targets,
                    rows,
                    &net,
                    &mut planner,
                    kind,
                    &device,
                    &mut noise,
                );
                targets
            };
            let (a, b) = (reanalyse(&clean, 1), reanalyse(&clean, 2));
            assert_eq!(a.policies, b.policies, "{search_kind:?}: noise-free");
            assert_eq!(&a.policies[..actions], &[0.125; 4], "row 0 untouched");
            assert_eq!(a.policy_mask, vec![0.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
            for row in a.policies.chunks(actions).skip(1) {
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{row:?}");
            }
            // Gumbel search's target is its improved policy from completed
            // Q-values, which the root's Gumbel draws change only through
            // the values of the visited subtrees (not at all for this
            // untrained network); pUCT's is its noisy visit counts.
            if search_kind == SearchKind::Puct {
                let (c, d) = (reanalyse(&noisy, 1), reanalyse(&noisy, 2));
                assert_ne!(c.policies, d.policies, "pUCT: root noise");
            }
        }
    }

    /// Bootstrap values land on the rows that name them, discounted, with
    /// nothing past a termination: from the stored search values, or from
    /// the target network's value head at the bootstrap observations.
    #[test]
    fn value_targets_bootstrap_from_the_stored_or_the_predicted_values() {
        let device = Device::flex();
        let kind = ObsKind::Vector { width: 4 };
        let net = MuzeroNet::new(&MuzeroConfig::tiny().network, kind, 2, &device);
        let targets = UnrollTargets {
            value_rewards: vec![1.0, 2.0, 3.0],
            bootstrap_discount: vec![0.5, 0.25, 0.0],
            bootstrap_row: vec![1, 0, 1],
            stored_bootstrap: vec![10.0, 20.0, 30.0],
            extra_obs: vec![0.1, -0.2, 0.3, 0.0, 1.0, 0.5, -1.0, 0.2],
            ..UnrollTargets::default()
        };
        let stored = value_targets(&targets, Bootstrap::Stored, kind, &device);
        assert_eq!(stored, vec![1.0 + 5.0, 2.0 + 5.0, 3.0]);
        let obs = ObsBatch::from_flat(targets.extra_obs.clone(), 2, kind, &device);
        let v = to_vec(net.value(net.represent(&obs).hidden).mean());
        let predicted = value_targets(&targets, Bootstrap::Predicted(&net), kind, &device);
        let expected = [1.0 + 0.5 * v[1], 2.0 + 0.25 * v[0], 3.0];
        for (got, want) in predicted.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{predicted:?} vs {expected:?}");
        }
    }
}

//! Tree search over any burn world model: the bridge from the plain-number
//! [`super::ParallelSearch`] to latent states that live on a device.
//!
//! [`StateStore`] keeps the latent state of every node of a batch of trees
//! where the model computed it, and gathers the states a simulation
//! expands with `select` (the states never leave the device).
//! [`LatentModel`] makes one batched model call per simulation: dynamics,
//! reward, continuation, value and policy, and one transfer of the small
//! per-node numbers to the CPU. [`MctsPlanner`] is the [`Planner`] built on
//! them, so MCTS and Gumbel search run on MuZero's networks and on a
//! DreamerV3 world model alike.

use burn::tensor::{Device, Tensor};

use super::{Evaluation, NodeId, ParallelSearch, Roots, SearchConfig, SearchModel, SearchOutput};
use crate::core::{
    Dynamics, LatentState, Noise, PlanOutput, Planner, PolicyModel, ValueModel, WorldModel,
};
use crate::nn::tensor_util::{int_tensor_from_vec, tensor_from_vec, to_vec};

/// The latent states of the nodes of `B` trees.
///
/// Each model call produces one batch of states (a "slot"); a node's state
/// is a row of some slot. Gathering rows for a simulation selects from
/// each slot involved and restores the batch order with one more select.
pub struct StateStore<S> {
    slots: Vec<S>,
    /// `(slot, row)` of each node `[B, N]`.
    location: Vec<(u32, u32)>,
    nodes: usize,
}

impl<S: LatentState> StateStore<S> {
    /// A store whose roots (node 0 of each tree) are `roots [B]`.
    pub fn new(roots: S, nodes: usize) -> Self {
        let batch = roots.batch();
        let mut location = vec![(u32::MAX, 0); batch * nodes];
        for b in 0..batch {
            location[b * nodes] = (0, b as u32);
        }
        StateStore {
            slots: vec![roots],
            location,
            nodes,
        }
    }

    /// The states of node `nodes[b]` of each tree `b`, as a batch `[B]`.
    pub fn gather(&self, nodes: &[NodeId], device: &Device) -> S {
        let places: Vec<(u32, u32)> = nodes
            .iter()
            .enumerate()
            .map(|(b, node)| self.location[b * self.nodes + node.index()])
            .collect();
        let mut slots: Vec<u32> = places.iter().map(|p| p.0).collect();
        slots.sort_unstable();
        slots.dedup();
        if slots.len() == 1 {
            let rows: Vec<i64> = places.iter().map(|p| p.1 as i64).collect();
            let n = rows.len();
            return self.slots[slots[0] as usize].select(int_tensor_from_vec(rows, [n], device));
        }
        // Select per slot, then put the pieces back into batch order.
        let mut pieces = Vec::with_capacity(slots.len());
        let mut order = vec![0i64; places.len()];
        let mut next = 0i64;
        for &slot in &slots {
            let rows: Vec<i64> = places
                .iter()
                .enumerate()
                .filter(|(_, p)| p.0 == slot)
                .map(|(b, p)| {
                    order[b] = next;
                    next += 1;
                    p.1 as i64
                })
                .collect();
            let n = rows.len();
            pieces.push(self.slots[slot as usize].select(int_tensor_from_vec(rows, [n], device)));
        }
        let n = order.len();
        S::cat(pieces).select(int_tensor_from_vec(order, [n], device))
    }

    /// Record `states [B]` as node `nodes[b]` of each tree `b`.
    pub fn store(&mut self, states: S, nodes: &[NodeId]) {
        let slot = self.slots.len() as u32;
        for (b, node) in nodes.iter().enumerate() {
            self.location[b * self.nodes + node.index()] = (slot, b as u32);
        }
        self.slots.push(states);
    }
}

/// A world model with a value and a policy, seen by the search.
pub struct LatentModel<'a, M: WorldModel> {
    /// The world model.
    pub model: &'a M,
    /// The value function.
    pub value: &'a dyn ValueModel,
    /// The prior policy (discrete).
    pub policy: &'a dyn PolicyModel,
    /// Discount per step.
    pub discount: f32,
    /// The states of the nodes.
    pub store: StateStore<<M::Dynamics as Dynamics>::State>,
    /// Noise for stochastic dynamics.
    pub noise: Noise,
    /// The number of actions `A`.
    pub actions: usize,
    /// The device the states live on.
    pub device: Device,
}

impl<M: WorldModel> LatentModel<'_, M> {
    /// Value, policy logits, reward and discount of `states` after the
    /// transition that made them, in one transfer.
    fn evaluate(
        &self,
        states: &<M::Dynamics as Dynamics>::State,
        with_transition: bool,
    ) -> Evaluation {
        let features = states.features();
        let batch = states.batch();
        let a = self.actions;
        let value = self
            .value
            .value(features.clone())
            .mean()
            .unsqueeze_dim::<2>(1);
        let logits = match self.policy.policy(features.clone()) {
            crate::core::PolicyDistribution::Discrete(dist) => dist.log_probs,
            crate::core::PolicyDistribution::Continuous(_) => {
                panic!("tree search needs a discrete policy")
            }
        };
        let mut columns = vec![logits, value];
        if with_transition {
            let reward = self.model.transition_reward(states).unsqueeze_dim::<2>(1);
            let discount = match self.model.continuation(features) {
                // A predicted ending stops the backup, as a terminal does.
                Some(cont) => cont.mode().unsqueeze_dim::<2>(1).mul_scalar(self.discount),
                None => Tensor::<2>::ones([batch, 1], &self.device).mul_scalar(self.discount),
            };
            columns.push(reward);
            columns.push(discount);
        }
        let width = columns.iter().map(|c| c.dims()[1]).sum::<usize>();
        let values = to_vec(Tensor::cat(columns, 1).detach());
        let mut eval = Evaluation::default();
        for row in values.chunks(width) {
            eval.logits.extend_from_slice(&row[..a]);
            eval.value.push(row[a]);
            if with_transition {
                eval.reward.push(row[a + 1]);
                eval.discount.push(row[a + 2]);
            }
        }
        eval
    }

    /// The roots of a search from `states [B]`.
    pub fn roots(&self, states: &<M::Dynamics as Dynamics>::State) -> Roots {
        let eval = self.evaluate(states, false);
        Roots {
            logits: eval.logits,
            value: eval.value,
            invalid: Vec::new(),
            gumbel: Vec::new(),
        }
    }
}

impl<M: WorldModel> SearchModel for LatentModel<'_, M> {
    fn recurrent(
        &mut self,
        parents: &[NodeId],
        actions: &[usize],
        children: &[NodeId],
    ) -> Evaluation {
        let batch = parents.len();
        let states = self.store.gather(parents, &self.device);
        let one_hot = one_hot(actions, self.actions, &self.device);
        let next = self
            .model
            .dynamics()
            .imagine(&states, one_hot, &mut self.noise)
            .detach();
        let eval = self.evaluate(&next, true);
        debug_assert_eq!(eval.value.len(), batch);
        self.store.store(next, children);
        eval
    }
}

/// One-hot rows `[B, A]` of `actions [B]`.
pub fn one_hot(actions: &[usize], width: usize, device: &Device) -> Tensor<2> {
    let mut values = vec![0.0; actions.len() * width];
    for (b, &a) in actions.iter().enumerate() {
        values[b * width + a] = 1.0;
    }
    tensor_from_vec(values, [actions.len(), width], device)
}

/// MCTS or Gumbel search as a [`Planner`] over any world model with
/// discrete actions.
pub struct MctsPlanner {
    search: ParallelSearch,
    /// Discount per step.
    pub discount: f32,
    /// Action-selection temperature (pUCT).
    pub temperature: f32,
    /// The number of actions.
    pub actions: usize,
}

impl MctsPlanner {
    /// A planner over `actions` discrete actions.
    pub fn new(config: SearchConfig, actions: usize, discount: f32) -> Self {
        MctsPlanner {
            search: ParallelSearch::new(config),
            discount,
            temperature: 1.0,
            actions,
        }
    }

    /// Run a search from `states` and return its raw output.
    pub fn search<M: WorldModel>(
        &mut self,
        model: &M,
        value: &dyn ValueModel,
        policy: &dyn PolicyModel,
        states: &<M::Dynamics as Dynamics>::State,
        noise: &mut Noise,
    ) -> SearchOutput {
        let device = states.features().device();
        let nodes = self.search.config().simulations + 1;
        let mut latent = LatentModel {
            model,
            value,
            policy,
            discount: self.discount,
            store: StateStore::new(states.clone().detach(), nodes),
            noise: noise.fork(),
            actions: self.actions,
            device,
        };
        let roots = latent.roots(states);
        self.search
            .run(&roots, &mut latent, self.temperature, noise)
    }
}

impl<M: WorldModel> Planner<M> for MctsPlanner {
    fn plan(
        &mut self,
        model: &M,
        value: &dyn ValueModel,
        policy: &dyn PolicyModel,
        states: &<M::Dynamics as Dynamics>::State,
        noise: &mut Noise,
    ) -> PlanOutput {
        let device = states.features().device();
        let batch = states.batch();
        let out = self.search(model, value, policy, states, noise);
        PlanOutput {
            actions: one_hot(&out.actions, self.actions, &device),
            policy_target: Some(tensor_from_vec(out.policy, [batch, self.actions], &device)),
            value_target: Some(tensor_from_vec(out.value, [batch], &device)),
        }
    }
}

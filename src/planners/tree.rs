//! The search tree of a batch of searches, as flat arrays.
//!
//! Node statistics are `[B, N]` arrays and edge statistics `[B, N, A]`
//! arrays, indexed by typed [`NodeId`]s, so one allocation serves every
//! search of a run: [`Tree::reset`] clears and reuses it. Node 0 is the
//! root; the node created by simulation `s` is `s + 1`. Embeddings (latent
//! states) are not kept here: the [`super::SearchModel`] keeps them on its
//! device, keyed by the same node ids.

/// A node of one search tree. The root is [`NodeId::ROOT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The root of every tree.
    pub const ROOT: NodeId = NodeId(0);
    /// The marker for "no node" (an unexpanded edge, the root's parent).
    pub const NONE: NodeId = NodeId(u32::MAX);

    /// The index of this node in a node array.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// `B` search trees of up to `N` nodes over `A` actions.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    batch: usize,
    nodes: usize,
    actions: usize,
    /// Visits of each node `[B, N]`.
    pub node_visits: Vec<u32>,
    /// The network's value estimate of each node `[B, N]`.
    pub raw_values: Vec<f32>,
    /// The running mean of backed-up values of each node `[B, N]`.
    pub node_values: Vec<f32>,
    /// The parent of each node `[B, N]`.
    pub parents: Vec<NodeId>,
    /// The action that led from the parent to each node `[B, N]`.
    pub action_from_parent: Vec<u32>,
    /// The child reached by each edge, or [`NodeId::NONE`] `[B, N, A]`.
    pub children: Vec<NodeId>,
    /// The prior logits of each edge `[B, N, A]`.
    pub children_logits: Vec<f32>,
    /// The prior probabilities of each edge, `softmax` of its node's
    /// logits, computed once on expansion rather than on every visit `[B, N, A]`.
    pub children_priors: Vec<f32>,
    /// The value of the child of each edge `[B, N, A]`.
    pub children_values: Vec<f32>,
    /// Visits of each edge `[B, N, A]`.
    pub children_visits: Vec<u32>,
    /// The reward of each edge `[B, N, A]`.
    pub children_rewards: Vec<f32>,
    /// The discount of each edge `[B, N, A]` (0 where the model predicts
    /// the episode ends).
    pub children_discounts: Vec<f32>,
    /// Actions that may not be taken at the root `[B, A]`.
    pub root_invalid: Vec<bool>,
    /// The Gumbel noise drawn at the root (Gumbel search) `[B, A]`.
    pub root_gumbel: Vec<f32>,
    /// The smallest and largest backed-up Q-value seen in each tree `[B]`
    /// (MuZero's min-max statistics).
    pub value_bounds: Vec<(f32, f32)>,
}

impl Tree {
    /// Clear the tree for a new search, reusing its allocations.
    pub fn reset(&mut self, batch: usize, nodes: usize, actions: usize) {
        self.batch = batch;
        self.nodes = nodes;
        self.actions = actions;
        let bn = batch * nodes;
        let bna = bn * actions;
        fill(&mut self.node_visits, bn, 0);
        fill(&mut self.raw_values, bn, 0.0);
        fill(&mut self.node_values, bn, 0.0);
        fill(&mut self.parents, bn, NodeId::NONE);
        fill(&mut self.action_from_parent, bn, u32::MAX);
        fill(&mut self.children, bna, NodeId::NONE);
        fill(&mut self.children_logits, bna, 0.0);
        fill(&mut self.children_priors, bna, 0.0);
        fill(&mut self.children_values, bna, 0.0);
        fill(&mut self.children_visits, bna, 0);
        fill(&mut self.children_rewards, bna, 0.0);
        fill(&mut self.children_discounts, bna, 0.0);
        fill(&mut self.root_invalid, batch * actions, false);
        fill(&mut self.root_gumbel, batch * actions, 0.0);
        fill(
            &mut self.value_bounds,
            batch,
            (f32::INFINITY, f32::NEG_INFINITY),
        );
    }

    /// The batch size `B`.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The node capacity `N`.
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// The number of actions `A`.
    pub fn actions(&self) -> usize {
        self.actions
    }

    /// Index of node `node` of tree `b` in a `[B, N]` array.
    pub fn at(&self, b: usize, node: NodeId) -> usize {
        b * self.nodes + node.index()
    }

    /// The range of edges of node `node` of tree `b` in a `[B, N, A]` array.
    pub fn edges(&self, b: usize, node: NodeId) -> std::ops::Range<usize> {
        let start = self.at(b, node) * self.actions;
        start..start + self.actions
    }

    /// Q-values of the edges of a node `[A]`: reward plus discounted child
    /// value (meaningless for unvisited edges; callers mask them).
    pub fn qvalues(&self, b: usize, node: NodeId, out: &mut [f32]) {
        let edges = self.edges(b, node);
        for ((q, (&r, &d)), &v) in out
            .iter_mut()
            .zip(
                self.children_rewards[edges.clone()]
                    .iter()
                    .zip(&self.children_discounts[edges.clone()]),
            )
            .zip(&self.children_values[edges])
        {
            *q = r + d * v;
        }
    }

    /// Store a network evaluation as node `node` of tree `b` (a repeated
    /// expansion at the depth limit overwrites the estimate and adds a visit).
    pub fn set_node(&mut self, b: usize, node: NodeId, logits: &[f32], value: f32) {
        let at = self.at(b, node);
        let edges = self.edges(b, node);
        self.children_logits[edges.clone()].copy_from_slice(logits);
        super::qtransform::softmax_into(logits, &mut self.children_priors[edges]);
        self.raw_values[at] = value;
        self.node_values[at] = value;
        self.node_visits[at] += 1;
    }

    /// Link `child` under `parent` by `action`, with the model's reward and
    /// discount for that transition.
    pub fn link(
        &mut self,
        b: usize,
        parent: NodeId,
        action: usize,
        child: NodeId,
        reward: f32,
        discount: f32,
    ) {
        let edge = self.edges(b, parent).start + action;
        self.children[edge] = child;
        self.children_rewards[edge] = reward;
        self.children_discounts[edge] = discount;
        let at = self.at(b, child);
        self.parents[at] = parent;
        self.action_from_parent[at] = action as u32;
    }

    /// Back the value of `leaf` up to the root of tree `b`: every ancestor's
    /// value becomes the running mean of the discounted returns through it.
    pub fn backward(&mut self, b: usize, leaf: NodeId) {
        let mut value = self.node_values[self.at(b, leaf)];
        let mut node = leaf;
        while node != NodeId::ROOT {
            let at = self.at(b, node);
            let parent = self.parents[at];
            let action = self.action_from_parent[at] as usize;
            let parent_at = self.at(b, parent);
            let edge = self.edges(b, parent).start + action;
            value = self.children_rewards[edge] + self.children_discounts[edge] * value;
            let count = self.node_visits[parent_at] as f32;
            self.node_values[parent_at] =
                (self.node_values[parent_at] * count + value) / (count + 1.0);
            self.node_visits[parent_at] += 1;
            self.children_values[edge] = self.node_values[at];
            self.children_visits[edge] += 1;
            let q =
                self.children_rewards[edge] + self.children_discounts[edge] * self.node_values[at];
            let bounds = &mut self.value_bounds[b];
            *bounds = (bounds.0.min(q), bounds.1.max(q));
            node = parent;
        }
    }

    /// The root's visit counts `[A]`.
    pub fn root_visits(&self, b: usize) -> &[u32] {
        &self.children_visits[self.edges(b, NodeId::ROOT)]
    }

    /// The root's search value.
    pub fn root_value(&self, b: usize) -> f32 {
        self.node_values[self.at(b, NodeId::ROOT)]
    }
}

fn fill<T: Clone>(values: &mut Vec<T>, len: usize, value: T) {
    values.clear();
    values.resize(len, value);
}

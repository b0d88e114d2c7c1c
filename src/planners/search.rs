//! Batched tree search: MuZero's pUCT and Gumbel MuZero's Sequential
//! Halving, over the flat [`Tree`].
//!
//! Each simulation walks every tree of the batch from its root to an
//! unexpanded edge (on the CPU: the walk is branchy and tiny), then makes
//! exactly one batched call to the model for all `B` leaves, then backs the
//! new values up. The semantics follow the search of record, DeepMind's
//! `mctx` (the order of updates, the depth limit, the tie-breaking argmax),
//! and `tests/search_mctx.rs` checks the results against trees recorded
//! from it. Randomness (Dirichlet and Gumbel noise, the 1e-7 tie-breaking
//! jitter of pUCT) comes from the caller's seeded [`Noise`], never the clock.

use rand_distr::{Distribution, Gamma};
use serde::{Deserialize, Serialize};

use super::qtransform::{QTransform, softmax, softmax_in_place};
use super::seq_halving::{considered_visits_table, score_considered};
use super::tree::{NodeId, Tree};
use crate::config::{Validate, Validator};
use crate::core::Noise;

/// What a model returns for a batch of nodes (`B` rows).
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// Policy logits `[B * A]`.
    pub logits: Vec<f32>,
    /// Value estimates `[B]`.
    pub value: Vec<f32>,
    /// Rewards of the transitions into the nodes `[B]` (unused at the root).
    pub reward: Vec<f32>,
    /// Discounts after the nodes `[B]`: the discount factor, or 0 where the
    /// model predicts the episode ended (unused at the root).
    pub discount: Vec<f32>,
}

/// A model a search can expand. It keeps the latent state of every node
/// (on its own device), keyed by tree row and [`NodeId`]; the root states
/// are stored before the search starts.
pub trait SearchModel {
    /// For every tree `b`: from the state of node `parents[b]`, take
    /// `actions[b]`, store the resulting state as node `children[b]`, and
    /// return its evaluation. One call serves the whole batch.
    fn recurrent(
        &mut self,
        parents: &[NodeId],
        actions: &[usize],
        children: &[NodeId],
    ) -> Evaluation;
}

/// Which search to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchKind {
    /// MuZero's pUCT with Dirichlet noise at the root.
    Puct,
    /// Gumbel MuZero: Gumbel-top-k and Sequential Halving at the root,
    /// deterministic selection inside.
    Gumbel,
}

/// How pUCT normalises Q-values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QNormalisation {
    /// By the bounds over the whole tree (MuZero 2020).
    Tree,
    /// By the node's value and its visited children (mctx's default).
    ParentAndSiblings,
}

/// Search hyperparameters. Defaults are MuZero's for Atari and Gumbel
/// MuZero's constants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// `puct` or `gumbel`.
    pub kind: SearchKind,
    /// Simulations per search (one model call each).
    pub simulations: usize,
    /// Deepest edge a simulation may take; 0 means no limit but the budget.
    pub max_depth: usize,
    /// pUCT `c1`.
    pub pb_c_init: f32,
    /// pUCT `c2`.
    pub pb_c_base: f32,
    /// Q normalisation of pUCT: `tree` or `parent_and_siblings`.
    pub q_normalisation: QNormalisation,
    /// pUCT with `tree` normalisation: score unvisited actions with the
    /// parent's mean Q (EfficientZero) instead of 0 (MuZero).
    pub unvisited_parent_mean: bool,
    /// Dirichlet concentration of the root noise (pUCT).
    pub dirichlet_alpha: f32,
    /// Share of the root prior replaced by Dirichlet noise (pUCT); 0 disables it.
    pub dirichlet_fraction: f32,
    /// Actions sampled at the root by Gumbel-top-k (Gumbel).
    pub max_considered_actions: usize,
    /// Scale of the root Gumbel noise; 0 makes the search deterministic (Gumbel).
    pub gumbel_scale: f32,
    /// `c_scale` of the completed-Q transform (Gumbel).
    pub value_scale: f32,
    /// `c_visit` of the completed-Q transform (Gumbel).
    pub maxvisit_init: f32,
    /// Threads the batch of trees is split over (1: the calling thread
    /// only). The model is still called once per simulation; see
    /// [`super::ParallelSearch`]. Worth it for large batches (hundreds of
    /// environments), not for a handful.
    pub threads: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            kind: SearchKind::Puct,
            simulations: 50,
            max_depth: 0,
            pb_c_init: 1.25,
            pb_c_base: 19652.0,
            q_normalisation: QNormalisation::Tree,
            unvisited_parent_mean: false,
            dirichlet_alpha: 0.25,
            dirichlet_fraction: 0.25,
            max_considered_actions: 16,
            gumbel_scale: 1.0,
            value_scale: 0.1,
            maxvisit_init: 50.0,
            threads: 1,
        }
    }
}

impl Validate for SearchConfig {
    fn validate(&self, v: &mut Validator) {
        v.in_range("simulations", self.simulations, 1, 100_000);
        v.positive("pb_c_init", self.pb_c_init);
        v.positive("pb_c_base", self.pb_c_base);
        v.positive("dirichlet_alpha", self.dirichlet_alpha);
        v.in_range("dirichlet_fraction", self.dirichlet_fraction, 0.0, 1.0);
        v.positive("max_considered_actions", self.max_considered_actions);
        v.in_range("gumbel_scale", self.gumbel_scale, 0.0, 100.0);
        v.positive("value_scale", self.value_scale);
        v.in_range("maxvisit_init", self.maxvisit_init, 0.0, 1e6);
        v.in_range("threads", self.threads, 1, 256);
    }
}

/// The roots of a batch of searches.
#[derive(Debug, Clone)]
pub struct Roots {
    /// Prior logits `[B * A]`.
    pub logits: Vec<f32>,
    /// Value estimates `[B]`.
    pub value: Vec<f32>,
    /// Actions not allowed at each root `[B * A]`; empty for none.
    pub invalid: Vec<bool>,
    /// Gumbel noise to use instead of drawing it `[B * A]` (for tests that
    /// replay another implementation's draws); empty to draw it.
    pub gumbel: Vec<f32>,
}

/// What a search returns.
#[derive(Debug, Clone, Default)]
pub struct SearchOutput {
    /// The action to take in each environment `[B]`.
    pub actions: Vec<usize>,
    /// The improved policy to train on `[B * A]`: visit frequencies (pUCT)
    /// or `softmax(logits + sigma(completed q))` (Gumbel).
    pub policy: Vec<f32>,
    /// The root search values `[B]`.
    pub value: Vec<f32>,
    /// The root visit counts `[B * A]`.
    pub visits: Vec<u32>,
}

/// A reusable batched search: it owns its tree and scratch space.
#[derive(Debug, Clone)]
pub struct Search {
    config: SearchConfig,
    tree: Tree,
    table: Vec<Vec<u32>>,
    scratch: Vec<f32>,
    scores: Vec<f32>,
}

/// The leaves one simulation expands, one per tree: `[B]` each.
#[derive(Debug, Clone)]
pub(super) struct Leaves {
    /// The node each simulation expands from.
    pub parents: Vec<NodeId>,
    /// The action taken from it.
    pub actions: Vec<usize>,
    /// The id of the node reached (new, or existing at the depth limit).
    pub children: Vec<NodeId>,
}

impl Leaves {
    pub(super) fn new(batch: usize) -> Self {
        Leaves {
            parents: vec![NodeId::ROOT; batch],
            actions: vec![0; batch],
            children: vec![NodeId::ROOT; batch],
        }
    }
}

/// The logit given to invalid actions (finite, so a softmax never divides by zero).
const MIN_LOGIT: f32 = f32::MIN;

impl Search {
    /// A search with these hyperparameters.
    pub fn new(config: SearchConfig) -> Self {
        let table = considered_visits_table(config.max_considered_actions, config.simulations);
        Search {
            config,
            tree: Tree::default(),
            table,
            scratch: Vec::new(),
            scores: Vec::new(),
        }
    }

    /// The hyperparameters.
    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    /// The tree of the last search.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Search from `roots` with `model` (whose root states are node 0).
    /// `temperature` shapes how pUCT samples its action from the visit counts
    /// (0 takes the most visited); Gumbel search always takes its best action.
    pub fn run<M: SearchModel + ?Sized>(
        &mut self,
        roots: &Roots,
        model: &mut M,
        temperature: f32,
        noise: &mut Noise,
    ) -> SearchOutput {
        let batch = roots.value.len();
        let root_logits = self.begin(roots, noise);
        let mut leaves = Leaves::new(batch);
        for sim in 0..self.config.simulations {
            self.select_leaves(sim, noise, &mut leaves);
            let eval = model.recurrent(&leaves.parents, &leaves.actions, &leaves.children);
            self.expand_leaves(&leaves, &eval, 0);
        }
        self.finish(&root_logits, temperature, noise)
    }

    /// Reset the tree for `roots` and set up its root nodes; returns the
    /// root logits the search starts from (for [`Search::finish`]).
    pub(super) fn begin(&mut self, roots: &Roots, noise: &mut Noise) -> Vec<f32> {
        let batch = roots.value.len();
        let actions = roots.logits.len() / batch.max(1);
        self.tree.reset(batch, self.config.simulations + 1, actions);
        self.scratch.resize(actions, 0.0);
        self.scores.resize(actions, 0.0);
        if !roots.invalid.is_empty() {
            self.tree.root_invalid.copy_from_slice(&roots.invalid);
        }
        let root_logits = self.prepare_root(roots, noise);
        for b in 0..batch {
            let row = &root_logits[b * actions..(b + 1) * actions];
            self.tree.set_node(b, NodeId::ROOT, row, roots.value[b]);
        }
        root_logits
    }

    /// Simulation `sim`: walk every tree to the edge to expand, writing
    /// into `leaves` the node, the action and the id the new node gets.
    pub(super) fn select_leaves(&mut self, sim: usize, noise: &mut Noise, leaves: &mut Leaves) {
        let max_depth = match self.config.max_depth {
            0 => self.config.simulations,
            depth => depth,
        };
        for b in 0..self.tree.batch() {
            let (parent, action) = self.simulate(b, max_depth, noise);
            leaves.parents[b] = parent;
            leaves.actions[b] = action;
            let existing = self.tree.children[self.tree.edges(b, parent).start + action];
            leaves.children[b] = if existing == NodeId::NONE {
                NodeId(sim as u32 + 1)
            } else {
                existing
            };
        }
    }

    /// Store the model's evaluation of `leaves` (rows `offset..` of `eval`)
    /// and back the new values up every tree.
    pub(super) fn expand_leaves(&mut self, leaves: &Leaves, eval: &Evaluation, offset: usize) {
        let actions = self.tree.actions();
        for b in 0..self.tree.batch() {
            let r = offset + b;
            let row = &eval.logits[r * actions..(r + 1) * actions];
            let child = leaves.children[b];
            self.tree.set_node(b, child, row, eval.value[r]);
            self.tree.link(
                b,
                leaves.parents[b],
                leaves.actions[b],
                child,
                eval.reward[r],
                eval.discount[r],
            );
            self.tree.backward(b, child);
        }
    }

    /// The root logits the tree starts from: masked, and for pUCT mixed with
    /// Dirichlet noise; for Gumbel search the root Gumbel noise is drawn here.
    fn prepare_root(&mut self, roots: &Roots, noise: &mut Noise) -> Vec<f32> {
        let actions = self.tree.actions();
        let mut logits = roots.logits.clone();
        match self.config.kind {
            SearchKind::Puct if self.config.dirichlet_fraction > 0.0 => {
                let gamma = Gamma::new(self.config.dirichlet_alpha, 1.0)
                    .expect("dirichlet_alpha is validated positive");
                let fraction = self.config.dirichlet_fraction;
                for row in logits.chunks_mut(actions) {
                    let draws: Vec<f32> = (0..actions).map(|_| gamma.sample(noise.rng())).collect();
                    let total: f32 = draws.iter().sum::<f32>().max(f32::MIN_POSITIVE);
                    let probs = softmax(row);
                    for ((l, p), d) in row.iter_mut().zip(probs).zip(draws) {
                        let mixed = (1.0 - fraction) * p + fraction * d / total;
                        *l = mixed.max(f32::MIN_POSITIVE).ln();
                    }
                }
            }
            SearchKind::Puct => {}
            SearchKind::Gumbel => {
                if roots.gumbel.is_empty() {
                    let scale = self.config.gumbel_scale;
                    for g in self.tree.root_gumbel.iter_mut() {
                        let u = noise.uniform().max(f32::MIN_POSITIVE);
                        *g = -scale * (-u.ln()).max(f32::MIN_POSITIVE).ln();
                    }
                } else {
                    self.tree.root_gumbel.copy_from_slice(&roots.gumbel);
                }
            }
        }
        if !roots.invalid.is_empty() {
            for (row, invalid) in logits
                .chunks_mut(actions)
                .zip(roots.invalid.chunks(actions))
            {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                for (l, &bad) in row.iter_mut().zip(invalid) {
                    *l = if bad { MIN_LOGIT } else { *l - max };
                }
            }
        }
        logits
    }

    /// Walk tree `b` from the root to an unexpanded edge or the depth limit;
    /// returns the node and the action to expand from it.
    fn simulate(&mut self, b: usize, max_depth: usize, noise: &mut Noise) -> (NodeId, usize) {
        let mut node = NodeId::ROOT;
        let mut depth = 0;
        loop {
            let action = self.select(b, node, depth, noise);
            let next = self.tree.children[self.tree.edges(b, node).start + action];
            depth += 1;
            if next == NodeId::NONE || depth >= max_depth {
                return (node, action);
            }
            node = next;
        }
    }

    fn select(&mut self, b: usize, node: NodeId, depth: usize, noise: &mut Noise) -> usize {
        match self.config.kind {
            SearchKind::Puct => self.select_puct(b, node, depth, noise),
            SearchKind::Gumbel if depth == 0 => self.select_gumbel_root(b),
            SearchKind::Gumbel => self.select_gumbel_interior(b, node),
        }
    }

    /// pUCT (MuZero appendix B): Q normalised to [0, 1] plus
    /// `P(a) sqrt(N) / (1 + N(a)) (c1 + ln((N + c2 + 1) / c2))`.
    fn select_puct(&mut self, b: usize, node: NodeId, depth: usize, noise: &mut Noise) -> usize {
        let tree = &self.tree;
        let transform = match self.config.q_normalisation {
            QNormalisation::Tree => QTransform::TreeMinMax {
                parent_mean: self.config.unvisited_parent_mean,
            },
            QNormalisation::ParentAndSiblings => QTransform::ParentAndSiblings,
        };
        transform.apply(tree, b, node, &mut self.scores);
        let edges = tree.edges(b, node);
        let node_visits = tree.node_visits[tree.at(b, node)] as f32;
        let pb_c = self.config.pb_c_init
            + ((node_visits + self.config.pb_c_base + 1.0) / self.config.pb_c_base).ln();
        let probs = &tree.children_priors[edges.clone()];
        for ((score, &p), &n) in self
            .scores
            .iter_mut()
            .zip(probs)
            .zip(&tree.children_visits[edges])
        {
            *score += node_visits.sqrt() * pb_c * p / (n as f32 + 1.0) + 1e-7 * noise.uniform();
        }
        masked_argmax(&self.scores, (depth == 0).then(|| self.root_invalid(b)))
    }

    /// Sequential Halving with Gumbel at the root.
    fn select_gumbel_root(&mut self, b: usize) -> usize {
        let tree = &self.tree;
        QTransform::CompletedByMixValue {
            value_scale: self.config.value_scale,
            maxvisit_init: self.config.maxvisit_init,
        }
        .apply(tree, b, NodeId::ROOT, &mut self.scratch);
        let edges = tree.edges(b, NodeId::ROOT);
        let visits = &tree.children_visits[edges.clone()];
        let valid = self.root_invalid(b).iter().filter(|&&bad| !bad).count();
        let considered = self.config.max_considered_actions.min(valid);
        let simulation: u32 = visits.iter().sum();
        let considered_visit = self.table[considered][simulation as usize];
        score_considered(
            considered_visit,
            &tree.root_gumbel[b * tree.actions()..(b + 1) * tree.actions()],
            &tree.children_logits[edges],
            &self.scratch,
            visits,
            &mut self.scores,
        );
        masked_argmax(&self.scores, Some(self.root_invalid(b)))
    }

    /// Gumbel MuZero's deterministic interior selection: the action whose
    /// visit share lags most behind `softmax(logits + sigma(completed q))`.
    fn select_gumbel_interior(&mut self, b: usize, node: NodeId) -> usize {
        let tree = &self.tree;
        QTransform::CompletedByMixValue {
            value_scale: self.config.value_scale,
            maxvisit_init: self.config.maxvisit_init,
        }
        .apply(tree, b, node, &mut self.scratch);
        let edges = tree.edges(b, node);
        for (s, &l) in self
            .scratch
            .iter_mut()
            .zip(&tree.children_logits[edges.clone()])
        {
            *s += l;
        }
        softmax_in_place(&mut self.scratch);
        let visits = &tree.children_visits[edges];
        let total: u32 = visits.iter().sum();
        for ((score, &p), &n) in self.scores.iter_mut().zip(&self.scratch).zip(visits) {
            *score = p - n as f32 / (1.0 + total as f32);
        }
        masked_argmax(&self.scores, None)
    }

    fn root_invalid(&self, b: usize) -> &[bool] {
        let a = self.tree.actions();
        &self.tree.root_invalid[b * a..(b + 1) * a]
    }

    /// Actions, policy targets and values from the finished trees.
    pub(super) fn finish(
        &mut self,
        root_logits: &[f32],
        temperature: f32,
        noise: &mut Noise,
    ) -> SearchOutput {
        let batch = self.tree.batch();
        let actions = self.tree.actions();
        let mut out = SearchOutput {
            actions: Vec::with_capacity(batch),
            policy: Vec::with_capacity(batch * actions),
            value: (0..batch).map(|b| self.tree.root_value(b)).collect(),
            visits: (0..batch)
                .flat_map(|b| self.tree.root_visits(b).to_vec())
                .collect(),
        };
        for b in 0..batch {
            let visits = self.tree.root_visits(b).to_vec();
            match self.config.kind {
                SearchKind::Puct => {
                    let total: u32 = visits.iter().sum();
                    let probs: Vec<f32> = visits
                        .iter()
                        .map(|&n| {
                            if total > 0 {
                                n as f32 / total as f32
                            } else {
                                1.0 / actions as f32
                            }
                        })
                        .collect();
                    out.actions
                        .push(sample_with_temperature(&probs, temperature, noise));
                    out.policy.extend(probs);
                }
                SearchKind::Gumbel => {
                    let logits = &root_logits[b * actions..(b + 1) * actions];
                    QTransform::CompletedByMixValue {
                        value_scale: self.config.value_scale,
                        maxvisit_init: self.config.maxvisit_init,
                    }
                    .apply(&self.tree, b, NodeId::ROOT, &mut self.scratch);
                    let considered_visit = visits.iter().copied().max().unwrap_or(0);
                    let gumbel = &self.tree.root_gumbel[b * actions..(b + 1) * actions];
                    score_considered(
                        considered_visit,
                        gumbel,
                        logits,
                        &self.scratch,
                        &visits,
                        &mut self.scores,
                    );
                    out.actions
                        .push(masked_argmax(&self.scores, Some(self.root_invalid(b))));
                    let improved: Vec<f32> = logits
                        .iter()
                        .zip(&self.scratch)
                        .zip(self.root_invalid(b))
                        .map(|((&l, &q), &bad)| if bad { MIN_LOGIT } else { l + q })
                        .collect();
                    out.policy.extend(softmax(&improved));
                }
            }
        }
        out
    }
}

/// The first index of the largest score, skipping `invalid` actions.
pub fn masked_argmax(scores: &[f32], invalid: Option<&[bool]>) -> usize {
    let mut best = 0;
    let mut best_score = f32::NEG_INFINITY;
    let mut found = false;
    for (a, &s) in scores.iter().enumerate() {
        if invalid.is_some_and(|inv| inv[a]) {
            continue;
        }
        if !found || s > best_score {
            best = a;
            best_score = s;
            found = true;
        }
    }
    best
}

/// Sample an index with probability proportional to `probs^(1 / temperature)`;
/// temperature 0 takes the first most likely index.
pub fn sample_with_temperature(probs: &[f32], temperature: f32, noise: &mut Noise) -> usize {
    if temperature <= 0.0 {
        return masked_argmax(probs, None);
    }
    let max = probs.iter().copied().fold(0.0f32, f32::max);
    if max <= 0.0 {
        return noise.below(probs.len());
    }
    let weights: Vec<f64> = probs
        .iter()
        .map(|&p| ((p / max) as f64).powf(1.0 / temperature as f64))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut u = noise.uniform() as f64 * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

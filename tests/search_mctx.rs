//! Our searches against DeepMind's mctx, on trees recorded by
//! `scripts/record_mctx.py` with a deterministic toy model (integer
//! arithmetic on a state id, rebuilt here exactly). pUCT cases run without
//! Dirichlet noise; Gumbel cases replay mctx's recorded Gumbel draws, so
//! visit counts, values, policy targets and chosen actions must all agree.

use serde::Deserialize;
use somnium::core::Noise;
use somnium::planners::{
    Evaluation, NodeId, QNormalisation, Roots, Search, SearchConfig, SearchKind, SearchModel,
};

#[derive(Deserialize)]
struct Recording {
    mctx_version: String,
    actions: usize,
    root_states: Vec<i64>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    kind: String,
    simulations: usize,
    max_depth: usize,
    #[serde(default)]
    max_considered_actions: usize,
    gumbel: Vec<f32>,
    action: Vec<usize>,
    action_weights: Vec<Vec<f32>>,
    root_value: Vec<f32>,
    visit_counts: Vec<Vec<u32>>,
    node_visits: Vec<Vec<u32>>,
    node_values: Vec<Vec<f32>>,
}

/// The recording script's toy model; see its docstring.
struct ToyModel {
    actions: usize,
    nodes: usize,
    states: Vec<i64>,
}

fn next_state(s: i64, a: i64) -> i64 {
    (s * 31 + a * 7 + 3) % 1009
}

fn reward(s: i64, a: i64) -> f32 {
    ((s * 7 + a * 13) % 11) as f32 / 10.0 - 0.5
}

fn value(s: i64) -> f32 {
    ((s * 5) % 17) as f32 / 17.0 - 0.3
}

fn logits(s: i64, actions: usize) -> impl Iterator<Item = f32> {
    (0..actions as i64).map(move |a| ((s + a * 3) % 5) as f32 / 2.0)
}

impl SearchModel for ToyModel {
    fn recurrent(
        &mut self,
        parents: &[NodeId],
        actions: &[usize],
        children: &[NodeId],
    ) -> Evaluation {
        let mut eval = Evaluation::default();
        for b in 0..parents.len() {
            let s = self.states[b * self.nodes + parents[b].index()];
            let a = actions[b] as i64;
            let next = next_state(s, a);
            self.states[b * self.nodes + children[b].index()] = next;
            eval.logits.extend(logits(next, self.actions));
            eval.value.push(value(next));
            eval.reward.push(reward(s, a));
            eval.discount.push(if next % 13 == 0 { 0.0 } else { 0.9 });
        }
        eval
    }
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-5 * (1.0 + b.abs())
}

#[test]
fn searches_match_mctx() {
    let text = include_str!("data/mctx_search.json");
    let recording: Recording = serde_json::from_str(text).expect("recording parses");
    assert!(!recording.cases.is_empty());
    let a = recording.actions;
    for (i, case) in recording.cases.iter().enumerate() {
        let batch = recording.root_states.len();
        let nodes = case.simulations + 1;
        let mut model = ToyModel {
            actions: a,
            nodes,
            states: vec![0; batch * nodes],
        };
        for (b, &s) in recording.root_states.iter().enumerate() {
            model.states[b * nodes] = s;
        }
        let roots = Roots {
            logits: recording
                .root_states
                .iter()
                .flat_map(|&s| logits(s, a))
                .collect(),
            value: recording.root_states.iter().map(|&s| value(s)).collect(),
            invalid: Vec::new(),
            gumbel: case.gumbel.clone(),
        };
        let kind = if case.kind == "puct" {
            SearchKind::Puct
        } else {
            SearchKind::Gumbel
        };
        let config = SearchConfig {
            kind,
            simulations: case.simulations,
            max_depth: case.max_depth,
            q_normalisation: QNormalisation::ParentAndSiblings,
            dirichlet_fraction: 0.0,
            max_considered_actions: case.max_considered_actions.max(1),
            ..SearchConfig::default()
        };
        let mut search = Search::new(config);
        let out = search.run(&roots, &mut model, 0.0, &mut Noise::new(0));
        let label = format!(
            "case {i} ({} {} sims, mctx {})",
            case.kind, case.simulations, recording.mctx_version
        );
        for b in 0..batch {
            assert_eq!(
                &out.visits[b * a..(b + 1) * a],
                &case.visit_counts[b][..],
                "{label}: root visits of tree {b}"
            );
            assert!(
                close(out.value[b], case.root_value[b]),
                "{label}: root value {} vs {}",
                out.value[b],
                case.root_value[b]
            );
            for (ours, theirs) in out.policy[b * a..(b + 1) * a]
                .iter()
                .zip(&case.action_weights[b])
            {
                assert!(
                    close(*ours, *theirs),
                    "{label}: policy {:?} vs {:?}",
                    &out.policy[b * a..(b + 1) * a],
                    case.action_weights[b]
                );
            }
            let tree = search.tree();
            for n in 0..nodes {
                let at = tree.at(b, NodeId(n as u32));
                assert_eq!(
                    tree.node_visits[at], case.node_visits[b][n],
                    "{label}: visits of node {n} in tree {b}"
                );
                assert!(
                    close(tree.node_values[at], case.node_values[b][n]),
                    "{label}: value of node {n} in tree {b}"
                );
            }
            if kind == SearchKind::Gumbel {
                assert_eq!(
                    out.actions[b], case.action[b],
                    "{label}: action of tree {b}"
                );
            }
        }
    }
}

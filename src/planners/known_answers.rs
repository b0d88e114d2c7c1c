//! Bandit and chain problems with answers derived by hand, run against
//! every search kind.

use super::*;
use crate::core::Noise;

/// A model of hand-written transitions: `next[state][action]`, with
/// rewards, values and uniform priors; the state of each node is kept here.
struct TableModel {
    next: Vec<Vec<usize>>,
    reward: Vec<Vec<f32>>,
    value: Vec<f32>,
    discount: f32,
    /// Terminal states: discount 0 after them.
    terminal: Vec<bool>,
    states: Vec<Vec<usize>>,
    actions: usize,
}

impl TableModel {
    fn roots(&mut self, batch: usize, simulations: usize) -> Roots {
        self.states = vec![vec![0; simulations + 1]; batch];
        Roots {
            logits: vec![0.0; batch * self.actions],
            value: vec![self.value[0]; batch],
            invalid: Vec::new(),
            gumbel: Vec::new(),
        }
    }
}

impl SearchModel for TableModel {
    fn recurrent(
        &mut self,
        parents: &[NodeId],
        actions: &[usize],
        children: &[NodeId],
    ) -> Evaluation {
        let mut eval = Evaluation::default();
        for b in 0..parents.len() {
            let s = self.states[b][parents[b].index()];
            let next = self.next[s][actions[b]];
            self.states[b][children[b].index()] = next;
            eval.logits.extend(std::iter::repeat_n(0.0, self.actions));
            eval.value.push(self.value[next]);
            eval.reward.push(self.reward[s][actions[b]]);
            eval.discount.push(if self.terminal[next] {
                0.0
            } else {
                self.discount
            });
        }
        eval
    }
}

/// A three-armed bandit paying 0, 1 and 0.5; every arm ends the episode.
fn bandit() -> TableModel {
    TableModel {
        next: vec![vec![1, 1, 1], vec![1, 1, 1]],
        reward: vec![vec![0.0, 1.0, 0.5], vec![0.0; 3]],
        value: vec![0.0, 0.0],
        discount: 0.9,
        terminal: vec![false, true],
        states: Vec::new(),
        actions: 3,
    }
}

/// A chain of 4 states where action 1 moves right and action 0 falls into
/// an absorbing state; only reaching the end pays 1.
fn chain() -> TableModel {
    // States 0..=3 along the chain, 4 the pit, 5 the goal (terminal).
    let mut next = vec![
        vec![4, 1],
        vec![4, 2],
        vec![4, 3],
        vec![4, 5],
        vec![4, 4],
        vec![5, 5],
    ];
    next[5] = vec![5, 5];
    let mut reward = vec![vec![0.0, 0.0]; 6];
    reward[3][1] = 1.0;
    TableModel {
        next,
        reward,
        value: vec![0.0; 6],
        discount: 0.5,
        terminal: vec![false, false, false, false, false, true],
        states: Vec::new(),
        actions: 2,
    }
}

fn config(kind: SearchKind, simulations: usize) -> SearchConfig {
    SearchConfig {
        kind,
        simulations,
        dirichlet_fraction: 0.0,
        gumbel_scale: 0.0,
        ..SearchConfig::default()
    }
}

const KINDS: [SearchKind; 2] = [SearchKind::Puct, SearchKind::Gumbel];

#[test]
fn every_search_finds_the_best_arm() {
    for kind in KINDS {
        let mut model = bandit();
        let roots = model.roots(2, 30);
        let mut search = Search::new(config(kind, 30));
        let out = search.run(&roots, &mut model, 0.0, &mut Noise::new(1));
        assert_eq!(out.actions, vec![1, 1], "{kind:?}");
        let visits = &out.visits[..3];
        assert!(
            visits[1] > visits[0] && visits[1] > visits[2],
            "{kind:?} {visits:?}"
        );
        assert!(
            out.policy[1] > 0.5,
            "{kind:?} policy {:?}",
            &out.policy[..3]
        );
        assert_eq!(
            out.visits.iter().sum::<u32>(),
            60,
            "every simulation visits the root once"
        );
    }
}

#[test]
fn the_root_value_is_the_mean_of_backed_up_returns() {
    // Gumbel with 3 simulations and 3 arms visits each arm once. The root's
    // value is the running mean over its own estimate (0) and the three
    // returns 0, 1 and 0.5: (0 + 0 + 1 + 0.5) / 4.
    let mut model = bandit();
    let roots = model.roots(1, 3);
    let mut search = Search::new(config(SearchKind::Gumbel, 3));
    let out = search.run(&roots, &mut model, 0.0, &mut Noise::new(0));
    assert_eq!(out.visits, vec![1, 1, 1]);
    assert!((out.value[0] - 0.375).abs() < 1e-6, "{}", out.value[0]);
    assert_eq!(out.actions, vec![1]);
    // The improved policy is softmax(sigma(q)) with q = [0, 1, 0.5] rescaled
    // to [0, 1] and scaled by (50 + 1) * 0.1 = 5.1.
    let expected = qtransform::softmax(&[0.0, 5.1, 2.55]);
    for (p, e) in out.policy.iter().zip(expected) {
        assert!((p - e).abs() < 1e-5, "{:?}", out.policy);
    }
}

#[test]
fn every_search_walks_the_chain_to_the_goal() {
    for kind in KINDS {
        let mut model = chain();
        let roots = model.roots(1, 64);
        let mut search = Search::new(config(kind, 64));
        let out = search.run(&roots, &mut model, 0.0, &mut Noise::new(3));
        assert_eq!(out.actions, vec![1], "{kind:?}: step right");
        // The return of the right path is 0.5^3 * 1 = 0.125; the root's mean
        // mixes it with the pit's 0, so it is positive but at most 0.125.
        assert!(
            out.value[0] > 0.0 && out.value[0] <= 0.125 + 1e-6,
            "{kind:?} {}",
            out.value[0]
        );
        // The tree reaches the goal: some node at depth 4 has been expanded.
        let tree = search.tree();
        let deep = (1..tree.nodes()).any(|n| depth(tree, NodeId(n as u32)) == 4);
        assert!(deep, "{kind:?} never reached depth 4");
    }
}

fn depth(tree: &Tree, mut node: NodeId) -> usize {
    let mut depth = 0;
    while node != NodeId::ROOT {
        let parent = tree.parents[tree.at(0, node)];
        if parent == NodeId::NONE {
            return 0;
        }
        node = parent;
        depth += 1;
    }
    depth
}

#[test]
fn searches_are_deterministic_given_a_seed() {
    for kind in KINDS {
        let run = |seed| {
            let mut model = bandit();
            let roots = model.roots(4, 16);
            let mut cfg = config(kind, 16);
            cfg.dirichlet_fraction = 0.25;
            cfg.gumbel_scale = 1.0;
            let mut search = Search::new(cfg);
            let out = search.run(&roots, &mut model, 1.0, &mut Noise::new(seed));
            (out.actions, out.visits)
        };
        assert_eq!(run(7), run(7), "{kind:?}");
    }
}

#[test]
fn invalid_root_actions_are_never_taken() {
    for kind in KINDS {
        let mut model = bandit();
        let mut roots = model.roots(1, 12);
        roots.invalid = vec![false, true, false];
        let mut search = Search::new(config(kind, 12));
        let out = search.run(&roots, &mut model, 0.0, &mut Noise::new(5));
        assert_eq!(out.visits[1], 0, "{kind:?}");
        assert_eq!(out.actions, vec![2], "{kind:?}: the best valid arm");
        assert!(out.policy[1] < 1e-6);
    }
}

#[test]
fn temperature_zero_takes_the_most_visited() {
    let mut noise = Noise::new(0);
    assert_eq!(
        sample_with_temperature(&[0.2, 0.5, 0.3], 0.0, &mut noise),
        1
    );
    let draws: Vec<usize> = (0..200)
        .map(|_| sample_with_temperature(&[0.0, 0.5, 0.5], 1.0, &mut noise))
        .collect();
    assert!(draws.iter().all(|&a| a != 0));
    assert!(draws.contains(&1) && draws.contains(&2));
}

//! Cost of the tree search alone: B = 256 trees, A = 18 actions, 50
//! simulations, with the network replaced by a cheap deterministic function
//! of (state, action), as in mctx's and LightZero's own search benchmarks.
//!
//! Run with `cargo bench --bench search_throughput`. Each search runs on
//! one thread and on two (`search.threads`). Criterion reports
//! throughput in simulations (one per tree per simulation step) per second;
//! figures for this machine are in docs/performance.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use somnium::core::Noise;
use somnium::planners::{
    Evaluation, NodeId, ParallelSearch, Roots, SearchConfig, SearchKind, SearchModel,
};

const BATCH: usize = 256;
const ACTIONS: usize = 18;
const SIMULATIONS: usize = 50;

/// Integer states advanced by a hash; logits, values and rewards derived
/// from the state. Cheap next to the search, so the search is what is timed.
struct HashModel {
    nodes: usize,
    states: Vec<u64>,
}

fn mix(x: u64) -> u64 {
    let x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 29)
}

fn unit(x: u64) -> f32 {
    (x >> 40) as f32 / (1u64 << 24) as f32
}

impl HashModel {
    fn new() -> Self {
        HashModel {
            nodes: SIMULATIONS + 1,
            states: (0..BATCH * (SIMULATIONS + 1)).map(|i| i as u64).collect(),
        }
    }

    fn roots(&self) -> Roots {
        Roots {
            logits: (0..BATCH * ACTIONS).map(|i| unit(mix(i as u64))).collect(),
            value: (0..BATCH).map(|b| unit(mix(b as u64 + 7))).collect(),
            invalid: Vec::new(),
            gumbel: Vec::new(),
        }
    }
}

impl SearchModel for HashModel {
    fn recurrent(
        &mut self,
        parents: &[NodeId],
        actions: &[usize],
        children: &[NodeId],
    ) -> Evaluation {
        let b = parents.len();
        let mut eval = Evaluation {
            logits: Vec::with_capacity(b * ACTIONS),
            value: Vec::with_capacity(b),
            reward: Vec::with_capacity(b),
            discount: Vec::with_capacity(b),
        };
        for b in 0..parents.len() {
            let parent = self.states[b * self.nodes + parents[b].index()];
            let next = mix(parent.wrapping_mul(31).wrapping_add(actions[b] as u64 + 1));
            self.states[b * self.nodes + children[b].index()] = next;
            eval.logits
                .extend((0..ACTIONS as u64).map(|a| unit(mix(next ^ a)) * 2.0));
            eval.value.push(unit(next) - 0.5);
            eval.reward.push(unit(mix(next + 1)) - 0.5);
            eval.discount.push(0.997);
        }
        eval
    }
}

fn search(c: &mut Criterion) {
    let mut group = c.benchmark_group("search_b256_a18_s50");
    group.throughput(Throughput::Elements((BATCH * SIMULATIONS) as u64));
    group.sample_size(20);
    for kind in [SearchKind::Puct, SearchKind::Gumbel] {
        for threads in [1, 2] {
            let config = SearchConfig {
                kind,
                simulations: SIMULATIONS,
                max_considered_actions: 16,
                threads,
                ..SearchConfig::default()
            };
            let mut search = ParallelSearch::new(config);
            let mut model = HashModel::new();
            let roots = model.roots();
            let mut noise = Noise::new(0);
            let name = format!("{}/threads{threads}", format!("{kind:?}").to_lowercase());
            group.bench_function(name, |b| {
                b.iter(|| black_box(search.run(&roots, &mut model, 1.0, &mut noise)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);

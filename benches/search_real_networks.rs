//! Where MuZero's acting time goes: one search with the real networks
//! (representation once, then dynamics + prediction per simulation through
//! `MctsPlanner`, states kept on the device), next to the same search with
//! the networks' outputs replaced by constants, so the difference is the
//! networks' share.
//!
//! Run with `cargo bench --bench search_real_networks`. Sizes: the CartPole
//! experiment's MLP networks (`experiments/muzero/cartpole.toml`) and the
//! MinAtar Breakout CNN (`experiments/muzero/minatar-breakout.toml`), batch
//! 8 (the experiments' environment count) and 64, 16 simulations, flex
//! backend (`SOMNIUM_BENCH_DEVICE=wgpu:0` another device, built with
//! `--features wgpu`). Throughput is in simulations (per tree) per second.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use somnium::core::{Noise, ObsBatch, ObsKind};
use somnium::device::{Precision, open_device};
use somnium::muzero::NetworkConfig;
use somnium::muzero::networks::MuzeroNet;
use somnium::planners::{
    Evaluation, MctsPlanner, NodeId, ParallelSearch, Roots, SearchConfig, SearchKind, SearchModel,
};

const SIMULATIONS: usize = 16;

struct Case {
    name: &'static str,
    kind: ObsKind,
    actions: usize,
    network: NetworkConfig,
}

fn cases() -> Vec<Case> {
    let cartpole = NetworkConfig {
        state: 64,
        units: 128,
        layers: 2,
        support: 300,
        ..NetworkConfig::default()
    };
    let breakout = NetworkConfig {
        cnn_depth: 16,
        ..cartpole.clone()
    };
    vec![
        Case {
            name: "cartpole_mlp",
            kind: ObsKind::Vector { width: 4 },
            actions: 2,
            network: cartpole,
        },
        Case {
            name: "breakout_cnn",
            kind: ObsKind::Image {
                shape: [10, 10, 4],
                pixels: false,
            },
            actions: 3,
            network: breakout,
        },
    ]
}

/// The search with constant network outputs: its cost is the search's own.
struct Constant {
    actions: usize,
}

impl SearchModel for Constant {
    fn recurrent(&mut self, parents: &[NodeId], _: &[usize], _: &[NodeId]) -> Evaluation {
        let b = parents.len();
        Evaluation {
            logits: (0..b * self.actions)
                .map(|i| (i % 3) as f32 * 0.1)
                .collect(),
            value: vec![0.5; b],
            reward: vec![0.1; b],
            discount: vec![0.997; b],
        }
    }
}

fn search(c: &mut Criterion) {
    let spec = std::env::var("SOMNIUM_BENCH_DEVICE").unwrap_or_else(|_| "flex".into());
    let device = open_device(&spec, Precision::F32).unwrap();
    let mut group = c.benchmark_group("muzero_search_s16");
    group.sample_size(10);
    for case in cases() {
        let net = MuzeroNet::new(&case.network, case.kind, case.actions, &device);
        let config = SearchConfig {
            kind: SearchKind::Puct,
            simulations: SIMULATIONS,
            unvisited_parent_mean: true,
            ..SearchConfig::default()
        };
        for batch in [8, 64] {
            group.throughput(Throughput::Elements((batch * SIMULATIONS) as u64));
            let obs = ObsBatch::from_flat(
                vec![0.5; batch * case.kind.flat_len()],
                batch,
                case.kind,
                &device,
            );
            let mut planner = MctsPlanner::new(config.clone(), case.actions, 0.997);
            let mut noise = Noise::new(0);
            group.bench_function(format!("{}/b{batch}/networks", case.name), |b| {
                b.iter(|| {
                    let states = net.represent(&obs);
                    black_box(planner.search(&net, &net, &net, &states, &mut noise))
                })
            });
            let mut bare = ParallelSearch::new(config.clone());
            let mut model = Constant {
                actions: case.actions,
            };
            let roots = Roots {
                logits: vec![0.0; batch * case.actions],
                value: vec![0.0; batch],
                invalid: Vec::new(),
                gumbel: Vec::new(),
            };
            group.bench_function(format!("{}/b{batch}/search_only", case.name), |b| {
                b.iter(|| black_box(bare.run(&roots, &mut model, 1.0, &mut noise)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);

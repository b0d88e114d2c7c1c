//! The CPU's matrix-product rate at the shapes of a DreamerV3 preset-S
//! update, the floor under its time per update (docs/performance.md).
//!
//! Run with `RAYON_NUM_THREADS=1 cargo bench --bench matmul_shapes` for one
//! core's rate; criterion's `thrpt` line reads as GFLOP/s (one element per
//! floating-point operation).

use std::time::Duration;

use burn::tensor::{Device, Distribution, Tensor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// `[m, k] x [k, n]`: the heads' first and second layers and the critic's
/// output on 16 x 1,024 imagined states, one RSSM step's GRU for 1,024
/// starts, and a weight gradient (the transposed states times the output
/// gradient).
const SHAPES: [(&str, usize, usize, usize); 5] = [
    ("heads_in", 16_384, 1_536, 512),
    ("heads_hidden", 16_384, 512, 512),
    ("critic_out", 16_384, 512, 255),
    ("gru_step", 1_024, 1_024, 1_536),
    ("weight_grad", 1_536, 16_384, 512),
];

fn bench_shapes(c: &mut Criterion) {
    let device = Device::flex();
    let mut group = c.benchmark_group("matmul");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    for (name, m, k, n) in SHAPES {
        let a = Tensor::<2>::random([m, k], Distribution::Default, &device);
        let b = Tensor::<2>::random([k, n], Distribution::Default, &device);
        group.throughput(Throughput::Elements(2 * (m * k * n) as u64));
        group.bench_function(format!("{name}_{m}x{k}x{n}"), |bench| {
            bench.iter(|| a.clone().matmul(b.clone()).into_data())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_shapes);
criterion_main!(benches);

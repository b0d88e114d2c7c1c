//! Steps per second of every registered environment, alone and as a
//! [`VecEnv`] of 16 copies, under uniformly random actions.
//!
//! Run with
//! `cargo bench -p somnium-envs --bench env_throughput` (add `-- --quick`
//! for a fast sanity run, or a filter such as `-- CartPole`). Criterion
//! reports throughput in environment steps (elements) per second; episode
//! ends are handled by resetting (single copy) or by the `VecEnv`'s
//! autoreset, and are included in the cost. Actions are drawn in advance so
//! that the random number generator is not measured.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use somnium_envs::{Action, Space, VecEnv, random_action, registry};

/// Copies in the vectorised benchmark.
const COPIES: usize = 16;
/// Pre-drawn actions per environment, cycled through.
const ACTIONS: usize = 4096;

fn actions(space: &Space) -> Vec<Action> {
    let mut rng = StdRng::seed_from_u64(0);
    (0..ACTIONS)
        .map(|_| random_action(space, &mut rng))
        .collect()
}

fn single(c: &mut Criterion) {
    let mut group = c.benchmark_group("single");
    group.throughput(Throughput::Elements(1));
    for spec in registry() {
        let mut env = (spec.make)();
        let actions = actions(env.action_space());
        env.reset(Some(0)).expect("reset");
        let mut t = 0;
        group.bench_function(spec.id, |b| {
            b.iter(|| {
                let step = env.step(&actions[t % ACTIONS]).expect("step");
                t += 1;
                if step.terminated || step.truncated {
                    env.reset(None).expect("reset");
                }
                black_box(step)
            })
        });
    }
    group.finish();
}

fn vectorised(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("vec{COPIES}"));
    group.throughput(Throughput::Elements(COPIES as u64));
    for spec in registry() {
        let mut envs = VecEnv::make(spec.id, COPIES, 1).expect("make");
        let actions = actions(envs.action_space());
        envs.reset(Some(0)).expect("reset");
        let mut t = 0;
        group.bench_function(spec.id, |b| {
            b.iter(|| {
                let start = (t * COPIES) % (ACTIONS - COPIES);
                t += 1;
                black_box(envs.step(&actions[start..start + COPIES]).expect("step"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, single, vectorised);
criterion_main!(benches);

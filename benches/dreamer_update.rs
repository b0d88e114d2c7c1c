//! Time of one full DreamerV3 update (world model, imagination, actor and
//! critic) at batch 16 x length 64 on CartPole vector observations.
//!
//! Run with `cargo bench --bench dreamer_update` (flex CPU backend);
//! `SOMNIUM_BENCH_PRESETS=xs,s` chooses presets (default `xs,s`),
//! `SOMNIUM_BENCH_SHARDS=1,2` how many threaded shares each update is
//! split into (`run.update_shards`; default `1,2`),
//! `SOMNIUM_BENCH_DEVICE=wgpu` the device (build with `--features wgpu`),
//! `SOMNIUM_BENCH_PRECISION=f16` its float type (default `f32`),
//! `SOMNIUM_BENCH_PIXELS=84` replaces the vectors by CartPole rendered at
//! 84 x 84 (the CNN encoder and decoder, at Atari's frame size),
//! `SOMNIUM_BENCH_SET=dreamer.replay.context=0;...` overrides config
//! values (`;`-separated, as `--set` takes them) and
//! `SOMNIUM_BENCH_SECONDS=10` sets the measurement time (default 30).
//! Figures are recorded in docs/performance.md.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use somnium::config::{ExperimentConfig, load_str};
use somnium::core::Noise;
use somnium::device::{Precision, open_device};
use somnium::dreamer::DreamerAgent;
use somnium::train::record_random_play;

fn agent_for(preset: &str, shards: usize) -> DreamerAgent {
    let path = format!(
        "{}/experiments/presets/dreamer/{preset}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    // The default environment is CartPole-v1.
    let mut overrides = Vec::new();
    if let Ok(size) = std::env::var("SOMNIUM_BENCH_PIXELS") {
        overrides.push("env.pixels=true".into());
        overrides.push(format!("env.pixel_size={size}"));
    }
    if let Ok(set) = std::env::var("SOMNIUM_BENCH_SET") {
        overrides.extend(set.split(';').filter(|s| !s.is_empty()).map(String::from));
    }
    let config: ExperimentConfig =
        load_str(&format!("include = [{path:?}]\n"), "bench", &overrides).unwrap();
    let mut env = somnium::train::make_env(&config.env).unwrap();
    let spec = std::env::var("SOMNIUM_BENCH_DEVICE").unwrap_or_else(|_| "flex".into());
    let precision: Precision = match std::env::var("SOMNIUM_BENCH_PRECISION") {
        Ok(p) => serde_json::from_value(serde_json::Value::String(p)).expect("f32, f16 or bf16"),
        Err(_) => Precision::F32,
    };
    let device = open_device(&spec, precision).unwrap();
    let mut agent = DreamerAgent::new(
        &config.dreamer,
        env.observation_space(),
        env.action_space(),
        1,
        0,
        &device,
    )
    .unwrap()
    .with_replicas(&vec![device.clone(); shards - 1]);
    record_random_play(&mut agent, env.as_mut(), 2000, &mut Noise::new(0)).unwrap();
    agent
}

fn bench_updates(c: &mut Criterion) {
    let presets = std::env::var("SOMNIUM_BENCH_PRESETS").unwrap_or_else(|_| "xs,s".into());
    let seconds = std::env::var("SOMNIUM_BENCH_SECONDS").map_or(30, |s| {
        s.parse().expect("SOMNIUM_BENCH_SECONDS: a whole number")
    });
    let mut group = c.benchmark_group("dreamer_update_16x64");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(seconds))
        .warm_up_time(Duration::from_secs(5));
    let shards = std::env::var("SOMNIUM_BENCH_SHARDS").unwrap_or_else(|_| "1,2".into());
    for preset in presets.split(',') {
        for shards in shards.split(',') {
            let shards: usize = shards.parse().expect("SOMNIUM_BENCH_SHARDS: numbers");
            let mut agent = agent_for(preset, shards);
            let name = format!("{preset}/{shards}-shard");
            group.bench_function(name, |b| b.iter(|| agent.train_step().unwrap()));
        }
    }
    group.finish();
}

criterion_group!(benches, bench_updates);
criterion_main!(benches);

//! Time of one full STORM update (world model on 16 x 64 replayed steps,
//! then imagination of 16 steps from 1,024 context windows and the
//! actor-critic's update) beside one DreamerV3 update of the same batch
//! and imagination size, in the same process, on CartPole vectors.
//!
//! Run with `cargo bench --bench storm_update` (flex CPU backend).
//! `SOMNIUM_BENCH_RUNS` picks what to time, as `name=experiment` pairs
//! separated by `,`, each optionally followed by `|key=value` overrides
//! of its own (`|run.update_shards=2` splits each update over two
//! threads). The default times the two CartPole experiment files, each
//! update unsplit, and STORM at DreamerV3's preset XS size (width and
//! latents, encoder, heads and actor-critic as XS):
//! `storm-cartpole=storm/cartpole.toml`, `storm-xs-sized=...|...` and
//! `dreamer-xs=dreamer/cartpole.toml`. `SOMNIUM_BENCH_SECONDS` sets the
//! measurement time (default 30). Figures are recorded in
//! docs/performance.md.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use somnium::config::{AgentKind, ExperimentConfig, load};
use somnium::core::Noise;
use somnium::device::open_device;
use somnium::dreamer::DreamerAgent;
use somnium::storm::StormAgent;
use somnium::train::record_random_play;

/// One update of the agent an experiment file describes.
enum Updater {
    Storm(Box<StormAgent>),
    Dreamer(Box<DreamerAgent>),
}

impl Updater {
    fn update(&mut self) {
        match self {
            Updater::Storm(agent) => agent.train_step().map(|_| ()),
            Updater::Dreamer(agent) => agent.train_step().map(|_| ()),
        }
        .unwrap();
    }
}

/// STORM with DreamerV3 XS's sizes: width 256 (XS's `deter`), 32 x 32
/// latents, one hidden layer of 256 in the encoder, the heads and the
/// actor-critic.
const STORM_XS: &str = "storm-xs-sized=storm/cartpole.toml|storm.model.width=256\
    |storm.model.feed_forward=512|storm.model.stoch=32|storm.model.classes=32\
    |storm.model.head_layers=1|storm.model.head_units=256|storm.model.encoder.mlp_layers=1\
    |storm.model.encoder.mlp_units=256|storm.actor_critic.heads.layers=1\
    |storm.actor_critic.heads.units=256";

fn agent_for(experiment: &str, set: &[&str]) -> Updater {
    let path = format!("{}/experiments/{experiment}", env!("CARGO_MANIFEST_DIR"));
    let mut overrides = vec!["run.update_shards=1".to_string()];
    overrides.extend(set.iter().map(|s| s.to_string()));
    let config: ExperimentConfig = load(std::path::Path::new(&path), &overrides).unwrap();
    let mut env = somnium::train::make_env(&config.env).unwrap();
    let device = open_device(&config.run.device, config.run.precision).unwrap();
    let (obs, act) = (env.observation_space().clone(), env.action_space().clone());
    let mut noise = Noise::new(0);
    // `run.update_shards` further shares on the same device, as `somnium
    // train` makes them.
    let replicas = vec![device.clone(); config.run.update_shards - 1];
    match config.agent {
        AgentKind::Storm => {
            let mut storm = StormAgent::new(&config.storm, &obs, &act, 1, 0, &device)
                .unwrap()
                .with_replicas(&replicas);
            record_random_play(&mut storm, env.as_mut(), 2000, &mut noise).unwrap();
            Updater::Storm(Box::new(storm))
        }
        _ => {
            let mut dreamer = DreamerAgent::new(&config.dreamer, &obs, &act, 1, 0, &device)
                .unwrap()
                .with_replicas(&replicas);
            record_random_play(&mut dreamer, env.as_mut(), 2000, &mut noise).unwrap();
            Updater::Dreamer(Box::new(dreamer))
        }
    }
}

fn bench_updates(c: &mut Criterion) {
    let runs = std::env::var("SOMNIUM_BENCH_RUNS").unwrap_or_else(|_| {
        format!("storm-cartpole=storm/cartpole.toml,{STORM_XS},dreamer-xs=dreamer/cartpole.toml")
    });
    let seconds = std::env::var("SOMNIUM_BENCH_SECONDS").map_or(30, |s| {
        s.parse().expect("SOMNIUM_BENCH_SECONDS: a whole number")
    });
    let mut group = c.benchmark_group("update_16x64");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(seconds))
        .warm_up_time(Duration::from_secs(5));
    for run in runs.split(',') {
        let mut parts = run.split('|');
        let first = parts.next().expect("a run");
        let (name, experiment) = first
            .split_once('=')
            .expect("SOMNIUM_BENCH_RUNS: name=file");
        let set: Vec<&str> = parts.collect();
        let mut updater = agent_for(experiment, &set);
        group.bench_function(name, |b| b.iter(|| updater.update()));
    }
    group.finish();
}

criterion_group!(benches, bench_updates);
criterion_main!(benches);

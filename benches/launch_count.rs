//! How many GPU kernels (compute dispatches) one DreamerV3 update and one
//! MuZero search simulation launch: at these model sizes a GPU's time goes
//! mostly to launching small kernels, so this count is the budget to cut.
//! It needs no GPU: on `wgpu:cpu` (Mesa's lavapipe) the same kernels are
//! launched as on a GPU through WGPU.
//!
//! Run with `cargo bench --features wgpu --bench launch_count` (add
//! `gpu-fusion` for burn's kernel fusion; leave out `gpu-autotune`, whose
//! timing of candidate kernels on lavapipe did not finish one update in
//! ten minutes). `SOMNIUM_BENCH_DEVICE` picks the
//! device (default `wgpu:cpu`), `SOMNIUM_BENCH_PRESETS` the DreamerV3
//! presets (default `xs,s`), `SOMNIUM_BENCH_PIXELS` the image sizes beside
//! vectors (default `64`; empty for vectors only). somnium's own fused
//! kernels (`somnium::nn::fused`) are on; `SOMNIUM_FUSED_KERNELS=0` counts
//! the same update with burn's composed operations instead. Each update is counted
//! after two warm-up updates (compilation and autotuning launch kernels of
//! their own). It prints launches per update and per simulation, and the
//! kernels launched most. Figures are recorded in docs/performance.md.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use burn::optim::GradientsParams;
use cubecl_runtime::logging::{LaunchObservation, LaunchObserver};
use somnium::config::{ExperimentConfig, load_str};
use somnium::core::{Noise, ObsBatch, ObsKind};
use somnium::device::{Precision, open_device};
use somnium::dreamer::DreamerAgent;
use somnium::dreamer::world_model::{DeviceBatch, DreamerWorldModel};
use somnium::muzero::NetworkConfig;
use somnium::muzero::networks::MuzeroNet;
use somnium::planners::{MctsPlanner, SearchConfig, SearchKind};
use somnium::replay::SequenceBatch;
use somnium::train::record_random_play;

/// Launches by kernel name.
#[derive(Default)]
struct Launches(Mutex<BTreeMap<&'static str, usize>>);

impl LaunchObserver for Launches {
    fn launched(&self, kernel: &'static str) {
        *self.0.lock().unwrap().entry(kernel).or_default() += 1;
    }
}

impl Launches {
    /// Run `work` and return what it launched, by kernel name.
    fn during(work: impl FnOnce()) -> BTreeMap<&'static str, usize> {
        let launches = Arc::new(Launches::default());
        let watching = LaunchObservation::new(launches.clone());
        work();
        drop(watching);
        launches.0.lock().unwrap().clone()
    }
}

fn total(counts: &BTreeMap<&'static str, usize>) -> usize {
    counts.values().sum()
}

/// `top` kernels launched most, as `name x count`, each path in a
/// kernel's type name shortened to its last segment, and long names cut.
fn most(counts: &BTreeMap<&'static str, usize>, top: usize) -> String {
    let mut sorted: Vec<_> = counts.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    sorted
        .iter()
        .take(top)
        .map(|(name, n)| format!("{n} x {}", short_name(name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a::b::C<d::E>` as `C<E>`, at most 60 characters.
fn short_name(name: &str) -> String {
    let mut short = String::new();
    let mut segment = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            segment.push(c);
        } else {
            short.push_str(segment.rsplit("::").next().unwrap_or(""));
            segment.clear();
            short.push(c);
        }
    }
    short.push_str(segment.rsplit("::").next().unwrap_or(""));
    short.chars().take(60).collect()
}

fn dreamer_agent(preset: &str, pixels: Option<usize>, spec: &str) -> DreamerAgent {
    let path = format!(
        "{}/experiments/presets/dreamer/{preset}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut overrides = Vec::new();
    if let Some(size) = pixels {
        overrides.push("env.pixels=true".to_string());
        overrides.push(format!("env.pixel_size={size}"));
    }
    let config: ExperimentConfig =
        load_str(&format!("include = [{path:?}]\n"), "bench", &overrides).unwrap();
    let mut env = somnium::train::make_env(&config.env).unwrap();
    let device = open_device(spec, Precision::F32).unwrap();
    let mut agent = DreamerAgent::new(
        &config.dreamer,
        env.observation_space(),
        env.action_space(),
        1,
        0,
        &device,
    )
    .unwrap();
    let steps = config.dreamer.replay.length * 2 + 10;
    record_random_play(&mut agent, env.as_mut(), steps, &mut Noise::new(0)).unwrap();
    agent
}

/// Launches of the world model's loss alone, forward and backward, on a
/// batch shaped like the update's (CartPole vectors, 16 x 64): how much of
/// an update its 64-step observe loop takes. Without fusion, kernels
/// launch as operations are called, so the forward count is the forward
/// pass's own; with fusion, some launch only when the backward pass needs
/// their results.
fn world_model_phases(preset: &str, spec: &str) -> (usize, usize) {
    let path = format!(
        "{}/experiments/presets/dreamer/{preset}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let config: ExperimentConfig =
        load_str(&format!("include = [{path:?}]\n"), "bench", &[]).unwrap();
    let c = &config.dreamer;
    let device = open_device(spec, Precision::F32).unwrap().autodiff();
    let kind = ObsKind::Vector { width: 4 };
    let model = DreamerWorldModel::new(c, kind, 2, &device);
    let (b, t) = (16, 64);
    let rows = b * t;
    let mut noise = Noise::new(0);
    let batch = SequenceBatch {
        batch: b,
        length: t,
        obs: (0..rows * 4).map(|_| noise.normal()).collect(),
        actions: (0..rows)
            .flat_map(|i| [(i % 2) as f32, 1.0 - (i % 2) as f32])
            .collect(),
        rewards: vec![1.0; rows],
        is_first: (0..rows).map(|i| f32::from(u8::from(i < b))).collect(),
        is_terminal: vec![0.0; rows],
        positions: vec![(0, 0); rows],
        start: None,
    };
    let data = DeviceBatch::new(batch, kind, &device);
    let mut pass = |count: bool| {
        let mut loss = None;
        let forward = Launches::during(|| {
            let out = model.observe_sequences(&data, c.rssm.free_nats, &mut noise);
            loss = Some(out.losses.total(&c.loss_scales));
        });
        let backward = Launches::during(|| {
            let grads = loss.take().unwrap().backward();
            let grads = GradientsParams::from_grads(grads, &model);
            drop(grads);
        });
        count.then(|| (total(&forward), total(&backward)))
    };
    pass(false);
    pass(true).unwrap()
}

fn main() {
    // `cargo bench` passes `--bench`; a test run (`cargo test --benches`)
    // does not, and has no time for this.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let spec = std::env::var("SOMNIUM_BENCH_DEVICE").unwrap_or_else(|_| "wgpu:cpu".into());
    let presets = std::env::var("SOMNIUM_BENCH_PRESETS").unwrap_or_else(|_| "xs,s".into());
    let pixels = std::env::var("SOMNIUM_BENCH_PIXELS").unwrap_or_else(|_| "64".into());
    let on = |yes: bool| if yes { "on" } else { "off" };
    println!(
        "device {spec}, fusion {}, autotune {}",
        on(cfg!(feature = "gpu-fusion")),
        on(cfg!(feature = "gpu-autotune"))
    );

    let mut inputs = vec![None];
    inputs.extend(
        pixels
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| Some(s.parse::<usize>().expect("SOMNIUM_BENCH_PIXELS: sizes"))),
    );
    for preset in presets.split(',') {
        for &input in &inputs {
            let mut agent = dreamer_agent(preset, input, &spec);
            for warm_up in 1..=2 {
                let started = std::time::Instant::now();
                agent.train_step().unwrap();
                eprintln!(
                    "preset {preset}: warm-up update {warm_up} took {:.0} s",
                    started.elapsed().as_secs_f64()
                );
            }
            let counts = Launches::during(|| {
                agent.train_step().unwrap();
            });
            let what = input.map_or("vectors".to_string(), |s| format!("{s}x{s} images"));
            println!(
                "dreamer update, preset {preset}, {what}, batch 16 x 64: {} launches ({} kernels; most: {})",
                total(&counts),
                counts.len(),
                most(&counts, 12)
            );
        }
        let (forward, backward) = world_model_phases(preset, &spec);
        println!(
            "of which the world model's loss, preset {preset}, vectors: {forward} launches forward, {backward} backward"
        );
    }

    // MuZero: the CartPole experiment's networks, pUCT, batch 8.
    let device = open_device(&spec, Precision::F32).unwrap();
    let network = NetworkConfig {
        state: 64,
        units: 128,
        layers: 2,
        support: 300,
        ..NetworkConfig::default()
    };
    let kind = ObsKind::Vector { width: 4 };
    let net = MuzeroNet::new(&network, kind, 2, &device);
    let (batch, simulations) = (8, 16);
    let config = SearchConfig {
        kind: SearchKind::Puct,
        simulations,
        unvisited_parent_mean: true,
        ..SearchConfig::default()
    };
    let obs = ObsBatch::from_flat(vec![0.5; batch * kind.flat_len()], batch, kind, &device);
    let mut planner = MctsPlanner::new(config, 2, 0.997);
    let mut noise = Noise::new(0);
    let mut search = || {
        let states = net.represent(&obs);
        planner.search(&net, &net, &net, &states, &mut noise);
    };
    search();
    let counts = Launches::during(search);
    println!(
        "muzero search, batch {batch}, {simulations} simulations: {} launches, {:.1} per simulation (most: {})",
        total(&counts),
        total(&counts) as f64 / simulations as f64,
        most(&counts, 12)
    );
}

//! Training in IEEE half precision (`run.precision = "f16"`) on flex, or
//! on the device `SOMNIUM_F16_DEVICE` names (e.g. `wgpu:0` on a GPU).
//!
//! f16's smallest positive number is 6e-8, so the optimisers' epsilons of
//! the papers (Adam 1e-8, LaProp 1e-20) round to zero in it: a parameter
//! without gradient then divides 0 by 0 and its first step makes it NaN,
//! as DreamerV3's first update did before the epsilons were floored
//! (`somnium::device::epsilon_floor`). Each optimiser here must train for
//! a few updates without error (an update whose metrics are not all finite
//! returns `Error::NonFinite`) and the world model's decoder loss falling
//! by at least a fifth. A DreamerV3 update that fails says
//! which networks' weights are no longer finite: the world model's (its
//! optimiser step) or only the actor's and critic's.
//!
//! Its own test binary: a device's float type is fixed per process.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{FloatDType, Tensor};
use somnium::config::{ExperimentConfig, load_str};
use somnium::core::Noise;
use somnium::device::{Precision, epsilon_floor, open_device};
use somnium::dreamer::{DreamerAgent, DreamerConfig, OptimizerKind};
use somnium::muzero::{MuzeroAgent, MuzeroConfig};
use somnium::nn::tensor_util::to_vec;
use somnium::train::record_random_play;

type Metrics = Vec<(String, f64)>;

/// Counts the parameter tensors holding a NaN or an infinity.
#[derive(Default)]
struct NonFinite(usize, usize);

impl ModuleVisitor for NonFinite {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let values = to_vec(param.val());
        self.0 += values.iter().any(|v| !v.is_finite()) as usize;
        self.1 += 1;
    }
}

fn non_finite<M: Module>(module: &M) -> String {
    let mut count = NonFinite::default();
    module.visit(&mut count);
    format!("{} of {} tensors", count.0, count.1)
}

/// One update, or a panic naming the error and where the weights went bad.
fn dreamer_update(agent: &mut DreamerAgent, what: &str) -> Metrics {
    agent.train_step().unwrap_or_else(|e| {
        let behaviour = agent.actor_critic();
        panic!(
            "{what}: {e}; non-finite weights: world model {}, actor {}, critic {}",
            non_finite(agent.world_model()),
            non_finite(&behaviour.actor),
            non_finite(&behaviour.critic)
        )
    })
}

fn metric(metrics: &Metrics, name: &str) -> f64 {
    metrics.iter().find(|(n, _)| n == name).unwrap().1
}

/// The tiny test model, or the preset `SOMNIUM_F16_PRESET` names (`xs`,
/// `s`...: sizes where the tiny model may not show a fault).
fn small_dreamer() -> DreamerConfig {
    let Ok(preset) = std::env::var("SOMNIUM_F16_PRESET") else {
        let mut c = DreamerConfig::tiny();
        c.behaviour.horizon = 5;
        return c;
    };
    let path = format!(
        "{}/experiments/presets/dreamer/{preset}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = format!("include = [{path:?}]\n");
    let config: ExperimentConfig = load_str(&text, "SOMNIUM_F16_PRESET", &[]).unwrap();
    config.dreamer
}

#[test]
fn both_agents_train_in_f16_with_every_optimiser() {
    let spec = std::env::var("SOMNIUM_F16_DEVICE").unwrap_or_else(|_| "flex".into());
    let device = open_device(&spec, Precision::F16).unwrap();
    assert_eq!(device.settings().float_dtype, FloatDType::F16);
    assert_eq!(epsilon_floor(&device), 2f32.powi(-14));
    let mut env = somnium::envs::make("CartPole-v1").unwrap();

    for kind in [OptimizerKind::Adam, OptimizerKind::Laprop] {
        let mut c = small_dreamer();
        c.optimizer.kind = kind;
        // LaProp's 2025 schedule (4e-5 after 1,000 warm-up updates) would
        // barely move the weights in 30 updates; this checks the numbers,
        // not the schedule.
        c.optimizer.laprop_lr = 1e-3;
        c.optimizer.warmup = 1;
        let (obs, act) = (env.observation_space(), env.action_space());
        let mut agent = DreamerAgent::new(&c, obs, act, 1, 0, &device).unwrap();
        record_random_play(&mut agent, env.as_mut(), 500, &mut Noise::new(0)).unwrap();
        let mut decoder = Vec::new();
        for update in 1..=30 {
            let what = format!("DreamerV3 with {kind:?} on {spec}, update {update}");
            let metrics = dreamer_update(&mut agent, &what);
            decoder.push(metric(&metrics, "loss/decoder"));
        }
        let late = decoder[25..].iter().sum::<f64>() / 5.0;
        eprintln!(
            "f16 DreamerV3, {kind:?}: decoder loss {:.3} -> {late:.3}",
            decoder[0]
        );
        assert!(
            late < 0.8 * decoder[0],
            "{kind:?}: the decoder loss should fall by a fifth in f16: {decoder:?}"
        );
    }

    let mut c = MuzeroConfig::tiny();
    c.search.simulations = 4;
    c.training.batch = 16;
    let (obs, act) = (env.observation_space(), env.action_space());
    let mut agent = MuzeroAgent::new(&c, obs, act, 1, 0, &device).unwrap();
    record_random_play(&mut agent, env.as_mut(), 300, &mut Noise::new(0)).unwrap();
    for update in 1..=10 {
        // An update with a non-finite loss, gradient norm or metric is an error.
        if let Err(e) = agent.train_step() {
            panic!("MuZero on {spec}, update {update}: {e}");
        }
    }
}

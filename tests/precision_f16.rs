//! Training in IEEE half precision (`run.precision = "f16"`) on flex, or
//! on the device `SOMNIUM_F16_DEVICE` names (e.g. `wgpu:0` on a GPU).
//!
//! In f16 the optimisers keep f32 master weights and moments
//! (`somnium::nn::master_weights`): the first tests show what that is for,
//! an update below f16's resolution that a plain f16 Adam loses and a
//! gradient whose square underflows f16 that makes a plain f16 Adam's
//! weight non-finite, and that the f32 state survives a checkpoint. Losses
//! are scaled (`somnium::nn::loss_scale`): a gradient below f16's range
//! survives the backward pass, and a scale that overflows a gradient is
//! halved with the step skipped, as many times as the arithmetic says. Then
//! each optimiser of each agent must train for a few updates without error
//! (an update whose metrics are not all finite returns `Error::NonFinite`)
//! and the world model's decoder loss fall by at least a fifth. A DreamerV3
//! update that fails says which networks' weights are no longer finite: the
//! world model's (its optimiser step) or only the actor's and critic's.
//!
//! Its own test binary: a device's float type is fixed per process.

mod common;

use std::sync::OnceLock;

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, Optimizer, RecordState, StateSink, StateSource};
use burn::tensor::{DType, Device, FloatDType, Tensor};
use common::{adam, plain_and_master};
use somnium::config::{ExperimentConfig, load_str};
use somnium::core::Noise;
use somnium::device::{Precision, open_device};
use somnium::dreamer::{DreamerAgent, DreamerConfig, OptimizerKind};
use somnium::muzero::{MuzeroAgent, MuzeroConfig};
use somnium::nn::grad::global_norm;
use somnium::nn::loss_scale::{INITIAL_SCALE, LossScale};
use somnium::nn::master_weights::{MasterWeights, optimizer_for};
use somnium::nn::mlp::Mlp;
use somnium::nn::norm::NormKind;
use somnium::nn::tensor_util::{tensor_from_vec, to_vec};
use somnium::train::checkpoint::{load_optimizer, save_optimizer};
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

/// The device of every test here, switched to f16 once (the tests run on
/// parallel threads; a device holding tensors cannot be switched).
fn f16_device() -> (String, Device) {
    static DEVICE: OnceLock<(String, Device)> = OnceLock::new();
    DEVICE
        .get_or_init(|| {
            let spec = std::env::var("SOMNIUM_F16_DEVICE").unwrap_or_else(|_| "flex".into());
            let device = open_device(&spec, Precision::F16).unwrap();
            (spec, device)
        })
        .clone()
}

#[test]
fn master_weights_keep_updates_below_f16_resolution() {
    // Adam with a constant gradient moves a weight by lr each step: 50
    // steps of 1e-4 take 1.0 to 0.995. f16 numbers just below 1.0 are
    // 4.9e-4 apart, so each plain f16 step rounds back to 1.0.
    let (plain, master) = plain_and_master(&f16_device().1, 1.0, 1e-4, 50);
    assert_eq!(plain, 1.0, "plain f16 Adam was expected to lose the steps");
    assert!((master - 0.995).abs() < 4.9e-4, "{master}");
}

#[test]
fn master_weights_survive_gradients_whose_square_underflows_f16() {
    // Gradient 1e-3: Adam's second moment (1 - 0.999) * 1e-6 = 1e-9 is
    // below f16's smallest number (6e-8), so in f16 it is zero and the
    // first step divides by (nearly) nothing; in f32 the first step is
    // lr * sign(g), 1.0 -> 0.99.
    let (plain, master) = plain_and_master(&f16_device().1, 1e-3, 1e-2, 1);
    assert!(
        !plain.is_finite(),
        "plain f16 Adam was expected to step to a non-finite weight, got {plain}"
    );
    assert!((master - 0.99).abs() < 1e-3, "{master}");
}

/// A weight without bias on the f16 autodiff device, and its input `x`.
fn f16_weight(x: f32) -> (Linear, Tensor<2>) {
    let ad = f16_device().1.autodiff();
    let layer = LinearConfig::new(1, 1).with_bias(false).init(&ad);
    (layer, Tensor::<2>::from_floats([[x]], &ad))
}

/// The gradient of `loss` with respect to `layer`'s weight, computed with
/// `scale` if any, as the optimiser would receive it.
fn weight_grad(layer: &Linear, loss: Tensor<1>, scale: Option<&LossScale>) -> Tensor<2> {
    let loss = scale.map_or(loss.clone(), |s| s.scale_loss(loss));
    let mut grads = GradientsParams::from_grads(loss.backward(), layer);
    if let Some(scale) = scale {
        scale.unscale(layer, &mut grads);
    }
    grads.get::<2>(layer.weight.id).unwrap()
}

#[test]
fn loss_scaling_keeps_gradients_below_f16_range() {
    // loss = 1e-4 * w * x with x = 1e-4: dL/dw = 1e-8, below f16's
    // smallest positive number (6e-8), so the plain backward pass gives 0.
    // Scaled by 2^15 it is 3.3e-4 in f16, and 1e-8 again once widened and
    // divided (to f16's relative precision, 2^-11).
    let (layer, x) = f16_weight(1e-4);
    let loss = || layer.forward(x.clone()).sum() * 1e-4;
    let plain = weight_grad(&layer, loss(), None);
    assert_eq!(to_vec(plain), vec![0.0], "f16 was expected to lose it");
    let scaled = weight_grad(&layer, loss(), Some(&LossScale::default()));
    assert_eq!(scaled.dtype(), DType::F32, "unscaled in f32");
    let g = to_vec(scaled)[0];
    assert!((g - 1e-8).abs() < 1e-8 * 2f32.powi(-10), "{g}");
}

#[test]
fn an_overflowing_scale_is_halved_and_its_steps_skipped() {
    // dL/dw = 10: scaled by S it overflows f16 (65,504) while 10 S does,
    // so 2^15, 2^14 and 2^13 are skipped and 2^12 (40,960) is applied,
    // with the gradient exactly 10 again.
    let (layer, x) = f16_weight(1.0);
    let mut scale = LossScale::default();
    assert_eq!(scale.scale, INITIAL_SCALE);
    let mut skipped = 0;
    loop {
        let loss = layer.forward(x.clone()).sum() * 10.0;
        let mut grads = GradientsParams::from_grads(scale.scale_loss(loss).backward(), &layer);
        scale.unscale(&layer, &mut grads);
        let norm = global_norm(&layer, &grads);
        if scale.update(norm.is_finite()) {
            assert_eq!(norm, 10.0);
            break;
        }
        skipped += 1;
        assert!(skipped <= 15, "the scale never came down: {scale:?}");
    }
    assert_eq!((skipped, scale.scale), (3, 4096.0));
}

#[test]
fn master_state_stays_f32_through_a_checkpoint() {
    let (_, device) = f16_device();
    let wrapped = MasterWeights(adam());
    let mut weight = Tensor::<1>::from_floats([0.3, -0.7], &device);
    let mut state = None;
    for g in [0.5, -0.25, 2.0] {
        let grad = Tensor::<1>::from_floats([g, g * 0.1], &device);
        (weight, state) = wrapped.step(1e-3, weight, grad, state);
    }
    let state = state.unwrap();
    let mut sink = StateSink::default();
    state.state_flatten("p", &mut sink);
    let mut source = StateSource::new(sink.scalars.into_iter().collect());
    for (name, data) in sink.tensors {
        source.insert_tensor(name, data);
    }
    let back = RecordState::state_unflatten("p", &mut source, &device).unwrap();
    let back: somnium::nn::master_weights::MasterState<1, burn::optim::Adam> = back;
    assert_eq!(back.master.dtype(), DType::F32);
    assert_eq!(to_vec(back.master.clone()), to_vec(state.master.clone()));
    let inner = back.inner.unwrap().momentum;
    assert_eq!(inner.time, 3);
    assert_eq!(inner.moment_2.dtype(), DType::F32);
    let original = state.inner.unwrap().momentum;
    assert_eq!(to_vec(inner.moment_1), to_vec(original.moment_1));
    assert_eq!(to_vec(inner.moment_2), to_vec(original.moment_2));

    // Through the module optimiser and a burnpack file: the restored
    // optimiser continues exactly as the original.
    let ad = device.clone().autodiff();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optim.bpk");
    let x = tensor_from_vec(vec![1.0, 2.0], [1, 2], &ad);
    let mut mlp = Mlp::new(2, 4, 1, NormKind::Layer, &ad);
    let mut optim = optimizer_for(adam(), &device);
    for _ in 0..3 {
        let grads = GradientsParams::from_grads(mlp.forward(x.clone()).sum().backward(), &mlp);
        mlp = optim.step(1e-3, mlp, grads);
    }
    save_optimizer(&optim, &path).unwrap();
    let mut restored = load_optimizer(optimizer_for(adam(), &device), &path).unwrap();
    // Saved again, the restored state still records every tensor as F32
    // (burnpack names each tensor's dtype in its header). burn restores
    // optimiser records on its default device, which computes in f32 here,
    // so on flex this guards burn's loading path rather than our restore.
    let again = dir.path().join("again.bpk");
    save_optimizer(&restored, &again).unwrap();
    let count = |file: &std::path::Path, dtype: &[u8]| {
        let bytes = std::fs::read(file).unwrap();
        bytes.windows(dtype.len()).filter(|w| *w == dtype).count()
    };
    assert_eq!(
        count(&path, b"F32"),
        9,
        "3 parameters x (master, 2 moments)"
    );
    assert_eq!(count(&again, b"F32"), 9);
    assert_eq!(count(&again, b"F16"), 0);
    let (mut a, mut b) = (mlp.clone(), mlp);
    for _ in 0..5 {
        let ga = GradientsParams::from_grads(a.forward(x.clone()).sum().backward(), &a);
        let gb = GradientsParams::from_grads(b.forward(x.clone()).sum().backward(), &b);
        a = optim.step(1e-3, a, ga);
        b = restored.step(1e-3, b, gb);
    }
    assert_eq!(to_vec(a.forward(x.clone())), to_vec(b.forward(x)));
}

#[test]
fn both_agents_train_in_f16_with_every_optimiser() {
    let (spec, device) = f16_device();
    assert_eq!(device.settings().float_dtype, FloatDType::F16);
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
        let mut scales = (0.0, 0.0);
        for update in 1..=30 {
            let what = format!("DreamerV3 with {kind:?} on {spec}, update {update}");
            let metrics = dreamer_update(&mut agent, &what);
            decoder.push(metric(&metrics, "loss/decoder"));
            scales = (
                metric(&metrics, "model/loss_scale"),
                metric(&metrics, "behaviour/loss_scale"),
            );
        }
        let late = decoder[25..].iter().sum::<f64>() / 5.0;
        eprintln!(
            "f16 DreamerV3, {kind:?}: decoder loss {:.3} -> {late:.3}, loss scales {scales:?}",
            decoder[0]
        );
        assert!(scales.0 >= 1.0 && scales.1 >= 1.0, "{scales:?}");
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
        match agent.train_step() {
            Ok(metrics) => assert!(metric(&metrics, "model/loss_scale") >= 1.0),
            Err(e) => panic!("MuZero on {spec}, update {update}: {e}"),
        }
    }
}

#[test]
fn dreamer_update_shares_sum_unscaled_f32_gradients_in_f16() {
    // Two shares on one device (`run.update_shards = 2`): each unscales its
    // own gradients to f32 before they are summed and applied once.
    let (spec, device) = f16_device();
    let mut env = somnium::envs::make("CartPole-v1").unwrap();
    let (obs, act) = (env.observation_space(), env.action_space());
    let c = small_dreamer();
    let agent = DreamerAgent::new(&c, obs, act, 1, 0, &device).unwrap();
    let mut agent = agent.with_replicas(std::slice::from_ref(&device));
    record_random_play(&mut agent, env.as_mut(), 300, &mut Noise::new(0)).unwrap();
    for update in 1..=3 {
        let metrics = dreamer_update(
            &mut agent,
            &format!("two shares on {spec}, update {update}"),
        );
        assert!(metric(&metrics, "model/loss_scale") >= 1.0);
        assert!(metric(&metrics, "behaviour/loss_scale") >= 1.0);
    }
}

//! Backend parity: small DreamerV3, MuZero and STORM agents, started from the same
//! weights and the same replay, give the same losses, gradients, actions
//! and post-update weights on `flex` (the reference) and on every other
//! backend under test.
//!
//! Which devices: `SOMNIUM_PARITY_DEVICES`, a comma list such as
//! `wgpu:cpu` (CI, Mesa's lavapipe) or `wgpu,cuda:0` (a GPU machine); a
//! listed device that cannot be opened fails the test. Unset, every GPU
//! backend compiled into this build that opens is tested, and a build
//! without one (the default `cargo test`) skips, saying how to run them:
//! `cargo test --features wgpu --test backend_parity`.
//!
//! The DreamerV3 test also splits an update between flex and the device
//! (data parallelism across two backends) and compares it with the same
//! split between two flex copies.
//!
//! Every random draw comes from the host-side `Noise`, so the backends see
//! identical inputs; what differs is floating-point summation order. The
//! tolerances (relative to each tensor's largest magnitude) are stated
//! beside each check and documented in docs/performance.md.

use std::path::Path;

mod gpu_devices;
use gpu_devices::devices_under_test;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use somnium::core::{Noise, ObsKind};
use somnium::dreamer::world_model::DeviceBatch;
use somnium::dreamer::{DreamerAgent, DreamerConfig, OptimizerKind};
use somnium::envs::{Env, Observation, random_action};
use somnium::muzero::{MuzeroAgent, MuzeroConfig};
use somnium::nn::tensor_util::to_vec;
use somnium::storm::{StormAgent, StormConfig};
use somnium::train::{Agent, record_random_play};

/// Forward values (losses): relative tolerance.
const FORWARD_RTOL: f32 = 1e-4;
/// Gradients: per tensor, max |difference| over max |gradient|.
const GRAD_RTOL: f32 = 1e-3;
/// Weights after one optimiser step: absolute, as a fraction of the learning rate.
const STEP_LR_FRACTION: f32 = 0.05;
/// The gradient disagreement an optimiser step is allowed to amplify (see
/// `adam_step_err`), relative to the tensor's largest gradient: 5-20 times
/// the largest difference measured (2e-6 on lavapipe, 5e-7 to 7e-7 on CI's
/// lavapipe and an H200).
const STEP_GRAD_RTOL: f32 = 1e-5;

/// Every float parameter of a module, in visiting order.
struct Values(Vec<Vec<f32>>);

impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(to_vec(param.val()));
    }
}

fn values<M: Module>(module: &M) -> Vec<Vec<f32>> {
    let mut v = Values(Vec::new());
    module.visit(&mut v);
    v.0
}

/// Every parameter's gradient, in visiting order (empty where none).
struct Grads<'a>(&'a GradientsParams, Vec<Vec<f32>>);

impl ModuleVisitor for Grads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let g = self.0.get::<D>(param.id).map(to_vec).unwrap_or_default();
        self.1.push(g);
    }
}

fn grads<M: Module>(module: &M, grads: &GradientsParams) -> Vec<Vec<f32>> {
    let mut v = Grads(grads, Vec::new());
    module.visit(&mut v);
    v.1
}

fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// The largest per-tensor difference, relative to `scale(reference tensor)`.
fn worst(reference: &[Vec<f32>], other: &[Vec<f32>], scale: impl Fn(&[f32]) -> f32) -> f32 {
    assert_eq!(reference.len(), other.len(), "parameter counts differ");
    reference
        .iter()
        .zip(other)
        .map(|(a, b)| {
            assert_eq!(a.len(), b.len(), "tensor sizes differ");
            let diff = a
                .iter()
                .zip(b)
                .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
            diff / scale(a).max(f32::MIN_POSITIVE)
        })
        .fold(0.0, f32::max)
}

/// How far `other`'s weights after Adam's first step are from
/// `reference`'s, both from `before`, as a fraction of each element's
/// allowance (so at most 1 passes); and how many elements were
/// ill-conditioned (allowance above `2 * STEP_LR_FRACTION` lr).
///
/// Adam's first step moves a weight by `-lr g / (|g| + eps)` (bias
/// correction makes the moments `g` and `g^2`): a map whose slope,
/// `lr eps / (|g| + eps)^2`, is `lr / eps` at `g = 0`. With the world
/// model's `eps = 1e-8`, a gradient of 1e-8 that the two backends round
/// differently by 3e-9 (a relative difference of 1e-7 of a tensor whose
/// largest gradient is 0.03) steps 0.07 lr apart. So each element may
/// differ by `STEP_LR_FRACTION` lr plus what the step map makes of a
/// gradient disagreement `grad_tol[tensor]` at the element's own gradient,
/// which the reference step tells: `|g| = eps r / (1 - r)` with
/// `r = |step| / lr`. Well-conditioned elements (`|g| >> eps`) keep the
/// plain bound, so an error beyond it there fails (the test checks this);
/// elements whose gradient is within `grad_tol` of zero are left loose.
fn adam_step_err(
    before: &[Vec<f32>],
    reference: &[Vec<f32>],
    other: &[Vec<f32>],
    lr: f32,
    eps: f32,
    grad_tol: &[f32],
) -> (f32, usize) {
    assert_eq!(reference.len(), other.len(), "parameter counts differ");
    assert_eq!(
        reference.len(),
        grad_tol.len(),
        "one gradient tolerance per tensor"
    );
    let step = |g: f32| g / (g.abs() + eps);
    let mut worst = 0.0f32;
    let mut ill_conditioned = 0;
    for (((w0, a), b), &delta) in before.iter().zip(reference).zip(other).zip(grad_tol) {
        assert_eq!(a.len(), b.len(), "tensor sizes differ");
        for ((&w0, &a), &b) in w0.iter().zip(a).zip(b) {
            let moved = a - w0;
            let r = (moved.abs() / lr).min(1.0 - 1e-6);
            let g = -moved.signum() * eps * r / (1.0 - r);
            let amplified = (step(g + delta) - step(g)).max(step(g) - step(g - delta));
            let allowance = lr * (STEP_LR_FRACTION + amplified);
            if amplified > STEP_LR_FRACTION {
                ill_conditioned += 1;
            }
            worst = worst.max((a - b).abs() / allowance);
        }
    }
    (worst, ill_conditioned)
}

/// (tensor, element) of the largest move from `before` to `after`.
fn biggest_step(before: &[Vec<f32>], after: &[Vec<f32>]) -> (usize, usize) {
    let mut best = (0, 0, 0.0f32);
    for (t, (a, b)) in before.iter().zip(after).enumerate() {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            if (y - x).abs() > best.2 {
                best = (t, i, (y - x).abs());
            }
        }
    }
    (best.0, best.1)
}

/// Metrics that should agree: everything but timings.
fn compare_metrics(what: &str, reference: &[(String, f64)], other: &[(String, f64)]) {
    for ((name, a), (name_b, b)) in reference.iter().zip(other) {
        assert_eq!(name, name_b);
        if name.starts_with("perf/") {
            continue;
        }
        let tol = FORWARD_RTOL as f64 * 10.0 * a.abs().max(1e-2);
        assert!(
            (a - b).abs() <= tol,
            "{what}: metric {name} is {a} on flex and {b} (tolerance {tol:.2e})"
        );
    }
}

/// Fill an agent's replay with random CartPole play (same stream for every agent).
fn fill(agent: &mut dyn Agent, steps: usize) {
    let mut env = somnium::envs::make("CartPole-v1").unwrap();
    record_random_play(agent, env.as_mut(), steps, &mut Noise::new(3)).unwrap();
}

/// CartPole observations to act on: a short random trajectory.
fn probe_observations() -> Vec<Observation> {
    let mut env = somnium::envs::make("CartPole-v1").unwrap();
    let mut noise = Noise::new(5);
    let mut obs = vec![env.reset(Some(5)).unwrap()];
    for _ in 0..7 {
        let action = random_action(env.action_space(), noise.rng());
        obs.push(env.step(&action).unwrap().obs);
    }
    obs
}

fn tiny_dreamer() -> DreamerConfig {
    let mut c = DreamerConfig::tiny();
    c.replay.batch = 4;
    c
}

fn dreamer_on(device: &Device, from: Option<&Path>) -> DreamerAgent {
    let env = somnium::envs::make("CartPole-v1").unwrap();
    let mut agent = DreamerAgent::new(
        &tiny_dreamer(),
        env.observation_space(),
        env.action_space(),
        1,
        0,
        device,
    )
    .unwrap();
    match from {
        Some(dir) => agent.load(dir).unwrap(),
        None => fill(&mut agent, 300),
    }
    agent
}

#[test]
fn dreamer_matches_flex() {
    let Some(devices) = devices_under_test() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut reference = dreamer_on(&Device::flex(), None);
    reference.save(dir.path()).unwrap();
    let space = somnium::envs::make("CartPole-v1")
        .unwrap()
        .observation_space()
        .clone();
    let config = tiny_dreamer();

    // Losses and gradients of the world model on one batch.
    let losses_and_grads = |agent: &DreamerAgent, device: &Device| {
        let batch = agent.replay().sample(4, 16, &mut Noise::new(11));
        let data = DeviceBatch::new(batch, ObsKind::of(&space), &device.clone().autodiff());
        let model = agent.world_model();
        let out = model.observe_sequences(&data, config.rssm.free_nats, &mut Noise::new(12));
        let named: Vec<f32> = out
            .losses
            .named()
            .iter()
            .map(|(_, l)| to_vec((*l).clone())[0])
            .collect();
        let total = out.losses.total(&config.loss_scales);
        let g = GradientsParams::from_grads(total.backward(), model);
        (named, grads(model, &g))
    };
    let (ref_losses, ref_grads) = losses_and_grads(&reference, &Device::flex());
    let ref_actions = reference.act(1, &probe_observations(), &[true; 8], true);
    // The gradient disagreement each world-model tensor's step may amplify.
    let step_grad_tol: Vec<f32> = ref_grads
        .iter()
        .map(|g| STEP_GRAD_RTOL * max_abs(g))
        .collect();
    assert!(
        matches!(config.optimizer.kind, OptimizerKind::Adam),
        "adam_step_err models Adam's first step"
    );
    let (lr, eps) = (config.optimizer.model_lr as f32, config.optimizer.model_eps);
    let before = values(reference.world_model());
    let weights: usize = before.iter().map(Vec::len).sum();
    // A world model's step against a reference step, both from `before`.
    let step_err = |reference: &[Vec<f32>], other: &[Vec<f32>]| {
        adam_step_err(&before, reference, other, lr, eps, &step_grad_tol)
    };
    let ref_metrics = reference.train_step().unwrap();
    let ref_model = values(reference.world_model());
    let moved = worst(&before, &ref_model, |_| lr);
    assert!(
        moved > 0.5,
        "the update should move weights by about lr (moved {moved} lr)"
    );
    // The allowance still catches a wrong step: nudge the weight that moved
    // most (a large, well-conditioned gradient) by 0.2 lr.
    let mut nudged = ref_model.clone();
    let (t, i) = biggest_step(&before, &ref_model);
    nudged[t][i] += 0.2 * lr;
    let (caught, _) = step_err(&ref_model, &nudged);
    assert!(caught > 1.0, "a 0.2 lr error passed as {caught}");
    let ref_actor = values(&reference.actor_critic().actor);
    // Data parallelism across devices: the batch split between flex and a
    // replica; the reference's replica is a second flex copy.
    let mut split_reference =
        dreamer_on(&Device::flex(), Some(dir.path())).with_replicas(&[Device::flex()]);
    let split_metrics = split_reference.train_step().unwrap();
    let split_model = values(split_reference.world_model());

    for (spec, device) in devices {
        let mut agent = dreamer_on(&device, Some(dir.path()));
        assert_eq!(
            worst(
                &values(agent.world_model()),
                &values(
                    &dreamer_on(&Device::flex(), Some(dir.path()))
                        .world_model()
                        .clone()
                ),
                |_| 1.0
            ),
            0.0,
            "{spec}: loading the checkpoint changed the weights"
        );
        let (losses, g) = losses_and_grads(&agent, &device);
        for (a, b) in ref_losses.iter().zip(&losses) {
            assert!(
                (a - b).abs() <= FORWARD_RTOL * a.abs().max(1e-3),
                "{spec}: loss {b} vs flex {a}"
            );
        }
        let grad_err = worst(&ref_grads, &g, max_abs);
        assert!(
            grad_err <= GRAD_RTOL,
            "{spec}: gradients differ by {grad_err:.2e} of their scale"
        );
        let actions = agent.act(1, &probe_observations(), &[true; 8], true);
        assert_eq!(
            format!("{actions:?}"),
            format!("{ref_actions:?}"),
            "{spec}: greedy actions"
        );

        let metrics = agent.train_step().unwrap();
        compare_metrics(&spec, &ref_metrics, &metrics);
        let model = values(agent.world_model());
        let (model_err, ill_conditioned) = step_err(&ref_model, &model);
        let actor_err = worst(&ref_actor, &values(&agent.actor_critic().actor), |_| {
            config.optimizer.actor_lr as f32
        });
        let model_lr_err = worst(&ref_model, &model, |_| lr);
        eprintln!(
            "{spec}: DreamerV3 parity: gradient {grad_err:.2e} of scale; after one update world model {model_err:.3} of its allowance ({model_lr_err:.3} lr; {ill_conditioned} of {weights} weights ill-conditioned), actor {actor_err:.3} lr"
        );
        assert!(
            model_err <= 1.0,
            "{spec}: world model after one step differs by {model_err} of its allowance"
        );
        assert!(
            actor_err <= STEP_LR_FRACTION,
            "{spec}: actor after one step differs by {actor_err} lr"
        );

        let mut split = dreamer_on(&Device::flex(), Some(dir.path()))
            .with_replicas(std::slice::from_ref(&device));
        let metrics = split.train_step().unwrap();
        compare_metrics(&format!("flex + {spec} replica"), &split_metrics, &metrics);
        let (split_err, ill_conditioned) = step_err(&split_model, &values(split.world_model()));
        eprintln!(
            "flex + {spec} replica: world model after one update {split_err:.3} of its allowance from flex + flex ({ill_conditioned} of {weights} weights ill-conditioned)"
        );
        assert!(
            split_err <= 1.0,
            "{spec}: data-parallel update differs by {split_err} of its allowance"
        );
    }
}

fn tiny_muzero() -> MuzeroConfig {
    let mut c = MuzeroConfig::tiny();
    c.search.simulations = 8;
    c.training.batch = 8;
    c.training.unroll = 3;
    c.training.td_steps = 5;
    c
}

fn muzero_on(device: &Device, from: Option<&Path>) -> MuzeroAgent {
    let env = somnium::envs::make("CartPole-v1").unwrap();
    let mut agent = MuzeroAgent::new(
        &tiny_muzero(),
        env.observation_space(),
        env.action_space(),
        1,
        0,
        device,
    )
    .unwrap();
    match from {
        Some(dir) => agent.load(dir).unwrap(),
        None => fill(&mut agent, 300),
    }
    agent
}

#[test]
fn muzero_matches_flex() {
    let Some(devices) = devices_under_test() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut reference = muzero_on(&Device::flex(), None);
    reference.save(dir.path()).unwrap();
    let ref_actions = reference.act(1, &probe_observations(), &[true; 8], true);
    let before = values(reference.net());
    let ref_metrics = reference.train_step().unwrap();
    let ref_net = values(reference.net());
    let lr = tiny_muzero().training.lr;
    let moved = worst(&before, &ref_net, |_| lr as f32);
    assert!(
        moved > 0.5,
        "the update should move weights by about lr (moved {moved} lr)"
    );

    for (spec, device) in devices {
        let mut agent = muzero_on(&device, Some(dir.path()));
        let actions = agent.act(1, &probe_observations(), &[true; 8], true);
        assert_eq!(
            format!("{actions:?}"),
            format!("{ref_actions:?}"),
            "{spec}: searched actions"
        );
        let metrics = agent.train_step().unwrap();
        compare_metrics(&spec, &ref_metrics, &metrics);
        let net_err = worst(&ref_net, &values(agent.net()), |_| lr as f32);
        eprintln!("{spec}: MuZero parity: after one update {net_err:.2e} lr");
        assert!(
            net_err <= STEP_LR_FRACTION,
            "{spec}: network after one step differs by {net_err} lr"
        );
    }
}

/// STORM without dropout: its masks are drawn by the backend's own
/// generator, not by the host-side `Noise`, so no two backends share them.
fn tiny_storm() -> StormConfig {
    let mut c = StormConfig::tiny();
    c.model.dropout = 0.0;
    c.replay.batch = 4;
    c
}

fn storm_on(device: &Device, from: Option<&Path>) -> StormAgent {
    let env = somnium::envs::make("CartPole-v1").unwrap();
    let mut agent = StormAgent::new(
        &tiny_storm(),
        env.observation_space(),
        env.action_space(),
        1,
        0,
        device,
    )
    .unwrap();
    match from {
        Some(dir) => agent.load(dir).unwrap(),
        None => fill(&mut agent, 300),
    }
    agent
}

#[test]
fn storm_matches_flex() {
    let Some(devices) = devices_under_test() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut reference = storm_on(&Device::flex(), None);
    reference.save(dir.path()).unwrap();
    // Eight steps of one episode: the transformer's cache grows to seven.
    let probe = probe_observations();
    let act_all = |agent: &mut StormAgent| -> String {
        let actions: Vec<_> = probe
            .iter()
            .enumerate()
            .map(|(t, obs)| agent.act(1, std::slice::from_ref(obs), &[t == 0], true))
            .collect();
        format!("{actions:?}")
    };
    let ref_actions = act_all(&mut reference);
    let before = values(reference.world_model());
    let ref_metrics = reference.train_step().unwrap();
    let ref_model = values(reference.world_model());
    let lr = tiny_storm().model_lr;
    let moved = worst(&before, &ref_model, |_| lr as f32);
    assert!(
        moved > 0.5,
        "the update should move weights by about lr (moved {moved} lr)"
    );

    for (spec, device) in devices {
        let mut agent = storm_on(&device, Some(dir.path()));
        assert_eq!(act_all(&mut agent), ref_actions, "{spec}: greedy actions");
        let metrics = agent.train_step().unwrap();
        compare_metrics(&spec, &ref_metrics, &metrics);
        let model_err = worst(&ref_model, &values(agent.world_model()), |_| lr as f32);
        eprintln!("{spec}: STORM parity: after one update {model_err:.2e} lr");
        assert!(
            model_err <= STEP_LR_FRACTION,
            "{spec}: world model after one step differs by {model_err} lr"
        );
    }
}

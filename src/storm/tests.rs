//! Tests of STORM's model: cached imagination against recomputing the
//! whole history, the loss's free bits on hand values, shapes, and the
//! losses falling on a small batch.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::core::{Dynamics, Encoder, LatentState, Noise, ObsBatch, ObsKind, WorldModel};
use crate::nn::tensor_util::{tensor_from_vec, to_vec};
use crate::replay::SequenceBatch;
use crate::storm::loss;
use crate::storm::{StormModelConfig, StormWorldModel};

const ACTIONS: usize = 3;
const OBS: usize = 4;

fn model(device: &Device) -> StormWorldModel {
    device.seed(11);
    StormWorldModel::new(
        &StormModelConfig::tiny(),
        ObsKind::Vector { width: OBS },
        ACTIONS,
        device,
    )
}

fn one_hots(picks: &[usize]) -> Vec<f32> {
    picks
        .iter()
        .flat_map(|&a| (0..ACTIONS).map(move |i| if i == a { 1.0 } else { 0.0 }))
        .collect()
}

/// Imagining step by step through the cache gives the hidden states of
/// the whole history recomputed at every step.
#[test]
fn cached_imagination_equals_recomputing_the_history() {
    let device = Device::flex();
    let model = model(&device);
    let dynamics = model.dynamics();
    let mut noise = Noise::new(1);
    let obs = tensor_from_vec(
        (0..2 * OBS).map(|i| i as f32 * 0.3).collect(),
        [2, OBS],
        &device,
    );
    let embed = model.encode(&ObsBatch::Vector(obs));
    let first = tensor_from_vec(vec![1.0, 1.0], [2], &device);
    let zero_action = Tensor::zeros([2, ACTIONS], &device);
    let mut state = dynamics
        .observe(
            &dynamics.initial(2, &device),
            zero_action,
            embed,
            first,
            &mut noise,
        )
        .posterior;
    let (mut zs, mut actions) = (vec![], vec![]);
    for step in 0..5 {
        let action = tensor_from_vec(
            one_hots(&[step % ACTIONS, (step + 1) % ACTIONS]),
            [2, ACTIONS],
            &device,
        );
        zs.push(state.z.clone());
        actions.push(action.clone());
        state = dynamics.imagine(&state, action, &mut noise);
        // Recompute: every token so far through the whole transformer.
        let tokens = dynamics.tokens(
            Tensor::stack::<3>(zs.clone(), 1),
            Tensor::stack::<3>(actions.clone(), 1),
        );
        let whole = dynamics.transformer().forward(tokens);
        let [b, t, w] = whole.dims();
        let last = to_vec(whole.slice([0..b, t - 1..t, 0..w]));
        for (x, y) in to_vec(state.hidden.clone()).iter().zip(&last) {
            assert!((x - y).abs() < 1e-5, "step {step}: {x} vs {y}");
        }
    }
    assert_eq!(state.features().dims(), [2, dynamics.feature_width()]);
    // The first observation added an invalid column and no position.
    assert_eq!(state.history().columns(), 6);
    assert_eq!(to_vec(state.history().lengths().float()), [5.0, 5.0]);
}

/// Free bits on the mean: (0.5 + 2.0) / 2 = 1.25 passes, the masked 9.0
/// does not count; (0.5 + 0.7) / 2 = 0.6 is clipped to 1 with no gradient.
#[test]
fn free_bits_apply_to_the_mean_kl_of_the_scored_steps() {
    let device = Device::flex().autodiff();
    let kl = tensor_from_vec(vec![0.5, 2.0, 9.0], [3], &device).require_grad();
    let scored = tensor_from_vec(vec![1.0, 1.0, 0.0], [3], &device);
    let loss = loss::free_bits_kl(kl.clone(), scored.clone(), 2.0, 1.0);
    assert!((to_vec(loss.clone().inner())[0] - 1.25).abs() < 1e-6);
    let grads = loss.backward();
    let grad = to_vec(kl.grad(&grads).expect("a gradient"));
    assert_eq!(grad, [0.5, 0.5, 0.0]);

    let kl = tensor_from_vec(vec![0.5, 0.7, 9.0], [3], &device).require_grad();
    let loss = loss::free_bits_kl(kl.clone(), scored, 2.0, 1.0);
    assert!((to_vec(loss.clone().inner())[0] - 1.0).abs() < 1e-6);
    let grads = loss.backward();
    let grad = kl.grad(&grads).map(to_vec).unwrap_or(vec![0.0; 3]);
    assert_eq!(grad, [0.0, 0.0, 0.0]);
}

/// A batch of two sequences of five steps, the second with an episode
/// starting at step 3.
fn batch() -> SequenceBatch {
    let (b, t) = (2, 5);
    let mut is_first = vec![0.0; t * b];
    is_first[0] = 1.0;
    is_first[1] = 1.0;
    is_first[3 * b + 1] = 1.0;
    let mut is_terminal = vec![0.0; t * b];
    is_terminal[2 * b + 1] = 1.0;
    SequenceBatch {
        batch: b,
        length: t,
        obs: (0..t * b * OBS)
            .map(|i| ((i * 7) % 5) as f32 * 0.25)
            .collect(),
        actions: one_hots(&(0..t * b).map(|i| i % ACTIONS).collect::<Vec<_>>()),
        rewards: (0..t * b).map(|i| (i % 2) as f32).collect(),
        is_first,
        is_terminal,
        positions: vec![(0, 0); t * b],
        start: None,
    }
}

/// The losses are finite and fall when the model trains on one batch; the
/// imagination starts are one per window with a history each.
#[test]
fn losses_fall_on_a_repeated_batch_and_starts_come_per_window() {
    use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
    let device = Device::flex().autodiff();
    let mut model = model(&device);
    let data = crate::dreamer::world_model::DeviceBatch::new(
        batch(),
        ObsKind::Vector { width: OBS },
        &device,
    );
    let mut optim: ModuleOptimizer = AdamConfig::new().init();
    let mut noise = Noise::new(4);
    let scales = StormModelConfig::tiny().loss_scales();
    let mut totals = vec![];
    for _ in 0..60 {
        let out = model.observe_sequences(&data, 1.0, &mut noise);
        let total = out.losses.total(&scales);
        totals.push(to_vec(total.clone().inner())[0]);
        let grads = GradientsParams::from_grads(total.backward(), &model);
        model = optim.step(1e-3, model, grads);
    }
    assert!(totals.iter().all(|x| x.is_finite()), "{totals:?}");
    assert!(
        totals[59] < 0.7 * totals[0],
        "{} -> {}",
        totals[0],
        totals[59]
    );

    let valid = model.valid();
    let inner = crate::dreamer::world_model::DeviceBatch::new(
        batch(),
        ObsKind::Vector { width: OBS },
        &Device::flex(),
    );
    let (starts, continues) = valid.imagination_starts(&inner, 2, &mut noise);
    assert_eq!(starts.batch(), 10); // one per replayed step
    // Time-major, two rows a step: each start has seen at most one token
    // (two steps), none at an episode's first step (row 1, step 3).
    let lengths = to_vec(starts.history().lengths().float());
    assert_eq!(lengths, [0., 0., 1., 1., 1., 1., 1., 0., 1., 1.]);
    assert_eq!(to_vec(continues), [1., 1., 1., 1., 1., 0., 1., 1., 1., 1.]);
    // The start at the last step of row 0 carries one valid token (step 3
    // with the action after it), and its hidden state is the transformer's
    // output on that token alone.
    let flex = Device::flex();
    let last = starts.select(crate::nn::tensor_util::int_tensor_from_vec(
        vec![8],
        [1],
        &flex,
    ));
    let history = last.history();
    assert_eq!(to_vec(history.valid.clone()), [0.0, 1.0]);
    let [_, columns, w] = history.tokens.dims();
    let token = history
        .tokens
        .clone()
        .slice([0..1, columns - 1..columns, 0..w]);
    let alone = to_vec(valid.dynamics().transformer().forward(token));
    for (x, y) in to_vec(last.hidden).iter().zip(&alone) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }
    let reward = valid.reward(starts.features()).mean();
    assert_eq!(reward.dims(), [10]);
}

//! The RSSM: shapes, the sequence pass against step-by-step observation,
//! resets, the learned initial state and the action clip.

use super::*;
use crate::dreamer::config::{CoreKind, InitialState};
use crate::nn::norm::NormKind;
use crate::nn::tensor_util::{tensor_from_vec, to_vec};

fn tiny() -> RssmConfig {
    RssmConfig {
        deter: 8,
        hidden: 8,
        stoch: 2,
        classes: 3,
        ..RssmConfig::default()
    }
}

#[test]
fn observe_and_imagine_keep_shapes_and_one_hot_samples() {
    let device = Device::flex();
    for core in [CoreKind::Gru, CoreKind::BlockGru] {
        let config = RssmConfig {
            core,
            blocks: 2,
            ..tiny()
        };
        let rssm = Rssm::new(&config, NormKind::Layer, 5, 2, &device);
        let mut noise = Noise::new(0);
        let s0 = rssm.initial(3, &device);
        let out = rssm.observe(
            &s0,
            Tensor::zeros([3, 2], &device),
            Tensor::ones([3, 5], &device),
            Tensor::ones([3], &device),
            &mut noise,
        );
        assert_eq!(out.posterior.features().dims(), [3, 8 + 6]);
        let z = to_vec(out.posterior.stoch.clone());
        for latent in z.chunks(3) {
            let ones = latent.iter().filter(|v| (**v - 1.0).abs() < 1e-6).count();
            let zeros = latent.iter().filter(|v| v.abs() < 1e-6).count();
            assert_eq!((ones, zeros), (1, 2), "one class per latent: {latent:?}");
        }
        let next = rssm.imagine(
            &out.posterior,
            tensor_from_vec(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0], [3, 2], &device),
            &mut noise,
        );
        assert_eq!(next.deter.dims(), [3, 8]);
        assert_eq!(next.log_probs.dims(), [3, 2, 3]);
    }
}

#[test]
fn a_sequence_observed_at_once_matches_step_by_step() {
    let device = Device::flex();
    let (b, steps, e, a) = (2, 4, 5, 2);
    let designs = [
        (CoreKind::Gru, InitialState::Zeros),
        (CoreKind::BlockGru, InitialState::Zeros),
        (CoreKind::Gru, InitialState::Learned),
    ];
    for (core, initial) in designs {
        let config = RssmConfig {
            core,
            blocks: 2,
            initial,
            ..tiny()
        };
        let rssm = Rssm::new(&config, NormKind::Layer, e, a, &device);
        let rows = b * steps;
        let embed = tensor_from_vec(
            (0..rows * e).map(|i| (i as f32 * 0.37).sin()).collect(),
            [rows, e],
            &device,
        );
        let actions = tensor_from_vec(
            (0..rows)
                .flat_map(|i| [(i % 2) as f32, 1.0 - (i % 2) as f32])
                .collect(),
            [rows, a],
            &device,
        );
        // Sequence 0 restarts at step 2.
        let mut first = vec![0.0; rows];
        first[2 * b] = 1.0;
        let start = RssmState {
            deter: tensor_from_vec(
                (0..b * 8).map(|i| i as f32 * 0.1).collect(),
                [b, 8],
                &device,
            ),
            ..rssm.initial(b, &device)
        };
        let seed = 7;
        let (post, prior) = rssm.observe_sequence(
            &start,
            actions.clone(),
            embed.clone(),
            tensor_from_vec(first.clone(), [rows], &device),
            &mut Noise::new(seed),
        );
        // Step t's posterior sample uses the sequence's uniforms
        // t * B * S onwards: a step-by-step observe draws its posterior's
        // first, so a noise source advanced that far reproduces it.
        let mut state = start;
        for t in 0..steps {
            let mut noise = Noise::new(seed);
            noise.uniform_tensor::<1>([t * b * config.stoch], &device);
            let out = rssm.observe(
                &state,
                time_step(&actions, t, b),
                time_step(&embed, t, b),
                tensor_from_vec(first[t * b..(t + 1) * b].to_vec(), [b], &device),
                &mut noise,
            );
            let close = |x: Tensor<2>, y: Tensor<2>, what: &str| {
                let (x, y) = (to_vec(x), to_vec(y));
                for (p, q) in x.iter().zip(&y) {
                    assert!(
                        (p - q).abs() < 1e-5,
                        "{core:?} step {t} {what}: {x:?} vs {y:?}"
                    );
                }
            };
            close(
                time_step(&post.deter, t, b),
                out.posterior.deter.clone(),
                "h",
            );
            close(
                time_step(&post.stoch, t, b),
                out.posterior.stoch.clone(),
                "z",
            );
            let flat = |x: Tensor<3>| x.reshape([b, config.stoch * config.classes]);
            close(
                flat(time_step(&post.log_probs, t, b)),
                flat(out.posterior.log_probs.clone()),
                "posterior",
            );
            close(
                flat(time_step(&prior, t, b)),
                flat(out.prior.log_probs.clone()),
                "prior",
            );
            state = out.posterior;
        }
    }
}

#[test]
fn is_first_resets_the_carried_state() {
    let device = Device::flex();
    let rssm = Rssm::new(&tiny(), NormKind::Layer, 5, 2, &device);
    let embed = tensor_from_vec(vec![0.3, -0.2, 0.9, 0.1, 0.0], [1, 5], &device);
    let action = tensor_from_vec(vec![0.0, 1.0], [1, 2], &device);
    let carried = RssmState {
        deter: Tensor::ones([1, 8], &device),
        stoch: tensor_from_vec(vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0], [1, 6], &device),
        log_probs: Tensor::zeros([1, 2, 3], &device),
    };
    let fresh = rssm.initial(1, &device);
    let first = Tensor::ones([1], &device);
    let a = rssm.observe(
        &carried,
        action.clone(),
        embed.clone(),
        first.clone(),
        &mut Noise::new(1),
    );
    let b = rssm.observe(
        &fresh,
        Tensor::zeros([1, 2], &device),
        embed.clone(),
        first,
        &mut Noise::new(1),
    );
    assert_eq!(
        to_vec(a.posterior.deter),
        to_vec(b.posterior.deter.clone()),
        "a first step ignores what came before"
    );
    let c = rssm.observe(
        &carried,
        action,
        embed,
        Tensor::zeros([1], &device),
        &mut Noise::new(1),
    );
    assert_ne!(to_vec(c.posterior.deter), to_vec(b.posterior.deter));
}

#[test]
fn actions_beyond_the_bounds_enter_as_the_clipped_action() {
    // The reference's action_clip: values clipped to [-1, 1], the
    // gradient scaled by the same gradient-free factor (1/2, 1, 1/3).
    let device = Device::flex().autodiff();
    let rssm = Rssm::new(&tiny(), NormKind::Layer, 5, 3, &device);
    let action = tensor_from_vec(vec![2.0, -0.5, -3.0], [1, 3], &device).require_grad();
    let clipped = rssm.clip_action(action.clone());
    assert_eq!(to_vec(clipped.clone()), vec![1.0, -0.5, -1.0]);
    let grads = clipped.sum().backward();
    let grad = to_vec(action.grad(&grads).expect("a gradient"));
    for (g, e) in grad.iter().zip([0.5, 1.0, 1.0 / 3.0]) {
        assert!((g - e).abs() < 1e-6, "{grad:?}");
    }
    // So acting or imagining with a sample beyond the bounds moves the
    // model as the clipped action the replay holds would.
    let state = rssm.initial(1, &device);
    let beyond = tensor_from_vec(vec![2.0, -0.5, -3.0], [1, 3], &device);
    let held = tensor_from_vec(vec![1.0, -0.5, -1.0], [1, 3], &device);
    let a = rssm.imagine(&state, beyond, &mut Noise::new(2));
    let b = rssm.imagine(&state, held, &mut Noise::new(2));
    assert_eq!(to_vec(a.deter), to_vec(b.deter));
    assert_eq!(to_vec(a.stoch), to_vec(b.stoch));
}

#[test]
fn a_learned_initial_state_starts_every_episode_and_learns() {
    let device = Device::flex().autodiff();
    let config = RssmConfig {
        initial: InitialState::Learned,
        ..tiny()
    };
    let rssm = Rssm::new(&config, NormKind::Layer, 5, 2, &device);
    // At first w = 0: h = tanh(0) = 0, and z is the prior's mode there,
    // one class of each of the 2 latents.
    let init = rssm.initial(3, &device);
    assert_eq!(to_vec(init.deter.clone()), vec![0.0; 24]);
    let z = to_vec(init.stoch.clone());
    assert!(
        z.chunks(3).all(|latent| latent.iter().sum::<f32>() == 1.0),
        "{z:?}"
    );
    // A first step resets any carried state to it: the same posterior as
    // from the initial state itself.
    let carried = RssmState {
        deter: Tensor::ones([3, 8], &device),
        stoch: Tensor::ones([3, 6], &device),
        log_probs: Tensor::zeros([3, 2, 3], &device),
    };
    let embed = tensor_from_vec((0..15).map(|i| i as f32 * 0.1).collect(), [3, 5], &device);
    let first = Tensor::ones([3], &device);
    let actions = Tensor::zeros([3, 2], &device);
    let from_carried = rssm.observe(
        &carried,
        actions.clone(),
        embed.clone(),
        first.clone(),
        &mut Noise::new(4),
    );
    let from_initial = rssm.observe(
        &init,
        actions.clone(),
        embed.clone(),
        first.clone(),
        &mut Noise::new(4),
    );
    assert_eq!(
        to_vec(from_carried.posterior.deter.clone()),
        to_vec(from_initial.posterior.deter)
    );
    // The loss reaches the initial state's weights.
    let (posteriors, _) =
        rssm.observe_sequence(&carried, actions, embed, first, &mut Noise::new(4));
    let grads = posteriors.deter.sum().backward();
    let w = rssm.initial_deter.as_ref().expect("learned").val();
    let g = to_vec(w.grad(&grads).expect("a gradient for w"));
    assert!(g.iter().any(|x| x.abs() > 1e-6), "{g:?}");
}
